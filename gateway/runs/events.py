"""A run's events in a Redis stream: appended by the process running it, replayed and followed by
any process (GET /chat/{chat_id}/runs/{run_id}/events, and the stream of the POST that started it).

Each entry holds one Server-Sent Event as the client gets it: its name (`step_started`, `code`,
`output`, `file`, `answer`, and last `done` or `error`) and its JSON data, which carries the
run's id. The entry's id in the stream ("<ms>-<n>", increasing) is the event's SSE `id:`, so a
client that reconnects with `Last-Event-ID` gets exactly the entries after it. A stream keeps at
least RUN_EVENTS_MAX entries (older ones are trimmed) and expires RUN_EVENTS_TTL_S after its last
entry; a run's history record outlives it.
"""

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from gateway import keys
from shared.errors import AppError, ErrorCode

log = logging.getLogger(__name__)

FINAL_EVENTS = frozenset({"done", "error"})
# Before the first entry: a replay from the start.
START = "0-0"
# An event id, or none (empty: from the start).
EVENT_ID_PATTERN = r"^([0-9]{1,20}-[0-9]{1,20})?$"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
# Entries read per round trip when replaying.
_READ_COUNT = 256


class InvalidEventId(AppError):
    status = 400
    code = ErrorCode.INVALID_INPUT


def parse_event_id(text: str | None) -> str:
    """A client's Last-Event-ID: an id this stream gave ("<ms>-<n>"), or none (from the start)."""
    if text is None or not text.strip():
        return START
    text = text.strip()
    if not _EVENT_ID.match(text):
        raise InvalidEventId(
            f"Last-Event-ID '{text[:40]}' is not an event id of this stream; send the `id:` of "
            "the last event received (like 1764633600000-0), or none to replay from the start"
        )
    return text


@dataclass(frozen=True)
class RunEvent:
    id: str
    event: str
    # The JSON text, as stored and sent.
    data: str

    @property
    def final(self) -> bool:
        return self.event in FINAL_EVENTS

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.event}\ndata: {self.data}\n\n"


# Appends events to a run's stream, only while its chat exists (a run that writes after its chat
# was deleted must not leave a stream behind), and moves the stream's expiry, so a run that
# nobody ends still goes, in time. KEYS: chat hash, stream; ARGV: max length, TTL (ms), then
# event and data for each event.
_APPEND = """
if redis.call('exists', KEYS[1]) == 0 then return {} end
local ids = {}
for i = 3, #ARGV, 2 do
  ids[#ids + 1] = redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[1], '*',
    'event', ARGV[i], 'data', ARGV[i + 1])
end
redis.call('pexpire', KEYS[2], ARGV[2])
return ids
"""


class RunEvents:
    def __init__(self, redis: Redis, max_len: int, ttl_s: float) -> None:
        self._redis = redis
        self._max_len = max_len
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._append = redis.register_script(_APPEND)

    async def append(
        self, chat_id: str, run_id: str, event: str, data: dict[str, Any]
    ) -> str | None:
        """Add one event (its data given the run's id); returns its id (None: the chat is
        gone)."""
        ids = await self.append_many(chat_id, run_id, [(event, data)])
        return ids[0] if ids else None

    async def append_many(
        self, chat_id: str, run_id: str, events: list[tuple[str, dict[str, Any]]]
    ) -> list[str]:
        """Add events in order, in one round trip, while the chat exists; returns their ids
        ([] for a chat deleted meanwhile, whose streams went with it)."""
        args: list[str | int] = [self._max_len, self._ttl_ms]
        for event, data in events:
            args += [event, json.dumps({**data, "run_id": run_id})]
        ids = await self._append(
            keys=[keys.chat(chat_id), keys.run_events(chat_id, run_id)], args=args
        )
        return [keys.text(entry_id) for entry_id in ids]

    async def read(
        self, chat_id: str, run_id: str, after: str, block_ms: int | None = None
    ) -> list[RunEvent]:
        """The events after `after`, oldest first; with `block_ms`, waits that long for one
        when there are none yet ([] if none came)."""
        found: list[tuple[str, list[tuple[str, dict[str, str]]]]] = cast(
            Any,
            await self._redis.xread(
                {keys.run_events(chat_id, run_id): after}, count=_READ_COUNT, block=block_ms
            ),
        )
        if not found:
            return []
        [(_, entries)] = found
        return [
            RunEvent(id=entry_id, event=fields["event"], data=fields["data"])
            for entry_id, fields in entries
        ]

    async def exists(self, chat_id: str, run_id: str) -> bool:
        return bool(await self._redis.exists(keys.run_events(chat_id, run_id)))


class RunWriter:
    """Writes one run's events in order without making the run wait for Redis: `add` queues,
    and one task at a time writes what is queued in one round trip. `close` waits until all
    is written. A write that fails is logged and dropped: the history, not the stream, is
    what a run's outcome is kept in."""

    def __init__(self, events: RunEvents, chat_id: str, run_id: str) -> None:
        self._events = events
        self._chat_id = chat_id
        self._run_id = run_id
        self._queued: list[tuple[str, dict[str, Any]]] = []
        self._writing: asyncio.Task[None] | None = None

    def add(self, event: str, data: dict[str, Any]) -> None:
        self._queued.append((event, data))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    await self._events.append_many(self._chat_id, self._run_id, batch)
                except Exception as e:  # Redis down: the run goes on; its history keeps all
                    log.warning("%d event(s) of run %s not kept: %s", len(batch), self._run_id, e)
        finally:
            self._writing = None

    async def close(self) -> None:
        """Wait until every event added is written (or given up)."""
        while self._writing is not None:
            await asyncio.shield(self._writing)
