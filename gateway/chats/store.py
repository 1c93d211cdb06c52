"""The chat store: users' chats and their message journal, in Redis."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import cast

from pydantic import BaseModel, ValidationError, field_validator
from redis.asyncio import Redis

from gateway import keys
from gateway.chats.journal import HistoryRecord, Record, load_history, parse_record
from gateway.leases import Lease
from gateway.settings import DEFAULT_IMAGE
from shared.errors import Conflict, ErrorCode, NotFound
from shared.ids import is_chat_id, new_chat_id

# Journal writes only while the chat exists: a query that ends after its chat was deleted must
# not leave a history behind that nothing owns. KEYS: chat hash, messages; ARGV: record.
_APPEND = """
if redis.call('exists', KEYS[1]) == 0 then return -1 end
return redis.call('rpush', KEYS[2], ARGV[1]) - 1
"""
# A query's start, in one round trip: take the chat's query lock, journal the record, enter it
# in the running-queries hash with its owner process and lock token (keys.running_queries),
# and title an untitled chat. -1: the chat is gone; -2: another query holds the lock.
# KEYS: lock, chat hash, messages, running-queries hash; ARGV: lock token, lock TTL (ms),
# record, chat id, owner, title ('' for none), run id (the record's).
_BEGIN = """
if redis.call('exists', KEYS[2]) == 0 then return -1 end
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -2 end
local index = redis.call('rpush', KEYS[3], ARGV[3]) - 1
redis.call('hset', KEYS[4], ARGV[4],
  cjson.encode({index=index, owner=ARGV[5], lock=ARGV[1], run=ARGV[7]}))
if ARGV[6] ~= '' then
  local title = redis.call('hget', KEYS[2], 'title')
  if not title or title == '' then redis.call('hset', KEYS[2], 'title', ARGV[6]) end
