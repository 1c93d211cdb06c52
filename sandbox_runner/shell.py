"""Kernel side: IPython's InteractiveShell, set up for a sandbox.

The kernel runs every cell through `InteractiveShell.run_cell`, so cells mean what they mean in
Jupyter: magics (`%time`, `%timeit`, `%who`, `%%writefile`), `!cmd` shell escapes, dedented
snippets, top-level `await`, `display()` with all its arguments and IPython's formatters. What is
ours is where the results go: the display publisher and the display hook hand each format bundle
to the kernel (which caps it and sends it to the server), and tracebacks are not printed but
reported by the kernel as the cell's error event.

Also changed for a sandbox: no history database, no output cache beyond `_`, `__` and `___` (Out
would keep every displayed frame alive), `%matplotlib` keeps the kernel's own backend (figures are
saved as files), `%pip` answers from the offline package store, and shell escapes run with their
output piped into the cell's streams rather than through a terminal.
"""

import codecs
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import IPython
from IPython.core.compilerop import CachingCompiler
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from sandbox_runner import pip_magic, rich

# IPython's own code, which tracebacks of user errors leave out.
IPYTHON_DIR = os.path.dirname(os.path.abspath(IPython.__file__)) + os.sep
# Where IPython keeps its profile folder: the kernel's HOME is the sandbox's tmpfs.
_IPYTHON_DIR = os.path.join(os.environ.get("HOME") or "/tmp", ".ipython")
# A shell escape asked to stop (an interrupt) gets this long to end before it is killed.
_ESCAPE_STOP_S = 2.0

Publish = Callable[[dict[str, Any], dict[str, Any], bool, Any], None]


class _CellCompiler(CachingCompiler):  # type: ignore[misc]
    """Cells are named `<cell N>` in tracebacks, as the kernel has always named them."""

    def get_code_name(self, raw_code: str, transformed_code: str, number: int) -> str:
        return f"<cell {number}>"


class _Publisher(DisplayPublisher):  # type: ignore[misc]
    """`display()`, `fig.show()`, IPython.display objects: each bundle goes to the kernel."""

    publish_to: Publish | None = None

    def publish(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        source: Any = None,
        *,
        transient: Any = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        if self.publish_to is not None:
            self.publish_to(data, metadata or {}, False, None)

    def clear_output(self, wait: bool = False) -> None:
        """Output already sent stays sent; a later display simply follows it."""


class _ResultHook(DisplayHook):  # type: ignore[misc]
    """The cell's own result (its last expression), sent as such instead of printed as Out[N]."""

    publish_to: Publish | None = None
    _value: Any = None

    def write_output_prompt(self) -> None:
        pass

    def fill_exec_result(self, result: Any) -> None:
        super().fill_exec_result(result)
        self._value = result

    def write_format_data(self, format_dict: dict[str, Any], md_dict: Any = None) -> None:
        value, self._value = self._value, None
        if self.publish_to is not None:
            self.publish_to(format_dict, md_dict or {}, True, value)

    def finish_displayhook(self) -> None:
        pass


class SandboxShell(InteractiveShell):  # type: ignore[misc]
    """Tracebacks are collected for the kernel to report, never printed by IPython."""

    reported: list[BaseException]

    def showtraceback(
        self,
        exc_tuple: tuple[type[BaseException], BaseException, TracebackType] | None = None,
        filename: str | None = None,
        tb_offset: int | None = None,
        exception_only: bool = False,
        running_compiled_code: bool = False,
    ) -> None:
        error = exc_tuple[1] if exc_tuple is not None else sys.exc_info()[1]
        if error is not None:
            self.reported.append(error)

    def showsyntaxerror(
        self, filename: str | None = None, running_compiled_code: bool = False
    ) -> None:
        self.showtraceback()

    def showindentationerror(self) -> None:
        self.showtraceback()

    def ask_exit(self) -> None:
        """`exit()` and `quit()`: as in plain Python, SystemExit, which ends only the cell (the
        kernel and its variables stay; POST /chat/{id}/reset starts afresh)."""
        raise SystemExit

    def enable_matplotlib(self, gui: str | None = None) -> tuple[str | None, str]:
        """`%matplotlib inline` (or any backend): the kernel's own backend stays, which already
        shows each figure once, as a PNG saved in the workspace and its chart data."""
        return gui, "inline"

    def enable_gui(self, gui: str | None = None) -> None:
        """No event loops of GUI toolkits in a sandbox: nothing to integrate with."""

    def system_piped(self, cmd: str) -> None:
        """`!cmd`: run by /bin/sh with its output in the cell's streams, its exit status in
        `_exit_code`. An interrupt (or the cell's timeout) stops it."""
        command = self.var_expand(cmd, depth=1)
        self.user_ns["_exit_code"] = run_escape(command)

    system = system_piped

    def system_raw(self, cmd: str) -> None:
        self.system_piped(cmd)


def make_shell(namespace: dict[str, Any], publish: Publish) -> SandboxShell:
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.cache_size = 0
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    os.environ.setdefault("IPYTHONDIR", _IPYTHON_DIR)
    # plotly's figures show as their JSON (application/vnd.plotly.v1+json), which the page draws;
    # outside Jupyter plotly would otherwise try to open a web browser.
    os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype")
    shell: SandboxShell = SandboxShell.instance(
        config=config,
        user_module=sys.modules["__main__"],
        user_ns=namespace,
        compiler_class=_CellCompiler,
        display_pub_class=_Publisher,
        displayhook_class=_ResultHook,
    )
    shell.reported = []
    shell.display_pub.publish_to = publish
    shell.displayhook.publish_to = publish
    rich.install_formatters(shell.display_formatter)
    pip_magic.register(shell)
    return shell


def hidden_names(shell: InteractiveShell) -> Callable[[str, Any], bool]:
    """Whether a namespace entry is IPython's own (In, exit, get_ipython, ...), not the user's:
    only while it is still the object IPython put there."""
    hidden: dict[str, Any] = shell.user_ns_hidden

    def is_hidden(name: str, value: Any) -> bool:
        return name in hidden and hidden[name] is value

    return is_hidden


def run_escape(command: str) -> int:
    """Run a shell escape, copying its output into sys.stdout and sys.stderr as it comes."""
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    copies = [
        threading.Thread(target=_copy, args=(process.stdout, sys.stdout), daemon=True),
        threading.Thread(target=_copy, args=(process.stderr, sys.stderr), daemon=True),
    ]
    for copy in copies:
        copy.start()
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(_ESCAPE_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    finally:
        for copy in copies:
            copy.join(_ESCAPE_STOP_S)
    return returncode


def _copy(source: Any, target: Any) -> None:
    # Incremental: a chunk may end inside a multi-byte character.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with source:
        for chunk in iter(lambda: source.read1(65536), b""):
            target.write(decoder.decode(chunk))
        target.write(decoder.decode(b"", final=True))
