"""The one lifecycle of a journaled run (a code run or an agent query), for every way it can end.

    async with journaled_run(chats, chat, CodeRecord(code=code), lock_ttl_s, title=code) as record:
        record.result = ...

It takes the chat's query lock (Conflict when another run holds it), journals the record as
`running`, titles an untitled chat, runs the body, and journals how the run ended:
- the body returned: `done`;
- it raised an AppError: `failed` with the error's detail, and the error goes on;
- it raised anything else (a Docker or Redis failure, a bug): the traceback is logged, the
  record is `failed` with a message saying so, and an AppError (500) with that message goes on
  in its place, so the client gets JSON. A RedisError goes on as itself: the app answers it 503;
- it was cancelled (its gateway process is stopping, gateway.runs.background): `interrupted`;
- it was stopped (`POST /chat/{chat_id}/stop`, from any gateway process, through `stops`):
  `interrupted`, and RunStopped goes on in place of the cancellation.
The end is journaled before the lock is released, even when the run is cancelled again
meanwhile, so the next run never finds the chat free with this record still `running`.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TypeVar

from redis.exceptions import RedisError

from gateway import metrics
from gateway.chats.journal import CodeRecord, QueryRecord, Record, RecordStatus
from gateway.chats.store import Chat, ChatStore
from gateway.runs.stops import RunStops
from shared.errors import AppError, Conflict, ErrorCode

log = logging.getLogger(__name__)

CANCELLED = "the gateway process running it stopped; the running code was interrupted"
STOPPED = "stopped on request; the running code was interrupted"
UNEXPECTED = "the run failed on an unexpected error ({name}); the gateway's log has the details"

R = TypeVar("R", bound=Record)

# Told the run's id (its record's) once it is journaled. Set by whoever runs the body in the
# background (gateway.runs.background), which must know when a run has begun; the bodies that
# journal runs (a code run, an agent query) need not know they are run so.
_journaled: ContextVar[Callable[[str], None] | None] = ContextVar("journaled", default=None)


@contextlib.contextmanager
def on_journaled(callback: Callable[[str], None]) -> Iterator[None]:
    """Call `callback(run_id)` when a run begun in this context is journaled."""
    token = _journaled.set(callback)
    try:
        yield
    finally:
        _journaled.reset(token)


class RunStopped(Conflict):
    """The run this request started was stopped by a stop request."""

    code = ErrorCode.RUN_STOPPED


@asynccontextmanager
async def journaled_run(
    chats: ChatStore,
    chat: Chat,
    record: R,
    lock_ttl_s: float,
    title: str,
    stops: RunStops | None = None,
) -> AsyncIterator[R]:
    """Run the body as the chat's one running query, journaled as `record` (see above)."""
    lock_token = secrets.token_hex(16)
    # Stoppable from the start: a stop may come as soon as the run is journaled.
    async with _stoppable(stops, chat.chat_id, lock_token):
        record.status = "running"
        index = await chats.begin_query(chat, record, lock_token, lock_ttl_s, title)
        kind = "code" if isinstance(record, CodeRecord) else "agent"
        started = metrics.run_started(kind)
        journaled = _journaled.get()
        if journaled is not None:
            journaled(record.id)

        async def finish(status: RecordStatus, error: str | None) -> None:
            metrics.run_ended(kind, _outcome(record, status, error), started)
            if stops is not None:
                stops.ending(chat.chat_id, lock_token)
            record.status = status
            record.error = error
            await _to_the_end(chats.finish_query(chat.chat_id, index, record, lock_token))

        try:
            yield record
        except asyncio.CancelledError:
            if stops is not None and stops.was_stopped():
                task = asyncio.current_task()
                assert task is not None
                task.uncancel()  # a stop ends the run, not the request that started it
                await finish("interrupted", STOPPED)
                raise RunStopped(
                    "the run was stopped (POST /chat/{chat_id}/stop); what it did so far is in "
                    "the chat's history"
                ) from None
            await finish("interrupted", CANCELLED)
            raise
        except AppError as e:
            await finish("failed", e.detail)
            raise
        except Exception as e:
            log.exception("a run in %s failed unexpectedly", chat.chat_id)
            message = UNEXPECTED.format(name=type(e).__name__)
            await finish("failed", message)
            if isinstance(e, RedisError):
                raise
            raise AppError(message) from e
        await finish("done", None)


def _outcome(record: Record, status: RecordStatus, error: str | None) -> str:
    """How a run ended, for the metrics (README: Operating, "Metrics"): a code run that got to
    its end by how its cell ended (ok, error, timeout, interrupted, crashed), an agent query by
    its answer (ok, step_limit); else failed, stopped, or shutdown (its process stopped)."""
    if status == "interrupted":
        return "stopped" if error == STOPPED else "shutdown"
    if status != "done":
        return "failed"
    if isinstance(record, CodeRecord) and record.result is not None:
        return record.result.status
    if isinstance(record, QueryRecord) and record.answer_status == "step_limit":
        return "step_limit"
    return "ok"


@contextlib.asynccontextmanager
async def _stoppable(stops: RunStops | None, chat_id: str, lock_token: str) -> AsyncIterator[None]:
    if stops is None:
        yield
    else:
        with stops.running(chat_id, lock_token):
            yield


async def _to_the_end(step: Awaitable[None]) -> None:
    """Await `step` to its end even when this task is cancelled meanwhile, then pass the
    cancellation on: a run's end must be journaled before its lock is released."""
    task = asyncio.ensure_future(step)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise  # the step itself was cancelled, not this task
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