end
return index
"""
# A query's end, in one round trip and in this order: its record journaled in place, its
# running entry gone and its lock released, each only if still its own (a query taken for dead
# and ended by a survivor may meanwhile have a successor). KEYS: messages, running-queries hash,
# lock; ARGV: index, record, chat id, lock token.
_FINISH = """
if redis.call('exists', KEYS[1]) == 1 then redis.call('lset', KEYS[1], ARGV[1], ARGV[2]) end
local entry = redis.call('hget', KEYS[2], ARGV[3])
if entry and cjson.decode(entry).lock == ARGV[4] then redis.call('hdel', KEYS[2], ARGV[3]) end
if redis.call('get', KEYS[3]) == ARGV[4] then redis.call('del', KEYS[3]) end
return 1
"""
# A chat's sandbox uid, handed out once: the chat's own if it has one, else the next from the
# counter, stored with the chat. Nothing for a chat that no longer exists. KEYS: chat hash,
# counter; ARGV: the first uid.
_SANDBOX_UID = """
if redis.call('exists', KEYS[1]) == 0 then return false end
local uid = redis.call('hget', KEYS[1], 'sandbox_uid')
if uid then return tonumber(uid) end
uid = tonumber(ARGV[1]) + redis.call('incr', KEYS[2]) - 1
redis.call('hset', KEYS[1], 'sandbox_uid', uid)
return uid
"""
# Ends a query whose owner died, if its entry is still the one read (so two survivors end it
# once): the record as interrupted, the entry gone, and the chat's lock freed if the dead query
# still holds it. KEYS: running-queries hash, messages, lock; ARGV: chat id, the entry as read,
# index, the interrupted record ('' to leave the record as it is), the dead query's lock token
# ('' for an entry of an older gateway, which did not keep it).
_RECOVER = """
if redis.call('hget', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[4] ~= '' and redis.call('exists', KEYS[2]) == 1 then
  redis.call('lset', KEYS[2], ARGV[3], ARGV[4])
end
redis.call('hdel', KEYS[1], ARGV[1])
local lock = redis.call('get', KEYS[3])
if lock and (ARGV[5] == '' or lock == ARGV[5]) then redis.call('del', KEYS[3]) end
return 1
"""

CHAT_BUSY = (
    "another query is running in this chat; wait for it to finish, or stop it "
    "(POST /chat/{chat_id}/stop)"
)
_TITLE_CHARS = 80
# Longer than any request that may have found the chat before its deletion began.
_TOMBSTONE_TTL_S = 3600


def _title(text: str) -> str:
    """A chat's title from its first question or code: the first line that is not blank."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"


class RunningEntry(BaseModel):
    """A running query's entry in keys.running_queries(), as the store writes it."""

    index: int
    owner: str = ""
    lock: str = ""
    # The run's id (its record's); empty in an older gateway's entry.
    run: str = ""

    @classmethod
    def parse(cls, raw: str) -> "RunningEntry | None":
        """None for what this version cannot read. A bare index is an older gateway's entry:
        no owner (so taken for dead) and no lock token."""
        if raw.isdigit():
            return cls(index=int(raw))
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            return None


class ChatSummary(BaseModel):
    """A chat as someone other than its user may see it (an admin): without its `env`, whose
    values may be the user's secrets."""

    chat_id: str
    user_id: str
    created_at: str
    title: str = ""
    # The sandbox image it runs on, by its name in SANDBOX_IMAGES; chosen once, at creation.
    image: str = DEFAULT_IMAGE


class Chat(ChatSummary):
    # Environment variables every run in the chat gets (a run's own win over them for that
    # run); chosen once, at creation, and checked then (shared.env). Kept in the chat's hash
    # as JSON.
    env: dict[str, str] = {}

    @field_validator("env", mode="before")
    @classmethod
    def _from_json(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    def summary(self) -> ChatSummary:
        return ChatSummary.model_validate(self.model_dump(exclude={"env"}))


def _record_ids(raws: list[bytes | str]) -> list[str]:
    """The ids of journaled records, whatever their kind or version."""
    ids = []
    for raw in raws:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            record_id = json.loads(keys.text(raw)).get("id")
            if isinstance(record_id, str):
                ids.append(record_id)
    return ids


def _now() -> datetime:
    return datetime.now(UTC)


class ChatStore:
    def __init__(self, redis: Redis, owner: str = "") -> None:
        """`owner`: the id of the gateway process (gateway.runs.owners) journaling the queries
        this store starts."""
        self._redis = redis
        self.owner = owner
        self._recover = redis.register_script(_RECOVER)
        self._append = redis.register_script(_APPEND)
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._sandbox_uid = redis.register_script(_SANDBOX_UID)

    async def create(
        self, user_id: str, image: str = DEFAULT_IMAGE, env: dict[str, str] | None = None
    ) -> Chat:
        now = _now()
        while True:
            chat = Chat(
                chat_id=new_chat_id(now),
                user_id=user_id,
                created_at=now.isoformat(),
                image=image,
                env=env or {},
            )
            # HSETNX on the owner field makes a colliding id (same second, same suffix) retry
            # instead of silently taking over another chat.
            if await self._redis.hsetnx(keys.chat(chat.chat_id), "user_id", user_id):
                break
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.chat(chat.chat_id),
                mapping={
                    "chat_id": chat.chat_id,
                    "user_id": chat.user_id,
                    "created_at": chat.created_at,
                    "title": chat.title,
                    "image": chat.image,
                    "env": json.dumps(chat.env),
                },
            )
            pipe.zadd(keys.user_chats(user_id), {chat.chat_id: now.timestamp()})
            await pipe.execute()
        return chat

    async def get(self, user_id: str, chat_id: str) -> Chat:
        """The caller's chat, or NotFound: the same answer for a malformed id, a chat that does
        not exist and a chat of another user, so ids of others' chats cannot be probed."""
        if is_chat_id(chat_id):
            data = await self._redis.hgetall(keys.chat(chat_id))
            if data and data.get("user_id") == user_id and "created_at" in data:
                return Chat.model_validate(data)
        raise NotFound(f"chat '{chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)

    async def find(self, chat_id: str) -> Chat | None:
        """Any user's chat by its id (the admin views), or None."""
        if not is_chat_id(chat_id):
            return None
        data = await self._redis.hgetall(keys.chat(chat_id))
        return Chat.model_validate(data) if data.get("created_at") else None

    async def count_for_user(self, user_id: str) -> int:
        return int(await self._redis.zcard(keys.user_chats(user_id)))

    async def owners(self, chat_ids: list[str]) -> dict[str, str]:
        """chat id -> user id, for the chats of `chat_ids` that exist."""
        if not chat_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hget(keys.chat(chat_id), "user_id")
            users = await pipe.execute()
        return {
            chat_id: keys.text(user)
            for chat_id, user in zip(chat_ids, users, strict=True)
            if user is not None
        }

    async def for_user(self, user_id: str) -> list[Chat]:
        # Without WITHSCORES the reply holds members only.
        members = cast(list[str], await self._redis.zrevrange(keys.user_chats(user_id), 0, -1))
        chat_ids = [keys.text(member) for member in members]
        if not chat_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hgetall(keys.chat(chat_id))
            rows = await pipe.execute()
        return [Chat.model_validate(row) for row in rows if row.get("created_at")]

    async def mark_deleted(self, chat_id: str) -> None:
        """The first step of a delete: from now on no sandbox of this chat may start."""
        await self._redis.set(keys.chat_deleted(chat_id), "1", ex=_TOMBSTONE_TTL_S)

    async def is_deleted(self, chat_id: str) -> bool:
        return bool(await self._redis.exists(keys.chat_deleted(chat_id)))

    async def delete(self, chat: Chat) -> None:
        """Delete the chat's records, with its runs' event streams (a run's id is its record's;
        a run still writing after this writes nothing: gateway.runs.events)."""
        raws = await self._redis.lrange(keys.chat_messages(chat.chat_id), 0, -1)
        streams = [keys.run_events(chat.chat_id, run_id) for run_id in _record_ids(raws)]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys.chat_keys(chat.chat_id), *streams)
            pipe.zrem(keys.user_chats(chat.user_id), chat.chat_id)
            pipe.hdel(keys.running_queries(), chat.chat_id)
            pipe.zrem(keys.sandbox_idle_at(), chat.chat_id)
            pipe.hdel(keys.user_disk(chat.user_id), chat.chat_id)
            await pipe.execute()

    async def sandbox_uid(self, chat_id: str, first_uid: int) -> int:
        """The host uid the chat's sandbox runs as: allocated on first use (chats made before
        uids were per chat get theirs then) and kept for the chat's life. NotFound once the chat
        is gone."""
        uid = await self._sandbox_uid(
            keys=[keys.chat(chat_id), keys.sandbox_uid_counter()], args=[first_uid]
        )
        if uid is None:
            raise NotFound(f"chat '{chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)
        return int(uid)

    async def new_sandbox_uid(self, first_uid: int) -> int:
        """A host uid no chat has had, for a pooled sandbox: from the chats' own counter, so
        the chat that claims the sandbox takes that uid as its own."""
        return first_uid + int(await self._redis.incr(keys.sandbox_uid_counter())) - 1

    async def append_message(self, chat_id: str, record: Record) -> int:
        """Journal a finished record (an upload, a restart). NotFound once the chat is deleted."""
        index = await self._append(
            keys=[keys.chat(chat_id), keys.chat_messages(chat_id)], args=[record.model_dump_json()]
        )
        if index < 0:
            raise NotFound(f"chat '{chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)
        return int(index)

    async def begin_query(
        self, chat: Chat, record: Record, lock_token: str, lock_ttl_s: float, title: str
    ) -> int:
        """Start a query in one round trip: take the chat's query lock as `lock_token` (Conflict
        when another query holds it; its TTL frees the chat if every process dies), journal the
        record as running, owned by this process (so a process that dies during it leaves a
        trace), and title an untitled chat after `title`'s first line. Returns the record's
        index. A caller cancelled meanwhile gets the record closed as interrupted and the lock
        released, never left behind."""
        pending = asyncio.ensure_future(
            self._begin(
                keys=[
                    keys.chat_lock(chat.chat_id),
                    keys.chat(chat.chat_id),
                    keys.chat_messages(chat.chat_id),
                    keys.running_queries(),
                ],
                args=[
                    lock_token,
                    max(1, int(lock_ttl_s * 1000)),
                    record.model_dump_json(),
                    chat.chat_id,
                    self.owner,
                    "" if chat.title else _title(title),
                    record.id,
                ],
            )
        )
        try:
            index = int(await asyncio.shield(pending))
        except asyncio.CancelledError:
            index = int(await asyncio.shield(pending))
            if index >= 0:
                record.status = "interrupted"
                record.error = "it was cancelled before it started"
                await asyncio.shield(self.finish_query(chat.chat_id, index, record, lock_token))
            raise
        if index == -1:
            raise NotFound(f"chat '{chat.chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)
        if index == -2:
            raise Conflict(CHAT_BUSY, ErrorCode.CHAT_BUSY)
        return index

    async def finish_query(self, chat_id: str, index: int, record: Record, lock_token: str) -> None:
        """Journal how the query ended, in place, then take it off the running queries and
        release its lock, in one round trip."""
        await self._finish(
            keys=[keys.chat_messages(chat_id), keys.running_queries(), keys.chat_lock(chat_id)],
            args=[index, record.model_dump_json(), chat_id, lock_token],
        )

    async def recover_orphans(
        self, alive: Callable[[set[str]], Awaitable[set[str]]]
    ) -> list[tuple[str, str]]:
        """Mark the queries whose gateway process died during them as interrupted and free their
        chats; returns those chats' ids, each with its run's id ('' when an older gateway ran
        it). `alive` says which owners still live: their queries are theirs to finish and are
        never touched. Safe to run in every process at once: each query is ended once."""
        raw_entries = keys.text_hash(await self._redis.hgetall(keys.running_queries()))
        entries = {chat_id: RunningEntry.parse(raw) for chat_id, raw in raw_entries.items()}
        living = await alive({e.owner for e in entries.values() if e is not None and e.owner})
        recovered = []
        for chat_id, entry in entries.items():
            if entry is None or entry.owner in living:
                continue  # a live process's query, or an entry this version cannot read
            raw = await self._redis.lindex(keys.chat_messages(chat_id), entry.index)
            try:
                record = parse_record(raw) if raw is not None else None
            except ValidationError:
                # Not a record this version reads: left as it is (the history leaves it out).
                record = None
            if record is not None:
                record.status = "interrupted"
                record.error = "the gateway stopped while this query ran; it did not finish"
            ended = await self._recover(
                keys=[keys.running_queries(), keys.chat_messages(chat_id), keys.chat_lock(chat_id)],
                args=[
                    chat_id,
                    raw_entries[chat_id],
                    entry.index,
                    "" if record is None else record.model_dump_json(),
                    entry.lock,
                ],
            )
            if ended:
                recovered.append((chat_id, entry.run))
        return recovered

    async def messages(self, chat_id: str) -> list[HistoryRecord]:
        """The chat's history, oldest first (see gateway.chats.journal for what is left out)."""
        return load_history(chat_id, await self._redis.lrange(keys.chat_messages(chat_id), 0, -1))

    async def running_query(self, chat_id: str) -> RunningEntry | None:
        """The query journaled as running in the chat (by any gateway process), if one is."""
        raw = keys.text_or_none(await self._redis.hget(keys.running_queries(), chat_id))
        return None if raw is None else RunningEntry.parse(raw)

    async def active_runs(self, chat_ids: list[str]) -> dict[str, str]:
        """The id of the run going on in each of these chats that has one, in one round trip."""
        if not chat_ids:
            return {}
        raws = await self._redis.hmget(keys.running_queries(), chat_ids)
        active = {}
        for chat_id, raw in zip(chat_ids, raws, strict=True):
            entry = None if raw is None else RunningEntry.parse(keys.text(raw))
            if entry is not None and entry.run:
                active[chat_id] = entry.run
        return active

    async def query_running(self, chat_id: str) -> bool:
        return bool(await self._redis.exists(keys.chat_lock(chat_id)))

    @asynccontextmanager
    async def query_lock(self, chat_id: str, ttl_s: float) -> AsyncIterator[str]:
        """Hold the chat's query lock, or raise Conflict when another query runs; yields the
        lock's token. The TTL frees the chat if this gateway dies while holding it (sooner,
        its survivors do: recover_orphans)."""
        lease = Lease(self._redis, keys.chat_lock(chat_id), ttl_s)
        if not await lease.try_acquire():
            raise Conflict(CHAT_BUSY, ErrorCode.CHAT_BUSY)
        try:
            yield lease.token
        finally:
            await lease.release()
