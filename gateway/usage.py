"""What each user uses, kept in Redis for the quotas and the admin views: when they were last
seen, LLM tokens (per UTC day and in total), and the disk their chats' files take."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis

from gateway import keys

# A user's last-seen time is written at most this often by one process: it is shown in minutes,
# and a write per request would be a Redis round trip on every request.
_SEEN_EVERY_S = 60.0
# Yesterday's count stays readable for the admin views a while; nothing reads older days.
_DAY_COUNT_TTL_S = 7 * 24 * 3600


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class UserUsage:
    last_seen: float | None
    llm_tokens_today: int
    llm_tokens_total: int
    disk_bytes: int


class UsageStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._seen: dict[str, float] = {}

    async def seen(self, user_id: str) -> None:
        """Note that the user made a request now (at most once a minute per process)."""
        now = time.time()
        if now - self._seen.get(user_id, 0.0) < _SEEN_EVERY_S:
            return
        self._seen[user_id] = now
        await self._redis.zadd(keys.users(), {user_id: now})

    async def known_users(self) -> dict[str, float]:
        """Every user seen here, with when they were last seen (unix time)."""
        rows = cast(
            list[tuple[str, float]], await self._redis.zrange(keys.users(), 0, -1, withscores=True)
        )
        return {keys.text(user_id): float(score) for user_id, score in rows}

    async def llm_tokens_today(self, user_id: str) -> int:
        return int(await self._redis.get(keys.user_tokens_used(user_id, today())) or 0)

    async def add_llm_tokens(self, user_id: str, tokens: int) -> None:
        if tokens <= 0:
            return
        day_key = keys.user_tokens_used(user_id, today())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(day_key, tokens)
            pipe.expire(day_key, _DAY_COUNT_TTL_S)
            pipe.hincrby(keys.user_usage(user_id), "llm_tokens", tokens)
            await pipe.execute()

    async def record_disk(self, user_id: str, chat_id: str, used_bytes: int) -> None:
        await self._redis.hset(keys.user_disk(user_id), chat_id, used_bytes)

    async def forget_chat(self, user_id: str, chat_id: str) -> None:
        await self._redis.hdel(keys.user_disk(user_id), chat_id)

    async def disk_bytes(self, user_id: str, except_chat: str | None = None) -> int:
        """What the user's chats used when last measured, all of them or all but one."""
        rows = keys.text_hash(await self._redis.hgetall(keys.user_disk(user_id)))
        return sum(int(used) for chat_id, used in rows.items() if chat_id != except_chat)

    async def of(self, user_id: str) -> UserUsage:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zscore(keys.users(), user_id)
            pipe.get(keys.user_tokens_used(user_id, today()))
            pipe.hget(keys.user_usage(user_id), "llm_tokens")
            pipe.hvals(keys.user_disk(user_id))
            seen, day, total, disk = await pipe.execute()
        return UserUsage(
            last_seen=None if seen is None else float(seen),
            llm_tokens_today=int(day or 0),
            llm_tokens_total=int(total or 0),
            disk_bytes=sum(int(used) for used in disk),
        )
