"""One cell on one kernel: forwards its events as they come and works out how the cell ended."""

import json
import logging
import time
from collections.abc import Iterator
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from sandbox_runner import pipe
from sandbox_runner.kernel_process import KernelGone, KernelProcess, MessageTooLong
from sandbox_runner.pipe import StreamName
from shared.charts import CHART_ADAPTER, Chart
from shared.protocol import (
    CELL_OUTPUT_BUDGET_BYTES,
    DisplayEvent,
    EndEvent,
    ErrorEvent,
    Event,
    ExecStatus,
    StreamEvent,
)

# How long an interrupted cell gets to stop before its kernel is killed: enough for Python to
# unwind, not so long that a swallowed KeyboardInterrupt holds the chat much past its limit.
INTERRUPT_GRACE_S = 2.0
# Room above the kernel's own stdout/stderr limit for the marker it adds when it cuts a stream.
STREAM_MARKER_ROOM = 1024
CUT_MARKER = "\n[output truncated: further output not shown]\n"
# Kept out of a cell's output budget for its EndEvent and the marker saying output was cut: every
# field of the EndEvent but its lists is small, and the lists are cut to what is left.
END_RESERVE_BYTES = 64 * 1024

T = TypeVar("T")

log = logging.getLogger("sandbox_runner.supervisor")


class CellRun:
    """One cell on one kernel: forwards its events and works out how it ended."""

    def __init__(self, kernel: KernelProcess, timeout_s: float, output_limit: int) -> None:
        self.kernel = kernel
        self.timeout_s = timeout_s
        self.status: ExecStatus = "ok"
        self.truncated: dict[StreamName, bool] = {"stdout": False, "stderr": False}
        self._stream_limit = output_limit + STREAM_MARKER_ROOM
        self._streamed: dict[StreamName, int] = {"stdout": 0, "stderr": 0}
        self._marked: set[StreamName] = set()  # streams whose cut the marker here already shows
        # Whether output of this cell was cut before the budget: a display or error the kernel
        # capped, or a message too long to read.
        self.output_truncated = False
        self.lost_reason: str | None = None
        self.checkpoint: pipe.CheckpointReport | None = None
        self._done = False
        self._timed_out = False

    def run(self, code: str, env: dict[str, str], started: float) -> Iterator[Event]:
        """The cell's events, with `env` set in the kernel's environment while it runs."""
        count = self.kernel.execution_count
        deadline = started + self.timeout_s
        try:
            self.kernel.send(pipe.execute(code, count, started, env))
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
            self.output_truncated |= isinstance(e, MessageTooLong)
            yield ErrorEvent(ename="KernelDied", evalue=f"{e} while running this cell")

    def _handle(self, message: pipe.KernelMessage) -> Event | None:
        """The protocol event for one of the kernel's messages, if it stands for one."""
        if message["type"] == "done":
            self._done = True
            self.checkpoint = message["checkpoint"]
            self.status = "timeout" if self._timed_out else message["status"]
            self.truncated["stdout"] |= message["stdout_truncated"]
            self.truncated["stderr"] |= message["stderr_truncated"]
            self.output_truncated |= message["output_truncated"]
        elif message["type"] == "truncating":
            self.truncated[message["stream"]] = True
        elif message["type"] == "stdout" or message["type"] == "stderr":
            text = StreamEvent(type=message["type"], text=message["text"])
            return self._within_stream_limit(text)
        elif message["type"] == "display":
            return DisplayEvent(
                data=message["data"],
                metadata=message.get("metadata", {}),
                is_result=message.get("is_result", False),
                text=message.get("text"),
                filename=message.get("filename"),
                chart=_valid_chart(message.get("chart")),
            )
        elif message["type"] == "error":
            if self._timed_out and message["ename"] == "KeyboardInterrupt":
                return ErrorEvent(
                    ename="TimeoutError",
                    evalue=f"the cell ran longer than {self.timeout_s:g} s and was interrupted",
                    traceback=message["traceback"],
                )
            return ErrorEvent(
                ename=message["ename"], evalue=message["evalue"], traceback=message["traceback"]
            )
        return None

    def _within_stream_limit(self, event: StreamEvent) -> StreamEvent | None:
        """The event's text as far as its stream's limit allows. The kernel keeps its streams
        within it; more comes only from user code writing to the kernel's pipe, and is cut."""
        room = self._stream_limit - self._streamed[event.type]
        if room <= 0:
            return None
        self._streamed[event.type] += len(event.text)
        if len(event.text) <= room:
            return event
        self.truncated[event.type] = True
        self._marked.add(event.type)
        return StreamEvent(type=event.type, text=event.text[:room] + CUT_MARKER)

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

    def truncated_without_marker(self) -> list[StreamName]:
        """Streams that were cut off in a kernel that died before it could say so itself."""
        if self._done:
            return []
        return [s for s, cut in self.truncated.items() if cut and s not in self._marked]


