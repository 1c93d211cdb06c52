"""A run's events in a Redis stream: appended by the process running it, replayed and followed by
any process (GET /chat/{chat_id}/runs/{run_id}/events, and the stream of the POST that started it).

Each entry holds one Server-Sent Event as the client gets it: its name (`step_started`, `code`,
`output`, `file`, `answer`, and last `done` or `error`) and its JSON data, which carries the
run's id. The entry's id in the stream ("<ms>-<n>", increasing) is the event's SSE `id:`, so a
client that reconnects with `Last-Event-ID` gets exactly the entries after it. A stream keeps at
least RUN_EVENTS_MAX entries (older ones are trimmed) and expires RUN_EVENTS_TTL_S after its last
entry; a run's history record outlives it.
"""

import json
import re
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from gateway import keys
from shared.errors import AppError, ErrorCode

FINAL_EVENTS = frozenset({"done", "error"})
# Before the first entry: a replay from the start.
START = "0-0"
_EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
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
    if not _EVENT_ID.fullmatch(text):
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


class RunEvents:
    def __init__(self, redis: Redis, max_len: int, ttl_s: float) -> None:
        self._redis = redis
        self._max_len = max_len
        self._ttl_ms = max(1, int(ttl_s * 1000))

    async def append(self, chat_id: str, run_id: str, event: str, data: dict[str, Any]) -> str:
        """Add one event (its data given the run's id); returns its id. One round trip: the
        stream's expiry moves with each entry, so a run that nobody ends still goes, in time."""
        key = keys.run_events(chat_id, run_id)
        fields = {"event": event, "data": json.dumps({**data, "run_id": run_id})}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, cast(Any, fields), maxlen=self._max_len, approximate=True)
            pipe.pexpire(key, self._ttl_ms)
            entry_id, _ = await pipe.execute()
        return keys.text(entry_id)

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
