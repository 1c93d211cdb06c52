"""Runs cells on the kernel: one at a time, with the time limit, interrupts and restarts.

The server thread that holds `claim()` drives a cell and turns the kernel's messages into protocol
events; other threads only read state (`health`) or send a signal (`interrupt`).
"""

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from sandbox_runner import workspace
from sandbox_runner.config import Config
from sandbox_runner.kernel_process import KernelGone, KernelProcess
from shared.errors import Conflict
from shared.protocol import (
    EVENT_ADAPTER,
    EndEvent,
    ErrorEvent,
    Event,
    ExecStatus,
    ExecuteRequest,
    Health,
    KernelInfo,
    StreamEvent,
)

# How long an interrupted cell gets to stop before its kernel is killed: enough for Python to
# unwind, not so long that a swallowed KeyboardInterrupt holds the chat much past its limit.
INTERRUPT_GRACE_S = 2.0
_OUTPUT_TYPES = ("stdout", "stderr", "display", "error")
_KERNEL_STATUSES = ("ok", "error", "interrupted")

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._kernel: KernelProcess | None = None
        # Why there is no kernel, when it was dropped outside a cell; said in the next EndEvent.
        self._missing_reason = "the Python kernel was not running"
        self._claim = threading.Lock()
        # Guards replacing the kernel against a concurrent interrupt() signalling a dead one.
        self._kernel_lock = threading.Lock()

    def start(self) -> None:
        os.makedirs(self._config.workspace, exist_ok=True)
        try:
            self._start_kernel()
        except (KernelGone, OSError) as e:
            log.exception("could not start the kernel; the first execute will try again")
            self._missing_reason = f"the Python kernel could not be started ({e})"

    def close(self) -> None:
        with self._kernel_lock:
            if self._kernel is not None:
                self._kernel.close()
                self._kernel = None

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the right to run a cell; Conflict if another one is running."""
        if not self._claim.acquire(blocking=False):
            raise Conflict("a cell is already running in this sandbox; wait for it or interrupt it")
        try:
            yield
        finally:
            self._claim.release()

    def health(self) -> Health:
        kernel = self._kernel
        alive = kernel is not None and kernel.alive()
        return Health(
            kernel_pid=kernel.pid if kernel is not None and alive else None,
            busy=self._claim.locked(),
            execution_count=kernel.execution_count if kernel is not None else 0,
        )

    def interrupt(self) -> bool:
        with self._kernel_lock:
            kernel = self._kernel
            if not self._claim.locked() or kernel is None or not kernel.alive():
                return False
            kernel.interrupt()
            return True

    def execute(self, request: ExecuteRequest) -> Iterator[Event]:
        """Run one cell, yielding its events as they happen and then one EndEvent.

        The caller must hold `claim()` and should drain the iterator even when its client has
        gone, so the cell still ends (or times out) before the next one starts.
        """
        started = time.monotonic()
        timeout_s = request.timeout_s or self._config.exec_timeout_s
        kernel_info = KernelInfo()
        kernel = self._kernel
        if kernel is None or not kernel.alive():
            reason = self._missing_reason if kernel is None else f"{kernel.wait_exit()} while idle"
            try:
                kernel_info, kernel = self._replace_kernel(reason)
            except (KernelGone, OSError) as e:
                reason = self._start_failed(reason, e)
                yield ErrorEvent(ename="KernelStartFailed", evalue=reason)
                yield EndEvent(
                    status="crashed",
                    execution_count=0,
                    duration_ms=_ms_since(started),
                    kernel=KernelInfo(state="lost", reason=reason),
                )
                return

        before = workspace.snapshot(self._config.workspace)
        kernel.execution_count += 1
        cell = _CellRun(kernel, timeout_s)
        yield from cell.run(request.code, started)
        if cell.lost_reason is not None:
            try:
                kernel_info, _ = self._replace_kernel(cell.lost_reason)
            except (KernelGone, OSError) as e:
                kernel_info = KernelInfo(
                    state="lost", reason=self._start_failed(cell.lost_reason, e)
                )
        for stream in cell.truncated_without_marker():
            yield StreamEvent(type=stream, text="\n[output truncated: further output not shown]\n")
        after = workspace.snapshot(self._config.workspace)
        yield EndEvent(
            status=cell.status,
            execution_count=kernel.execution_count,
            duration_ms=_ms_since(started),
            files=workspace.changes(before, after),
            stdout_truncated=cell.truncated["stdout"],
            stderr_truncated=cell.truncated["stderr"],
            kernel=kernel_info,
        )

    def abandon(self, reason: str) -> None:
        """Drop a kernel left in an unknown state by an executor failure; the next cell gets a
        fresh one."""
        log.error("dropping the kernel: %s", reason)
        with self._kernel_lock:
            old, self._kernel = self._kernel, None
        self._missing_reason = reason
        if old is not None:
            old.close()

    def _start_failed(self, reason: str, error: Exception) -> str:
        log.error("could not start a new kernel: %s", error)
        self._missing_reason = f"{reason}, and a new kernel could not be started ({error})"
        return self._missing_reason

    def _start_kernel(self) -> KernelProcess:
        kernel = KernelProcess.spawn(self._config.workspace, self._config.output_limit)
        log.info("kernel started (pid %d)", kernel.pid)
        with self._kernel_lock:
            self._kernel = kernel
        return kernel

    def _replace_kernel(self, reason: str) -> tuple[KernelInfo, KernelProcess]:
        """Kill what is left of the kernel and start a fresh one.

        The one place that decides what happened to the variables: the checkpoint restore will
        turn "lost" into "restored" here.
        """
        log.warning("replacing the kernel: %s", reason)
        with self._kernel_lock:
            old, self._kernel = self._kernel, None
        if old is not None:
            old.close()
        kernel = self._start_kernel()
        info = KernelInfo(
            restarted=True,
            state="lost",
            reason=f"{reason}; the kernel was restarted and its variables were lost",
        )
        return info, kernel


class _CellRun:
    """One cell on one kernel: forwards its events and works out how it ended."""

    def __init__(self, kernel: KernelProcess, timeout_s: float) -> None:
        self.kernel = kernel
        self.timeout_s = timeout_s
        self.status: ExecStatus = "ok"
        self.truncated = {"stdout": False, "stderr": False}
        self.lost_reason: str | None = None
        self._done = False
        self._timed_out = False

    def run(self, code: str, started: float) -> Iterator[Event]:
        count = self.kernel.execution_count
        deadline = started + self.timeout_s
        try:
            self.kernel.send({"code": code, "count": count, "started_at": started})
            while not self._done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._timed_out:
                        yield self._kill_after_timeout()
                        return
                    self._timed_out = True
                    log.info("cell %d passed its %g s limit; interrupting", count, self.timeout_s)
                    self.kernel.interrupt()
                    deadline = time.monotonic() + INTERRUPT_GRACE_S
                    continue
                for message in self.kernel.read(remaining):
                    event = self._handle(message)
                    if event is not None:
                        yield event
        except KernelGone as e:
            log.warning("kernel (pid %d) lost during cell %d: %s", self.kernel.pid, count, e)
            self.status = "crashed"
            self.lost_reason = str(e)
            yield ErrorEvent(ename="KernelDied", evalue=f"{e} while running this cell")

    def _handle(self, message: dict[str, Any]) -> Event | None:
        kind = message.get("type")
        if kind == "done":
            status = message.get("status")
            if status not in _KERNEL_STATUSES:
                raise KernelGone(f"the Python kernel reported an unknown status {status!r}")
            self._done = True
            self.status = "timeout" if self._timed_out else status
            for stream in self.truncated:
                self.truncated[stream] |= bool(message.get(f"{stream}_truncated"))
            return None
        if kind == "truncating":
            self.truncated[message.get("stream", "stdout")] = True
            return None
        if kind not in _OUTPUT_TYPES:
            return None
        try:
            event = EVENT_ADAPTER.validate_python(message)
        except ValidationError as e:
            raise KernelGone(f"the Python kernel sent an invalid {kind} event ({e})") from e
        if self._timed_out and isinstance(event, ErrorEvent) and event.ename == "KeyboardInterrupt":
            return ErrorEvent(
                ename="TimeoutError",
                evalue=f"the cell ran longer than {self.timeout_s:g} s and was interrupted",
                traceback=event.traceback,
            )
        return event

    def _kill_after_timeout(self) -> ErrorEvent:
        log.warning("cell ignored the interrupt; killing kernel (pid %d)", self.kernel.pid)
        self.kernel.close()
        self.status = "timeout"
        self.lost_reason = f"the cell timed out after {self.timeout_s:g} s"
        return ErrorEvent(
            ename="TimeoutError",
            evalue=(
                f"the cell ran longer than {self.timeout_s:g} s and did not stop when interrupted,"
                " so the kernel was restarted and its variables were lost"
            ),
        )

    def truncated_without_marker(self) -> list[str]:
        """Streams that were cut off in a kernel that died before it could say so itself."""
        if self._done:
            return []
        return [stream for stream, cut in self.truncated.items() if cut]


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
