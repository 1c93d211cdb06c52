"""Running code in a chat: the cell sent to its sandbox, and the reply built from the executor's
events. Code runs are journaled through `gateway.runs.lifecycle`, as the agent's queries are."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import JsonValue

from gateway.chats.journal import CellResult, CodeRecord
from gateway.chats.store import Chat, ChatStore
from gateway.runs.lifecycle import journaled_run
from gateway.runs.stops import RunStops
from gateway.sandbox.disk_usage import DiskQuota, UserDiskLimit
from gateway.sandbox.executor import ExecutorUnavailable, OutputLimitExceeded
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from shared.errors import Conflict, SandboxError, SandboxTimeout
from shared.protocol import (
    DisplayEvent,
    EndEvent,
    ErrorEvent,
    ExecStatus,
    ExecuteRequest,
    KernelInfo,
    StreamEvent,
)

log = logging.getLogger(__name__)

# Time beyond the executor's own timeout before the gateway stops waiting for its reply: the
# executor interrupts, then kills, the kernel itself; this only guards against a hung executor.
_READ_GRACE_S = 15.0
# How long past its run time a code run may hold the chat's lock if this gateway dies.
_LOCK_SLACK_S = 120.0

OnEvent = Callable[[StreamEvent | DisplayEvent | ErrorEvent], Awaitable[None]]


@dataclass(frozen=True)
class RunOptions:
    """What a run asks for besides its code, for each of its cells: environment variables on
    top of the chat's (checked by shared.env), and a time limit (None: SANDBOX_EXEC_TIMEOUT_S;
    the route refuses more)."""

    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None

    def cell_timeout_s(self, settings: Settings) -> float:
        return self.timeout_s or settings.sandbox_exec_timeout_s


DEFAULT_OPTIONS = RunOptions()


class CodeResult(CellResult):
    """The reply to a `{"code": ...}` query."""

    chat_id: str
    message_id: str
    status: ExecStatus


class QueryService:
    def __init__(
        self,
        chats: ChatStore,
        sandboxes: SandboxManager,
        settings: Settings,
        stops: RunStops,
        user_disk_limit: UserDiskLimit | None = None,
    ) -> None:
        self._chats = chats
        self._stops = stops
        self._sandboxes = sandboxes
        self._settings = settings
        self._disk = DiskQuota(settings.sandbox_disk_limit, user_disk_limit)

    async def run_code(
        self,
        chat: Chat,
        code: str,
        on_event: OnEvent | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
    ) -> CodeResult:
        """Run code the user sent directly, journaled as one message. Cancelled (a stop, or its
        gateway process stopping), the cell is interrupted and the message marked so."""
        ttl_s = options.cell_timeout_s(self._settings) + _LOCK_SLACK_S
        # Before the run is journaled, so a user at USER_MAX_RUNNING_SANDBOXES is answered 429.
        await self._sandboxes.ensure_room(chat)
        record = CodeRecord(code=code)
        async with journaled_run(self._chats, chat, record, ttl_s, code, self._stops):
            so_far = ResultBuilder(
                CodeResult(chat_id=chat.chat_id, message_id=record.id, status="interrupted")
            )

            async def seen(event: StreamEvent | DisplayEvent | ErrorEvent) -> None:
                so_far.add(event)
                if on_event is not None:
                    await on_event(event)

            try:
                result = await self.execute(chat, code, record.id, seen, options)
            except asyncio.CancelledError:
                # Stopped: the history keeps what the cell printed and showed until then.
                record.result = journal_form(so_far.result(), CellResult)
                raise
            record.result = journal_form(result, CellResult)
        return result

    async def execute(
        self,
        chat: Chat,
        code: str,
        message_id: str,
        on_event: OnEvent | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
    ) -> CodeResult:
        """Run one cell in the chat's sandbox (the caller holds the chat's query lock), with
        the chat's env and the run's `options`. `on_event` sees each output as it happens.
        Cancelled (a client that went away), or failed once the cell may be running, the cell
        is interrupted rather than left running.

        A sandbox that could not be reached before it took the cell is started again and the
        cell sent once more; one lost while the cell ran, or that did not answer in time, ends
        the cell with that status; an error answer is raised as the typed error it stands for.
        However the cell ended, the chat's disk use is measured once it has (SANDBOX_DISK_LIMIT)."""
        result = await self._run_cell(chat, code, message_id, on_event, options)
        paths = self._sandboxes.paths(chat.chat_id)
        changed = result.status != "ok" or bool(
            result.files or result.variables_changed or result.variables_deleted
        )
        result.disk = await self._disk.after_run(
            chat.chat_id, paths.measured, changed, chat.user_id
        )
        return result

    async def _run_cell(
        self,
        chat: Chat,
        code: str,
        message_id: str,
        on_event: OnEvent | None,
        options: RunOptions,
    ) -> CodeResult:
        timeout_s = options.cell_timeout_s(self._settings)
        started = time.perf_counter()
        result = CodeResult(chat_id=chat.chat_id, message_id=message_id, status="ok")
        request = ExecuteRequest(code=code, timeout_s=timeout_s, env=chat.env | options.env)
        for attempt in (1, 2):
            client = await self._sandboxes.ensure_running(chat)
            outputs = ResultBuilder(result)
            try:
                events = client.execute(request, read_timeout_s=timeout_s + _READ_GRACE_S)
                async with contextlib.aclosing(events):
                    async for event in events:
                        outputs.add(event)
                        if on_event is not None and not isinstance(event, EndEvent):
                            await on_event(event)
                return outputs.result()
            except ExecutorUnavailable as e:
                self._sandboxes.mark_unavailable(chat.chat_id)
                if e.accepted:
                    return await self._lost_mid_cell(chat, outputs.result(), started, e)
                if attempt == 2:
                    raise SandboxError(f"the sandbox could not be reached: {e}") from e
                # Nothing ran yet: the container was stopped or killed between queries. Start
                # it again and run the cell there.
                log.info("sandbox of %s unavailable (%s); restarting it", chat.chat_id, e)
            except SandboxTimeout as e:
                # A hung executor: stop the cell if it still listens, and have the next query
                # find out whether the sandbox answers at all.
                self._sandboxes.mark_unavailable(chat.chat_id)
                await asyncio.shield(client.interrupt())
                error = ErrorEvent(ename="SandboxTimeout", evalue=f"{e.detail}; it was interrupted")
                return _cut_short(outputs.result(), "timeout", error, started)
            except OutputLimitExceeded as e:
                # The executor did not cut the stream itself: stop the cell instead of reading on.
                log.warning("sandbox of %s passed the output budget: %s", chat.chat_id, e)
                await asyncio.shield(client.interrupt_and_settle())
                error = ErrorEvent(
                    ename="OutputLimitExceeded",
                    evalue=f"{e}; the rest was dropped and the cell was interrupted",
                )
                cut = _cut_short(outputs.result(), "interrupted", error, started)
                cut.output_truncated = True
                return cut
            except Conflict:
                raise  # another cell holds the kernel: it is not ours to interrupt
            except BaseException:
                # Cancelled, an answer outside the protocol mid-cell, or a failure of our own.
                await asyncio.shield(client.interrupt_and_settle())
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _lost_mid_cell(
        self, chat: Chat, result: CodeResult, started: float, cause: ExecutorUnavailable
    ) -> CodeResult:
        """The sandbox went away while the cell ran: killed, or out of memory under gVisor (where
        the host's OOM killer stops the whole sandbox, not only the kernel)."""
        why = await self._sandboxes.exit_reason(chat.chat_id)
        message, kernel = await _restart_after_loss(self._sandboxes, chat, why, cause)
        error = ErrorEvent(ename="SandboxLost", evalue=message)
        return _cut_short(result, "crashed", error, started, kernel)


