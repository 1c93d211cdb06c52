"""Running code in a chat: lock, journal, sandbox, and the reply built from executor events."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from gateway.chats.store import Chat, ChatStore, journal_entry
from gateway.sandbox.executor import ExecutorUnavailable, OutputLimitExceeded
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from shared.errors import AppError, SandboxError
from shared.protocol import (
    DisplayEvent,
    EndEvent,
    ErrorEvent,
    ExecStatus,
    ExecuteRequest,
    FileChange,
    KernelInfo,
    StreamEvent,
)

log = logging.getLogger(__name__)

# Time beyond the executor's own timeout before the gateway stops waiting for its reply: the
# executor interrupts, then kills, the kernel itself; this only guards against a hung executor.
_READ_GRACE_S = 15.0


CLIENT_GONE = "the client went away; the running code was interrupted"

OnEvent = Callable[[StreamEvent | DisplayEvent | ErrorEvent], Awaitable[None]]


class CodeResult(BaseModel):
    """The reply to a `{"code": ...}` query."""

    chat_id: str
    message_id: str
    status: ExecStatus
    execution_count: int = 0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # Some output was cut: the cell passed its output budget (CELL_OUTPUT_BUDGET_BYTES), or one
    # display or error was too large to send whole.
    output_truncated: bool = False
    # The last expression's value as text, when it had one.
    result: str | None = None
    outputs: list[DisplayEvent] = []
    error: ErrorEvent | None = None
    files: list[FileChange] = []
    variables_changed: list[str] = []
    variables_deleted: list[str] = []
    # Variables that cannot be checkpointed (name -> why): they live until the kernel restarts.
    not_persisted: dict[str, str] = {}
    kernel: KernelInfo = KernelInfo()
    duration_ms: float = 0.0
    # Time the sandbox spent checkpointing this cell's changed variables (part of duration).
    checkpoint_ms: float = 0.0


class QueryService:
    def __init__(self, chats: ChatStore, sandboxes: SandboxManager, settings: Settings) -> None:
        self._chats = chats
        self._sandboxes = sandboxes
        self._settings = settings

    async def run_code(self, chat: Chat, code: str, on_event: OnEvent | None = None) -> CodeResult:
        """Run code the user sent directly, journaled as one message. Cancelled (the streaming
        client went away), the cell is interrupted and the message marked so."""
        timeout_s = self._settings.sandbox_exec_timeout_s
        async with self._chats.query_lock(chat.chat_id, ttl_s=timeout_s + 120):
            message = journal_entry("code", code=code)
            # Journal first: if this gateway dies mid-query the history still shows the query.
            index = await self._chats.start_query(chat.chat_id, message)
            await self._chats.name_if_untitled(chat, code)
            try:
                result = await self.execute(chat, code, message["id"], on_event)
            except (AppError, asyncio.CancelledError) as e:
                if isinstance(e, AppError):
                    message.update(status="failed", error=e.detail)
                else:
                    message.update(status="interrupted", error=CLIENT_GONE)
                await asyncio.shield(self._chats.finish_query(chat.chat_id, index, message))
                raise
            message["status"] = "done"
            message["result"] = journal_form(result)
            await self._chats.finish_query(chat.chat_id, index, message)
            return result

    async def execute(
        self, chat: Chat, code: str, message_id: str, on_event: OnEvent | None = None
    ) -> CodeResult:
        """Run one cell in the chat's sandbox (the caller holds the chat's query lock).
        `on_event` sees each output as it happens. Cancelled (a client that went away), the
        cell is interrupted rather than left running."""
        timeout_s = self._settings.sandbox_exec_timeout_s
        started = time.perf_counter()
        result = CodeResult(chat_id=chat.chat_id, message_id=message_id, status="ok")
        request = ExecuteRequest(code=code, timeout_s=timeout_s)
        for attempt in (1, 2):
            client = await self._sandboxes.ensure_running(chat)
            outputs = ResultBuilder(result)
            try:
                async for event in client.execute(
                    request, read_timeout_s=timeout_s + _READ_GRACE_S
                ):
                    outputs.add(event)
                    if on_event is not None and not isinstance(event, EndEvent):
                        await on_event(event)
                return outputs.result()
            except asyncio.CancelledError:
                with contextlib.suppress(ExecutorUnavailable):
                    await asyncio.shield(client.interrupt())
                raise
            except OutputLimitExceeded as e:
                # The executor did not cut the stream itself: stop the cell instead of reading on.
                log.warning("sandbox of %s passed the output budget: %s", chat.chat_id, e)
                with contextlib.suppress(ExecutorUnavailable):
                    await asyncio.shield(client.interrupt())
                result = outputs.result()
                result.status = "interrupted"
                result.output_truncated = True
                result.error = ErrorEvent(
                    ename="OutputLimitExceeded",
                    evalue=f"{e}; the rest was dropped and the cell was interrupted",
                )
                result.duration_ms = (time.perf_counter() - started) * 1000
                return result
            except ExecutorUnavailable as e:
                self._sandboxes.mark_unavailable(chat.chat_id)
                if not e.accepted and attempt == 1:
                    # Nothing ran yet: the container was stopped or killed between queries.
                    # Start it again and run the cell there.
                    log.info("sandbox of %s unavailable (%s); restarting it", chat.chat_id, e)
                    continue
                result = outputs.result()
                result.status = "crashed"
                result.error = ErrorEvent(
                    ename="SandboxLost",
                    evalue="the sandbox stopped while the code ran; its variables were lost "
                    "and it will be started again on the next query",
                )
                result.kernel = KernelInfo(restarted=True, state="lost", reason=str(e))
                result.duration_ms = (time.perf_counter() - started) * 1000
                return result
        raise SandboxError("the sandbox could not be reached")


def journal_form(result: CodeResult) -> dict[str, Any]:
    """The result as kept in the chat's history: figures are files in the workspace already, so
    their base64 copies are left out rather than stored in Redis for every plot."""
    data = result.model_dump(mode="json")
    for output in data["outputs"]:
        if output.get("filename"):
            output["data"].pop("image/png", None)
    return data


R = TypeVar("R", bound="CodeResult")


class ResultBuilder(Generic[R]):
    """Folds a cell's events into its CodeResult in time linear in their size. Stream text is
    kept in parts and joined once: appending each piece to the str field would copy all the text
    so far every time, and a flood of small pieces would hold the event loop for seconds."""

    def __init__(self, result: R) -> None:
        self._result = result
        self._parts: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def add(self, event: StreamEvent | DisplayEvent | ErrorEvent | EndEvent) -> None:
        if isinstance(event, StreamEvent):
            self._parts[event.type].append(event.text)
        else:
            apply_event(self._result, event)

    def result(self) -> R:
        """The result, with all the stream text added so far."""
        self._result.stdout += "".join(self._parts["stdout"])
        self._result.stderr += "".join(self._parts["stderr"])
        self._parts = {"stdout": [], "stderr": []}
        return self._result


def apply_event(
    result: CodeResult, event: StreamEvent | DisplayEvent | ErrorEvent | EndEvent
) -> None:
    match event:
        case StreamEvent(type="stdout", text=text):
            result.stdout += text
        case StreamEvent(type="stderr", text=text):
            result.stderr += text
        case DisplayEvent():
            result.outputs.append(event)
            if event.filename is None and "text/plain" in event.data:
                result.result = event.data["text/plain"]
        case ErrorEvent():
            result.error = event
        case EndEvent():
            result.status = event.status
            result.execution_count = event.execution_count
            result.duration_ms = event.duration_ms
            result.files = event.files
            result.kernel = event.kernel
            result.stdout_truncated = event.stdout_truncated
            result.stderr_truncated = event.stderr_truncated
            result.output_truncated = event.output_truncated
            result.variables_changed = event.variables_changed
            result.variables_deleted = event.variables_deleted
            result.not_persisted = event.not_persisted
            result.checkpoint_ms = event.checkpoint_ms
