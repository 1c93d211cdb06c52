"""One cell on one kernel: forwards its events as they come and works out how the cell ended."""

import logging
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from sandbox_runner.kernel_process import KernelGone, KernelProcess
from shared.protocol import EVENT_ADAPTER, ErrorEvent, Event, ExecStatus, VariableInfo

# How long an interrupted cell gets to stop before its kernel is killed: enough for Python to
# unwind, not so long that a swallowed KeyboardInterrupt holds the chat much past its limit.
INTERRUPT_GRACE_S = 2.0
_OUTPUT_TYPES = ("stdout", "stderr", "display", "error")
_KERNEL_STATUSES = ("ok", "error", "interrupted")

log = logging.getLogger("sandbox_runner.supervisor")


class Checkpoint(BaseModel):
    """What the kernel's "done" message says about the checkpoint it took (kernel <-> server)."""

    variables_changed: list[str] = []
    variables_deleted: list[str] = []
    not_persisted: dict[str, str] = {}
    checkpoint_ms: float = 0
    variables: list[VariableInfo] = []
    variables_unlisted: list[str] = []


class CellRun:
    """One cell on one kernel: forwards its events and works out how it ended."""

    def __init__(self, kernel: KernelProcess, timeout_s: float) -> None:
        self.kernel = kernel
        self.timeout_s = timeout_s
        self.status: ExecStatus = "ok"
        self.truncated = {"stdout": False, "stderr": False}
        self.lost_reason: str | None = None
        self.checkpoint: Checkpoint | None = None
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
            try:
                self.checkpoint = Checkpoint.model_validate(message)
            except ValidationError as e:
                raise KernelGone(
                    f"the Python kernel sent an invalid checkpoint report ({e})"
                ) from e
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