class OutputBudget:
    """What one cell may send back in all (CELL_OUTPUT_BUDGET_BYTES), counted in the bytes of its
    events as the server writes them, one JSON line each.

    Output that does not fit is dropped after one marker saying so; the cell still runs to its
    end. The EndEvent's lists (files, variables), which user code can make any length, are then
    cut to the room left. Either way the EndEvent says `output_truncated`.
    """

    def __init__(self, limit: int = CELL_OUTPUT_BUDGET_BYTES) -> None:
        self._limit = limit
        self._used = 0
        self._exceeded = False

    def admit(self, event: Event) -> Event | None:
        """The event to send: itself, or the marker for the first that does not fit, or None."""
        if self._exceeded:
            return None
        size = _line_size(event)
        if self._used + size <= self._limit - END_RESERVE_BYTES:
            self._used += size
            return event
        self._exceeded = True
        marker = StreamEvent(
            type="stderr",
            text=f"\n[output truncated: this cell's output passed {self._limit} bytes; "
            "the rest is not shown]\n",
        )
        self._used += _line_size(marker)
        return marker

    def fit(self, end: EndEvent) -> EndEvent:
        """The EndEvent, its lists cut to the room left, marked if anything was cut."""
        room = self._limit - self._used
        end = end.model_copy(update={"output_truncated": end.output_truncated or self._exceeded})
        if _line_size(end) <= room:
            return end
        kernel = end.kernel
        bare = end.model_copy(
            update={
                "files": [],
                "variables_changed": [],
                "variables_deleted": [],
                "not_persisted": {},
                "kernel": kernel.model_copy(update={"restored": [], "restore_errors": {}}),
                "output_truncated": True,
            }
        )
        room -= _line_size(bare)
        files, room = _prefix(end.files, room)
        changed, room = _prefix(end.variables_changed, room)
        deleted, room = _prefix(end.variables_deleted, room)
        not_persisted, room = _prefix(list(end.not_persisted.items()), room)
        restored, room = _prefix(kernel.restored, room)
        restore_errors, room = _prefix(list(kernel.restore_errors.items()), room)
        return bare.model_copy(
            update={
                "files": files,
                "variables_changed": changed,
                "variables_deleted": deleted,
                "not_persisted": dict(not_persisted),
                "kernel": bare.kernel.model_copy(
                    update={"restored": restored, "restore_errors": dict(restore_errors)}
                ),
            }
        )


def _line_size(event: BaseModel) -> int:
    return len(event.model_dump_json().encode()) + 1


def _prefix(items: list[T], room: int) -> tuple[list[T], int]:
    """The leading items that fit in `room` bytes of JSON, and the room left after them."""
    kept: list[T] = []
    for item in items:
        size = _json_size(item)
        if size > room:
            break
        kept.append(item)
        room -= size
    return kept, room


def _json_size(item: object) -> int:
    """At least the bytes `item` takes in an event's JSON, with its separator. json.dumps escapes
    every non-ASCII character, so it is never shorter than pydantic's UTF-8."""
    if isinstance(item, BaseModel):
        return _line_size(item)
    return len(json.dumps(item)) + 1


def _valid_chart(chart: dict[str, object] | None) -> Chart | None:
    """The figure's chart data if it is what shared.charts describes; else none (the PNG still
    shows the figure): a kernel whose matplotlib user code has patched may send anything."""
    if chart is None:
        return None
    try:
        return CHART_ADAPTER.validate_python(chart)
    except ValidationError:
        log.warning("dropped chart data that does not validate")
        return None
