"""Runs owned by the gateway, not by the request that started them.

A run (an agent query or a code run) is a task of the gateway process: it goes on to its end
whether or not anyone listens, and its events go to the run's Redis stream (gateway.runs.events),
where the request that started it, a page opened later, or a client that lost its connection
reads them, through any process. Only a stop (POST /chat/{chat_id}/stop) or the end of the
process ends a run early; closing a stream stops nothing.

    run = await runs.start(chat_id, lambda emit: agent.answer(chat, question, emit))
    run.run_id  # journaled: its id is the history record's
    await run.reply()  # or follow its events (gateway.runs.feed)

`start` answers once the run is journaled, so a run that could not begin (the chat busy, no LLM
configured) is the caller's error, not an event. After that, the run's last event is `done`
with its reply, or `error` with what the request that started it would have got as an error.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from gateway.runs import lifecycle
from gateway.runs.events import RunEvents, RunWriter
from shared.errors import AppError, ErrorCode

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
Body = Callable[[Emit], Awaitable[BaseModel]]
# What an exception is answered with: (HTTP status, code, detail); gateway.api.errors.describe.
Describe = Callable[[Exception], tuple[int, ErrorCode, str]]

# The message of a run that was going when its gateway process stopped.
GATEWAY_STOPPED = (
    "the gateway process running it stopped; what the run did so far is in the history"
)
# How long a stopping process gives its runs to journal their interruption.
_CLOSE_WAIT_S = 10.0


@dataclass(frozen=True)
class Run:
    run_id: str
    # The run's reply or error, known as soon as the run has ended (its last event is written
    # right after).
    outcome: asyncio.Future[BaseModel]

    async def reply(self) -> BaseModel:
        """The run's reply, or its error; waiting for it does not tie the run to the waiter
        (a request that goes away leaves it running)."""
        return await asyncio.shield(self.outcome)


class BackgroundRuns:
    def __init__(self, events: RunEvents, describe: Describe) -> None:
        self._events = events
        self._describe = describe
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, chat_id: str, body: Body) -> Run:
        """Run `body` in the background; returns once it is journaled, or raises what kept it
        from beginning."""
        loop = asyncio.get_running_loop()
        journaled: asyncio.Future[str] = loop.create_future()
        outcome: asyncio.Future[BaseModel] = loop.create_future()
        # Nobody may wait for it (a stream follows the events instead): never "not retrieved".
        outcome.add_done_callback(lambda f: f.cancelled() or f.exception())
        task = asyncio.create_task(self._run(chat_id, body, journaled, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Shielded: a request that goes away while the run begins leaves it running.
        run_id = await asyncio.shield(journaled)
        return Run(run_id=run_id, outcome=outcome)

    async def _run(
        self,
        chat_id: str,
        body: Body,
        journaled: asyncio.Future[str],
        outcome: asyncio.Future[BaseModel],
    ) -> None:
        writer: RunWriter | None = None

        def begun(run_id: str) -> None:
            nonlocal writer
            writer = RunWriter(self._events, chat_id, run_id)
            journaled.set_result(run_id)

        async def emit(event: str, data: dict[str, Any]) -> None:
            assert writer is not None, "a run emits only once it is journaled"
            writer.add(event, data)

        with lifecycle.on_journaled(begun):
            try:
                reply = await body(emit)
            except BaseException as e:
                if writer is None:
                    # It never began: its caller gets the error (a cancellation as a
                    # cancellation), and it has no stream.
                    outcome.cancel()
                    if isinstance(e, Exception):
                        journaled.set_exception(e)
                        return
                    journaled.cancel()
                    raise
                if isinstance(e, Exception):
                    outcome.set_exception(e)
                else:
                    outcome.cancel()
                writer.add("error", self._error_event(chat_id, e))
                await writer.close()
                if not isinstance(e, Exception):
                    raise
                return
        assert writer is not None
        outcome.set_result(reply)
        # Written once the run's end is journaled and its chat free (journaled_run has
        # returned), so a client that sends its next query on `done` finds the chat free.
        writer.add("done", reply.model_dump(mode="json"))
        await writer.close()

    def _error_event(self, chat_id: str, e: BaseException) -> dict[str, Any]:
        if isinstance(e, Exception):
            if not isinstance(e, AppError):
                log.error("a run in %s failed", chat_id, exc_info=e)
            status, code, detail = self._describe(e)
        else:
            status, code, detail = 503, ErrorCode.RUN_INTERRUPTED, GATEWAY_STOPPED
        return {"status": status, "detail": detail, "code": code}

    async def close(self) -> None:
        """The process is stopping: its runs end as interrupted, each journaled so, and their
        streams end with an `error` event."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_WAIT_S)
