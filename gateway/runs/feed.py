"""Following a run as Server-Sent Events, from any gateway process: its events so far (from the
start, or after a client's Last-Event-ID), then the rest as they come, to its last one.

A run's stream ends with `done` or `error`, written by the process running it, or by whichever
process finds that process dead (gateway.runs.orphans). A run with no stream left (its events
expired, RUN_EVENTS_TTL_S) ends with its history record: one `done` event whose data is the
record as GET /chat/{chat_id}/messages gives it, with `run_id` and `"from_history": true`.
"""

import json
import re
from collections.abc import AsyncIterator

from gateway.chats.journal import HistoryRecord
from gateway.chats.store import ChatStore
from gateway.runs.events import RunEvents
from shared.errors import ErrorCode, NotFound

# How long one read waits for the next event; a quiet run sends a comment this often, which
# keeps proxies from closing the connection and lets the feed check that the run still runs.
_WAIT_MS = 10_000
# A run no longer journaled as running writes its last event within moments (see background).
_LAST_EVENT_GRACE_MS = 2_000
# What a run id looks like (a history record's id); anything else names no run.
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class RunFeed:
    def __init__(self, events: RunEvents, chats: ChatStore) -> None:
        self._events = events
        self._chats = chats

    async def check(self, chat_id: str, run_id: str) -> None:
        """NotFound unless `run_id` is a run of this chat (ids of other chats' runs are not
        told apart from ids that never were)."""
        if _RUN_ID.fullmatch(run_id) and (
            await self._events.exists(chat_id, run_id) or await self._record(chat_id, run_id)
        ):
            return
        raise NotFound(f"run '{run_id[:64]}' not found in this chat", ErrorCode.RUN_NOT_FOUND)

    async def follow(self, chat_id: str, run_id: str, after: str) -> AsyncIterator[str]:
        """The run's events after `after` as SSE text, live, until its last event."""
        # The first look does not wait: a run that ended long ago answers at once.
        wait_ms: int | None = None
        while True:
            batch = await self._events.read(chat_id, run_id, after, block_ms=wait_ms)
            for event in batch:
                yield event.sse()
                after = event.id
                if event.final:
                    return
            if batch or await self._running(chat_id, run_id):
                if not batch:
                    yield ": the run is still going\n\n"
                wait_ms = _WAIT_MS
                continue
            # Ended: a stream without its last event is waited for a moment, once; none at all
            # has expired.
            if wait_ms != _LAST_EVENT_GRACE_MS and await self._events.exists(chat_id, run_id):
                wait_ms = _LAST_EVENT_GRACE_MS
                continue
            # Ended, and its stream says no more: its events expired, or its process died
            # before Redis took the last one. The history has how it ended.
            record = await self._record(chat_id, run_id)
            if record is None:
                return
            data = {**record.model_dump(mode="json"), "run_id": run_id, "from_history": True}
            yield f"event: done\ndata: {json.dumps(data)}\n\n"
            return

    async def _running(self, chat_id: str, run_id: str) -> bool:
        entry = await self._chats.running_query(chat_id)
        return entry is not None and entry.run == run_id

    async def _record(self, chat_id: str, run_id: str) -> HistoryRecord | None:
        return next((r for r in await self._chats.messages(chat_id) if r.id == run_id), None)
