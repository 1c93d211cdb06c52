"""The kernel: the child process that holds a chat's namespace and runs its cells.

Started by the server (kernel_process.py) as `python -P -m sandbox_runner.kernel`, it reads one
JSON command per line from one pipe and writes messages to another (pipe.py). Cells run through
IPython's InteractiveShell (shell.py), so they mean what they mean in Jupyter; what stays ours is
everything around a cell: interrupts, checkpoints, figures saved as files, output caps.
"""

import argparse
import ast
import builtins
import contextlib
import importlib
import io
import itertools
import json
import linecache
import logging
import os
import signal
import site
import sys
import time
import traceback
import types
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

from sandbox_runner import figures, pipe, rich, shell, variables
from sandbox_runner.capture import Sender, StreamCapture
from sandbox_runner.checkpoints import Checkpoints
from sandbox_runner.variables import VariableError
from shared.packages import CHAT_PACKAGES_DIR

_MISSING = object()
# Caps on what one message to the server may hold, so that an honest kernel never comes near the
# pipe's line limit (pipe.MAX_LINE_BYTES) nor spends a cell's output budget on one item.
TEXT_LIMIT = rich.TEXT_LIMIT
TRACEBACK_LIMIT = 100_000
FIGURE_LIMIT = rich.IMAGE_LIMIT  # base64 characters of one PNG; the file is saved whatever its size
# Characters of one figure's chart data as JSON: a chart within shared.chart_limits' caps can still
# be tens of MB of long labels, more than a cell's whole output budget.
CHART_LIMIT = 1024 * 1024
# Half of what the gateway reads from an executor (shared.protocol.MAX_REPLY_BYTES).
PAGE_LIMIT = 8 * 1024 * 1024
CSV_PIECE_CHARS = 1024 * 1024
_EXECUTOR_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MACHINERY_DIRS = (_EXECUTOR_DIR, shell.IPYTHON_DIR)

log = logging.getLogger("sandbox_runner.kernel")


class Interrupts:
    """SIGINT raises KeyboardInterrupt only while a cell runs.

    Outside that window (reading the next command, sending results) an interrupt is remembered
    instead: the server may signal a cell it has just sent before the kernel has read it. A
    remembered signal counts only for a cell the server started before it was sent, so one that
    arrives just after a cell finished cannot hit the next one.
    """

    def __init__(self) -> None:
        self.armed = False
        self.pending_at: float | None = None

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            # The C default handler raises without adding a frame of ours to the traceback.
            signal.default_int_handler(signum, frame)
        self.pending_at = time.monotonic()

    def arm(self, cell_started_at: float) -> None:
        self.armed = True
        pending, self.pending_at = self.pending_at, None
        if pending is not None and pending >= cell_started_at:
            raise KeyboardInterrupt

    def disarm(self) -> None:
        self.armed = False


