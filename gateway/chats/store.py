"""The chat store: users' chats and their message journal, in Redis."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import cast

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from gateway import keys
from gateway.chats.journal import HistoryRecord, Record, load_history, parse_record
from shared.errors import Conflict, ErrorCode, NotFound
from shared.ids import is_chat_id, new_chat_id

# Compare-and-delete: only the holder of a query lock may release it, so a lock that expired and
# was taken by another query is never released by the slow first one.
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


# Journal writes only while the chat exists: a query that ends after its chat was deleted must
# not leave a history behind that nothing owns. KEYS: chat hash, messages, running-queries hash.
_APPEND = """
if redis.call('exists', KEYS[1]) == 0 then return -1 end
local index = redis.call('rpush', KEYS[2], ARGV[1]) - 1
if ARGV[2] ~= '' then redis.call('hset', KEYS[3], ARGV[2], index) end
return index
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
_REPLACE = """
if redis.call('exists', KEYS[1]) == 1 then redis.call('lset', KEYS[1], ARGV[1], ARGV[2]) end
if ARGV[3] ~= '' then redis.call('hdel', KEYS[2], ARGV[3]) end
return 1
"""

_TITLE_CHARS = 80
# Longer than any request that may have found the chat before its deletion began.
_TOMBSTONE_TTL_S = 3600


class Chat(BaseModel):
    chat_id: str
    user_id: str
    created_at: str
    title: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


class ChatStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._release = redis.register_script(_RELEASE_LOCK)
        self._append = redis.register_script(_APPEND)
        self._replace = redis.register_script(_REPLACE)
        self._sandbox_uid = redis.register_script(_SANDBOX_UID)

    async def create(self, user_id: str) -> Chat:
        now = _now()
        while True:
            chat = Chat(chat_id=new_chat_id(now), user_id=user_id, created_at=now.isoformat())
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
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys.chat_keys(chat.chat_id))
            pipe.zrem(keys.user_chats(chat.user_id), chat.chat_id)
            pipe.hdel(keys.running_queries(), chat.chat_id)
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

    async def name_if_untitled(self, chat: Chat, text: str) -> None:
        """Title a chat after its first question (or first line of code), once."""
        if chat.title:
            return
        line = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title = line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"
        if title:
            await self._redis.hset(keys.chat(chat.chat_id), "title", title)

    async def append_message(self, chat_id: str, record: Record) -> int:
        """Journal a record; returns its index for `update_message`. NotFound once the chat
        is deleted."""
        return await self._journal(chat_id, record, running=False)

    async def update_message(self, chat_id: str, index: int, record: Record) -> None:
        await self._replace_message(chat_id, index, record, finished=False)

    async def _journal(self, chat_id: str, record: Record, running: bool) -> int:
        index = await self._append(
            keys=[keys.chat(chat_id), keys.chat_messages(chat_id), keys.running_queries()],
            args=[record.model_dump_json(), chat_id if running else ""],
        )
        if index < 0:
            raise NotFound(f"chat '{chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)
        return int(index)

    async def _replace_message(
        self, chat_id: str, index: int, record: Record, finished: bool
    ) -> None:
        await self._replace(
            keys=[keys.chat_messages(chat_id), keys.running_queries()],
            args=[index, record.model_dump_json(), chat_id if finished else ""],
        )

    async def start_query(self, chat_id: str, record: Record) -> int:
        """Journal a query as running, so a gateway that dies during it leaves a trace. A caller
        cancelled meanwhile gets the record closed as interrupted, never left "running"."""
        pending = asyncio.ensure_future(self._journal(chat_id, record, running=True))
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            index = await asyncio.shield(pending)
            record.status = "interrupted"
            record.error = "the client went away before it started"
            await asyncio.shield(self.finish_query(chat_id, index, record))
            raise

    async def finish_query(self, chat_id: str, index: int, record: Record) -> None:
        await self._replace_message(chat_id, index, record, finished=True)

    async def recover_interrupted(self) -> list[str]:
        """Mark the queries a previous gateway died during as interrupted and free their chats;
        returns those chats' ids. Only for start-up: one gateway serves a Redis."""
        running = keys.text_hash(await self._redis.hgetall(keys.running_queries()))
        for chat_id, index in running.items():
            raw = await self._redis.lindex(keys.chat_messages(chat_id), int(index))
            try:
                record = parse_record(raw) if raw is not None else None
            except ValidationError:
                # Not a record this version reads: left as it is (the history leaves it out).
                record = None
            if record is not None:
                record.status = "interrupted"
                record.error = "the gateway stopped while this query ran; it did not finish"
                await self.update_message(chat_id, int(index), record)
            await self._redis.delete(keys.chat_lock(chat_id))
            await self._redis.hdel(keys.running_queries(), chat_id)
        return list(running)

    async def messages(self, chat_id: str) -> list[HistoryRecord]:
        """The chat's history, oldest first (see gateway.chats.journal for what is left out)."""
        return load_history(chat_id, await self._redis.lrange(keys.chat_messages(chat_id), 0, -1))

    async def query_running(self, chat_id: str) -> bool:
        return bool(await self._redis.exists(keys.chat_lock(chat_id)))

    @asynccontextmanager
    async def query_lock(self, chat_id: str, ttl_s: float) -> AsyncIterator[None]:
        """Hold the chat's query lock, or raise Conflict when another query runs. The TTL frees
        the chat if this gateway dies while holding it."""
        token = secrets.token_hex(16)
        key = keys.chat_lock(chat_id)
        acquire = asyncio.ensure_future(self._redis.set(key, token, nx=True, px=int(ttl_s * 1000)))
        try:
            acquired = await asyncio.shield(acquire)
        except asyncio.CancelledError:
            # Cancelled (the client left) while the SET was on its way: it may still land, and
            # would then keep the chat locked for the whole TTL. Let it finish and undo it.
            if await asyncio.shield(acquire):
                await asyncio.shield(self._release(keys=[key], args=[token]))
            raise
        if not acquired:
            raise Conflict(
                "another query is running in this chat; wait for it to finish", ErrorCode.CHAT_BUSY
            )
        try:
            yield
        finally:
            await asyncio.shield(self._release(keys=[key], args=[token]))
