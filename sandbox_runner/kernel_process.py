"""Server side handle of one kernel child process: spawn, pipes, signals, death.

The kernel is a plain subprocess rather than a multiprocessing child: user code gets a clean
`__main__` (spawn would re-import ours as `__mp_main__`), nothing is unpickled from a process that
runs arbitrary code, the kernel's environment and arguments are explicit, and a death is an exit
code or signal read straight from the process.
"""

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

import sandbox_runner
from sandbox_runner import oom, pipe
from sandbox_runner.strays import kill_strays

READY_TIMEOUT_S = 30.0
# Without a pidfd a dead kernel is noticed by polling, but only if its pipe stays open (a
# grandchild kept it): a rare case, so a coarse tick is fine.
_EXIT_POLL_S = 0.25
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sandbox_runner.__file__)))


class KernelGone(Exception):
    """The kernel exited, closed its pipe or sent something unreadable."""


class MessageTooLong(KernelGone):
    """The kernel sent a line longer than any it writes itself: user code wrote to its pipe."""


class RestoreFailed(KernelGone):
    """The kernel died or hung while restoring one saved name."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{reason} while restoring '{name}'")
        self.name = name
        self.reason = reason


class KernelProcess:
    def __init__(self, process: subprocess.Popen[bytes], command_fd: int, message_fd: int) -> None:
        self.process = process
        self.execution_count = 0
        # From the "ready" message: whether it checkpoints, what it restored, its variables.
        self.checkpoints = False
        self.restored: list[str] = []
        self.restore_errors: dict[str, str] = {}
        self.variables: list[pipe.VariableInfo] = []
        self.kill_reason: str | None = None
        # The memory cgroup's OOM-kill count before the latest command (None: none to read),
        # and the kernel's peak memory once it is reaped: what says whether a SIGKILL was an OOM.
        self._oom_kills = oom.oom_kill_count()
        self._peak_bytes: int | None = None
        self._closed = False
        self._command_fd = command_fd
        self._reader = pipe.LineReader(message_fd)
        self._poll = select.poll()
        self._poll.register(message_fd, select.POLLIN)
        try:
            self._pidfd: int | None = os.pidfd_open(process.pid)
            self._poll.register(self._pidfd, select.POLLIN)
        except (AttributeError, OSError):  # kernels before 5.3, or a seccomp profile without it
            self._pidfd = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def spawn(
        cls,
        workspace: str,
        output_limit: int,
        state_dir: str | None = None,
        skip: tuple[str, ...] = (),
        warm_imports: bool = False,
    ) -> "KernelProcess":
        command_read, command_write = os.pipe()
        message_read, message_write = os.pipe()
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-P",  # a workspace file named like a stdlib module must not replace it
                    "-X",
                    "faulthandler",
                    "-m",
                    "sandbox_runner.kernel",
                    f"--command-fd={command_read}",
                    f"--message-fd={message_write}",
                    f"--workspace={workspace}",
                    f"--output-limit={output_limit}",
                    *([f"--state-dir={state_dir}"] if state_dir else []),
                    *(f"--skip={name}" for name in skip),
                    *(["--warm-imports"] if warm_imports else []),
                ],
                pass_fds=(command_read, message_write),
                cwd=workspace,
                env=kernel_environment(),
                stdin=subprocess.DEVNULL,
                # Its own process group, so a timeout kill also takes whatever it started.
                start_new_session=True,
            )
        except BaseException:
            os.close(command_write)
            os.close(message_read)
            raise
        finally:
            # The child holds its own copies; ours would hide its death from the reader.
            os.close(command_read)
            os.close(message_write)
        os.set_blocking(message_read, False)
        kernel = cls(process, command_write, message_read)
        try:
            kernel._await_ready()
        except BaseException:
            kernel.close()
            raise
        return kernel

    def _await_ready(self) -> None:
        """Wait for "ready"; each saved name being restored gets READY_TIMEOUT_S of its own."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        restoring: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if restoring is not None:
                    raise RestoreFailed(restoring, f"it took over {READY_TIMEOUT_S:g} s")
                raise KernelGone(f"the Python kernel did not start within {READY_TIMEOUT_S:g} s")
            try:
                messages = self.read(remaining)
            except KernelGone as e:
                if restoring is not None:
                    raise RestoreFailed(restoring, str(e)) from e
                raise
            for message in messages:
                if message["type"] == "restoring":
                    restoring = message["name"]
                    deadline = time.monotonic() + READY_TIMEOUT_S
                elif message["type"] == "ready":
                    self.checkpoints = message["checkpoints"]
                    self.restored = message["restored"]
                    self.restore_errors = message["restore_errors"]
                    self.variables = message["variables"]
                    return

    def alive(self) -> bool:
        """Whether it still runs. Looked at without reaping it (WNOWAIT), so that its death's
        resource usage is still there for wait_exit."""
        if self.process.returncode is not None:
            return False
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self.process.pid, flags) is None
        except ChildProcessError:  # reaped this moment by wait_exit on another thread
            return False

    def send(self, command: pipe.Command) -> None:
        if self._oom_kills is not None:
            # From now on: an OOM kill of some other process (a child of an earlier cell) is
            # not this command's.
            self._oom_kills = oom.oom_kill_count()
        try:
            pipe.write_all(self._command_fd, pipe.encode(command))
        except OSError as e:
            raise KernelGone(f"the Python kernel stopped reading commands ({e})") from e

    def read(self, timeout: float) -> list[pipe.KernelMessage]:
        """Messages arriving within `timeout` seconds (maybe none), each checked against its
        definition, those of unknown types dropped; KernelGone once it is gone."""
        wait = timeout if self._pidfd is not None else min(timeout, _EXIT_POLL_S)
        ready = {fd for fd, _ in self._poll.poll(max(0.0, wait) * 1000)}
        if self._reader.fd in ready:
            try:
                lines = self._reader.read_available()
                if lines is None:
                    raise KernelGone(self.wait_exit())
                return [m for line in lines if (m := pipe.read_message(line)) is not None]
            except pipe.LineTooLong as e:
                raise MessageTooLong(f"the Python kernel sent {e}, too long to read") from e
            except ValueError as e:
                raise KernelGone(f"the Python kernel sent an unreadable message ({e})") from e
        if ready or (self._pidfd is None and not self.alive()):
            raise KernelGone(self.wait_exit())
        return []

    def wait_exit(self) -> str:
        """Wait briefly for the process to end and describe how it did."""
        self._reap(timeout=1.0)
        if self.process.returncode is None:
            return "the Python kernel closed its pipe but did not exit"
        if self.kill_reason is not None:
            return self.kill_reason
        if self.process.returncode == -signal.SIGKILL:
            return oom.describe_sigkill(self._oom_killed(), self._peak_bytes)
        return describe_exit(self.process.returncode)

    def _reap(self, timeout: float) -> None:
        """Wait up to `timeout` s for the process to end, keeping its peak memory: wait4, as
        Popen's own wait drops the resource usage, then Popen is told the status."""
        deadline = time.monotonic() + timeout
        while self.process.returncode is None:
            try:
                pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            except ChildProcessError:
                self.process.wait()
                return
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                self._peak_bytes = usage.ru_maxrss * 1024  # Linux counts it in KiB
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)

    def _oom_killed(self) -> bool | None:
        """Whether the memory cgroup OOM-killed something since the latest command; None when
        it shows no count."""
        if self._oom_kills is None:
            return None
        count = oom.oom_kill_count()
        return None if count is None else count > self._oom_kills

    def interrupt(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGINT)

    def kill(self, reason: str) -> None:
        """Kill it from another thread; the thread reading its pipe then gets `reason`. The pipes
        stay open until close(): closing them under a reading thread could hand it a reused fd."""
        self.kill_reason = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill the kernel and every process it started (in the sandbox: every process but the
        executor's); release the pipes. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        # What the kernel started outside its process group goes with it.
        kill_strays()
        self.process.wait()
        for fd in (self._command_fd, self._reader.fd, self._pidfd):
            if fd is not None:
                os.close(fd)


def describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"the Python kernel exited with code {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    description = signal.strsignal(number) or "unknown signal"
    return f"the Python kernel was killed by {name} ({description.lower()})"


def kernel_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    # -P drops the current directory from sys.path, so the kernel finds this package explicitly.
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if _PACKAGE_ROOT not in paths:
        env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *paths])
    if env.get("MPLBACKEND", "").lower() in ("", "agg"):
        env["MPLBACKEND"] = "module://sandbox_runner.mpl_backend"
    return env