async def _restart_after_loss(
    sandboxes: SandboxManager, chat: Chat, why: str, cause: ExecutorUnavailable
) -> tuple[str, KernelInfo]:
    """Start a sandbox lost mid-cell again at once, so the reply can say what came back: the
    message for the user and the kernel's state."""
    try:
        health = await (await sandboxes.ensure_running(chat)).health()
    except (SandboxError, ExecutorUnavailable) as e:
        log.warning("the sandbox of %s could not be started again: %s", chat.chat_id, e)
        return (
            f"the sandbox stopped while the code ran ({why}) and could not be started again "
            f"({e}); the next query tries again",
            KernelInfo(restarted=True, state="lost", reason=str(cause)),
        )
    return (
        f"the sandbox stopped while the code ran: {why}. It was started again with the "
        "variables as of the last finished cell; what this cell changed is lost",
        KernelInfo(
            restarted=True,
            state="restored",
            reason=why,
            restored=health.restored,
            restore_errors=health.restore_errors,
        ),
    )


def _cut_short(
    result: CodeResult,
    status: ExecStatus,
    error: ErrorEvent,
    started: float,
    kernel: KernelInfo | None = None,
) -> CodeResult:
    """The result of a cell whose events stopped before its end."""
    result.status = status
    result.error = error
    if kernel is not None:
        result.kernel = kernel
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


C = TypeVar("C", bound=CellResult)


def journal_form(result: CodeResult, form: type[C]) -> C:
    """The result as kept in the chat's history: figures are files in the workspace already, so
    their base64 copies are left out rather than stored in Redis for every plot."""
    outputs = [
        output.model_copy(update={"data": _without_png(output.data)}) if output.filename else output
        for output in result.outputs
    ]
    return form.model_validate(result.model_copy(update={"outputs": outputs}).model_dump())


def _without_png(data: dict[str, JsonValue]) -> dict[str, JsonValue]:
    return {mime: content for mime, content in data.items() if mime != "image/png"}


R = TypeVar("R", bound="CodeResult")


class ResultBuilder(Generic[R]):
    """Folds a cell's events into its CodeResult in time linear in their size. Stream text is
    kept in parts and joined once: appending each piece to the str field would copy all the text
    so far every time, and a flood of small pieces would hold the event loop for seconds."""

    def __init__(self, result: R) -> None:
        self._result = result
        self._parts: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def add(self, event: StreamEvent | DisplayEvent | ErrorEvent | EndEvent) -> None:
        result = self._result
        match event:
            case StreamEvent():
                self._parts[event.type].append(event.text)
            case DisplayEvent():
                result.outputs.append(event)
                if event.is_result:
                    result.result = event.text
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

    def result(self) -> R:
        """The result, with all the stream text added so far."""
        self._result.stdout += "".join(self._parts["stdout"])
        self._result.stderr += "".join(self._parts["stderr"])
        self._parts = {"stdout": [], "stderr": []}
        return self._result