class Kernel:
    def __init__(
        self,
        command_fd: int,
        message_fd: int,
        workspace: str,
        limit: int,
        state_dir: str | None = None,
    ) -> None:
        self._command_fd = command_fd
        self._message_fd = message_fd
        self._commands = os.fdopen(command_fd, "rb")
        self._workspace = workspace
        self._sender = Sender(message_fd)
        self._stdout = StreamCapture("stdout", self._sender, sys.stdout, limit)
        self._stderr = StreamCapture("stderr", self._sender, sys.stderr, limit)
        self._interrupts = Interrupts()
        self._figures = figures.FigureSaver(workspace, self._send_figure, self._stderr.write)
        # Whether a display or error of the running cell was cut to its cap.
        self._cut = False
        self._forked = False
        self._count = 0
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = builtins
        # pickle (and later the checkpoints) finds user-defined classes through __main__.
        sys.modules["__main__"] = module
        self.namespace = module.__dict__
        self._checkpoints = Checkpoints(state_dir, self.namespace)
        self._shell: shell.SandboxShell | None = None

    def setup(self) -> None:
        for fd in (self._command_fd, self._message_fd):
            os.set_inheritable(fd, False)
        os.register_at_fork(after_in_child=self._after_fork)
        os.chdir(self._workspace)
        sys.argv = [""]
        # Like a notebook: the user's own modules in the workspace are importable.
        sys.path.insert(0, self._workspace)
        # The chat's installed packages (gateway/sandbox/packages.py), after the image's own
        # (the installer never installs a second copy of those), with their .pth files. Here,
        # before serve() restores the saved variables, so pickles of their objects load.
        if os.path.isdir(CHAT_PACKAGES_DIR):
            site.addsitedir(CHAT_PACKAGES_DIR)
        self._shell = shell.make_shell(self.namespace, self._publish)
        self._shell.ast_transformers.append(_CellScan(self))
        self._checkpoints.hidden = shell.hidden_names(self._shell)
        figures.install(self._figures)
        # From the start, not from the first cell on: an interrupt the server sends with the
        # first cell may arrive while this process waits for it, and Python's default handler
        # would raise there, outside any cell, and end the kernel.
        signal.signal(signal.SIGINT, self._interrupts.handler)

    def serve(self, skip: set[str]) -> None:
        # Restored before "ready", so that no cell can run on a half-restored namespace. Each
        # "restoring" message is in the pipe before its name is loaded: if loading it kills the
        # kernel, the server knows which name to skip next time.
        restore = self._checkpoints.restore(
            skip, lambda name: self._sender.send_sync(pipe.restoring(name))
        )
        listed = list(self._checkpoints.infos.values())
        self._sender.send(pipe.ready(os.getpid(), self._checkpoints.enabled, restore, listed))
        while True:
            line = self._commands.readline()
            if not line:
                os._exit(0)  # the server is gone; user threads must not keep us alive
            command = pipe.read_command(line)
            try:
                if command["op"] == "execute":
                    with _environment(command["env"]):
                        self.run_cell(command["code"], command["count"], command["started_at"])
                else:
                    self.answer(command)
            except BaseException:
                log.exception("internal error in %s", command["op"])
                if command["op"] == "execute":
                    self._sender.send(pipe.done("error"))
                else:
                    self._sender.send(pipe.reply_error(500, "internal error"))
            if self._forked:
                os._exit(0)  # a fork of the kernel made in user code must not read commands

    def run_cell(self, code: str, count: int, started_at: float) -> None:
        status: pipe.CellStatus = "ok"
        self._cut = False
        # Reset every cell: user code reassigns these, and quit() closes stdin.
        sys.stdin = io.StringIO("")
        sys.stdout, sys.stderr = self._stdout, self._stderr
        self._stdout.begin()
        self._stderr.begin()
        signal.signal(signal.SIGINT, self._interrupts.handler)
        # Packages installed since the last cell: the import system's cached folder listings
        # would miss them for as long as the folder's mtime looks unchanged.
        importlib.invalidate_caches()
        try:
            try:
                self._interrupts.arm(started_at)
                try:
                    self._run_code(code, count)
                finally:
                    self._figures.save_open_figures()
            finally:
                self._interrupts.disarm()
        except KeyboardInterrupt as e:
            status = "interrupted"
            self._report(e)
        except BaseException as e:
            status = "error"
            self._report(e)
        # A fork made by the cell must never write checkpoints beside its parent.
        saved = self._checkpoint() if status != "interrupted" and not self._forked else {}
        self._sender.send(
            pipe.done(
                status,
                stdout_truncated=self._stdout.end(),
                stderr_truncated=self._stderr.end(),
                output_truncated=self._cut,
                checkpoint=saved,
            )
        )

    def _checkpoint(self) -> pipe.CheckpointReport:
        try:
            return self._checkpoints.commit()
        except Exception as e:  # the state folder failed (gone, read-only): never fail the cell
            log.exception("checkpoint failed")
            return {"not_persisted": {"*": f"the checkpoint failed: {e}"}}

    def answer(self, command: pipe.RequestCommand) -> None:
        """A request from a variable route; one "reply" message (after "chunk"s for a stream)."""
        signal.signal(signal.SIGINT, self._interrupts.handler)
        saved: pipe.CheckpointReport | None = None
        try:
            self._interrupts.arm(command["started_at"])
            if command["op"] == "variable":
                name = command["name"]
                result = variables.value(
                    name, self._lookup(name), command["offset"], command["limit"]
                )
                _check_page_size(name, result)
            elif command["op"] == "csv":
                chunks = variables.csv_chunks(self._lookup(command["name"]))
                first = next(chunks)  # errors before the server has sent its status line
                self._sender.send(pipe.stream_start())
                for text in itertools.chain([first], chunks):
                    # A slice of a very wide frame can be larger than a message may be.
                    for start in range(0, len(text), CSV_PIECE_CHARS):
                        self._sender.send_sync(pipe.chunk(text[start : start + CSV_PIECE_CHARS]))
                result = {}
            elif command["op"] == "load":
                from sandbox_runner import loaders  # needs pandas: only when asked

                result, saved = loaders.load(command, self.namespace, self._checkpoints)
            else:
                from sandbox_runner import csv_loader  # needs pandas: only when asked

                frame = csv_loader.read(command["file"])
                saved = self._checkpoints.bind(command["variable"], frame)
                result = csv_loader.summary(command["variable"], command["path"], frame)
        except VariableError as e:
            self._sender.send(pipe.reply_error(e.status, e.detail))
        except KeyboardInterrupt:
            self._sender.send(pipe.reply_error(503, "the request timed out"))
        except Exception as e:
            detail = f"{type(e).__name__}: {_capped(_safe_str(e), TEXT_LIMIT)}"
            self._sender.send(pipe.reply_error(500, detail))
        else:
            self._sender.send(pipe.reply(result, saved))
        finally:
            self._interrupts.disarm()

    def _lookup(self, name: str) -> Any:
        value = self.namespace.get(name, _MISSING) if not name.startswith("_") else _MISSING
        if (
            value is _MISSING
            or isinstance(value, types.ModuleType)
            or self._checkpoints.hidden(name, value)
        ):
            raise VariableError(404, f"variable '{name}' not found")
        return value

    def _run_code(self, code: str, count: int) -> None:
        """Run the cell in the shell; its error, if any, is raised here for run_cell to report
        (IPython itself prints none: shell.SandboxShell collects them)."""
        assert self._shell is not None
        self._count = count
        self._shell.execution_count = count
        self._shell.reported.clear()
        outcome = self._shell.run_cell(code, store_history=True)
        # IPython also keeps each cell's source under a name of its own (_i1, _i2, ...) for the
        # kernel's whole life, and every later cell's checkpoint pass walks the namespace:
        # after a few thousand cells that walk cost more than the rest of a `1+1` cell (make
        # bench's load part). `In[N]`, `_i`, `_ii` and `_iii` still have the sources.
        self._shell.user_ns.pop(f"_i{count}", None)
        error = outcome.error_before_exec or outcome.error_in_exec
        for other in self._shell.reported:
            if other is not error:
                # A formatter or a hook failed while the cell itself went on.
                self._stderr.write(f"{type(other).__name__}: {_safe_str(other)}\n")
        if error is not None:
            raise error

    def before_cell(self, tree: ast.Module) -> None:
        """Called by the shell with the cell's code as Python (magics and escapes already
        turned into calls), before it runs."""
        filename = f"<cell {self._count}>"
        # The shell's compiler has just put the cell's Python source in linecache.
        source = "".join(linecache.getlines(filename))
        self._checkpoints.before_cell(tree, source, filename)

    def scan_failed(self) -> None:
        self._checkpoints.assume_everything()

    def _publish(
        self, bundle: dict[str, Any], metadata: dict[str, Any], is_result: bool, value: Any
    ) -> None:
        """A format bundle from the shell (a display() call, the cell's result) to the server."""
        data, cut = rich.fit(bundle)
        self._cut |= cut
        if not data:
            return
        metadata = {key: metadata[key] for key in metadata if key in data}
        if is_result:
            self._sender.send(pipe.result(data, metadata, rich.value_text(value, data)))
        else:
            self._sender.send(pipe.display(data, metadata))

    def _send_figure(self, message: pipe.DisplayMessage) -> None:
        """A saved figure's display; one too large to send whole is shown by its file name, and
        chart data too large to send is left out (the PNG still shows the figure)."""
        chart = message.get("chart")
        if chart is not None and len(json.dumps(chart)) > CHART_LIMIT:
            self._cut = True
            del message["chart"]
        data = message["data"]
        data["text/plain"] = self._cap(data["text/plain"], TEXT_LIMIT)
        if len(data.get("image/png", "")) > FIGURE_LIMIT:
            self._cut = True
            del data["image/png"]
            saved_as = message.get("filename")
            data["text/plain"] += f"\n[too large to show here: saved as {saved_as}]"
        self._sender.send(message)

    def _report(self, error: BaseException) -> None:
        error.__traceback__ = _user_frames(error.__traceback__)
        lines = "".join(traceback.format_exception(error)).rstrip("\n").split("\n")
        self._sender.send(
            pipe.error(
                self._cap(type(error).__name__, TEXT_LIMIT),
                self._cap(_safe_str(error), TEXT_LIMIT),
                self._cap_traceback(lines),
            )
        )

    def _cap(self, text: str, limit: int) -> str:
        """`text` cut to `limit` characters, noting that this cell's output was cut."""
        if len(text) > limit:
            self._cut = True
        return _capped(text, limit)

    def _cap_traceback(self, lines: list[str]) -> list[str]:
        """At most about TRACEBACK_LIMIT characters: its head and its tail, where the error is
        (a huge message or a long chain of exceptions would otherwise go whole)."""
        lines = [self._cap(line, TEXT_LIMIT) for line in lines]
        if sum(map(len, lines)) <= TRACEBACK_LIMIT:
            return lines
        self._cut = True
        head = _leading(lines, TRACEBACK_LIMIT // 2)
        tail = _leading(lines[::-1], TRACEBACK_LIMIT // 2)[::-1]
        hidden = len(lines) - len(head) - len(tail)
        return [*head, f"[traceback truncated: {hidden} lines not shown]", *tail]

    def _after_fork(self) -> None:
        self._forked = True
        self._stdout.forked = self._stderr.forked = True
        for fd in (self._command_fd, self._message_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """`env` (the chat's and the run's variables) in os.environ while a cell runs; then each
    name as it was before, so a run's values do not outlive it."""
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _CellScan(ast.NodeTransformer):
    """Hands each cell's syntax tree to the checkpoints before it runs, unchanged. The shell
    drops a transformer that raises, so this one never does: a failed scan marks every variable
    as a candidate instead."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Module):
            try:
                self._kernel.before_cell(node)
            except Exception:
                log.exception("scanning the cell failed")
                self._kernel.scan_failed()
        return node


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame of the cell on; without one (a syntax error, an
    error in a magic's own code), without the executor's and the shell's frames at its head."""
    first = tb
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<cell "):
            return tb
        tb = tb.tb_next
    tb = first
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_MACHINERY_DIRS):
        tb = tb.tb_next
    return tb


def _leading(lines: list[str], limit: int) -> list[str]:
    """The first lines whose lengths add up to at most `limit`."""
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line)
        if size > limit:
            break
        kept.append(line)
    return kept


def _check_page_size(name: str, result: dict[str, Any]) -> None:
    """Refuse a page larger than the gateway reads (thousands of columns, long texts)."""
    size = len(json.dumps(result))  # ASCII-escaped, as the server passes it on
    if size > PAGE_LIMIT:
        raise VariableError(
            422,
            f"this page of '{name}' is {size} bytes of JSON, over the {PAGE_LIMIT} a page may "
            "take: ask for fewer rows (limit)",
        )


def _capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[truncated: {len(text) - limit} more characters]"


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<unprintable {type(error).__name__} object>"


def main() -> None:
    parser = argparse.ArgumentParser(prog="sandbox_runner.kernel")
    parser.add_argument("--command-fd", type=int, required=True)
    parser.add_argument("--message-fd", type=int, required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--output-limit", type=int, required=True)
    parser.add_argument("--state-dir")
    parser.add_argument("--skip", action="append", default=[], help="a name not to restore")
    parser.add_argument("--warm-imports", action="store_true", help="a pooled sandbox's first")
    args = parser.parse_args()
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    kernel = Kernel(
        args.command_fd, args.message_fd, args.workspace, args.output_limit, args.state_dir
    )
    kernel.setup()
    if args.warm_imports:
        from sandbox_runner.warm import warm_imports

        try:
            warm_imports()
        except Exception:
            # Only time is lost: the chat's first cell imports what it needs itself.
            log.exception("warming up the data stack failed")
    kernel.serve(set(args.skip))


if __name__ == "__main__":
    main()
