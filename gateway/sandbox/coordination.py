"""What gateway processes agree on about sandboxes, kept in Redis so that any process can serve any
chat: who is starting (or stopping, or removing) a chat's sandbox right now, from when each sandbox
counts as idle (its last use by any of them plus the idle timeout of the process that used it, so
that processes with other settings on one Redis, as in the tests, each keep their own), and which
process is stopping idle sandboxes.

The sandbox manager keeps its own per-process cache beside this (which sandboxes answered it
lately); that cache may be wrong, and the next call to a sandbox finds out. These facts may not.
"""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from redis.asyncio import Redis

from gateway import keys
from gateway.leases import Lease
from shared.errors import SandboxError

# Longer than any reaping round; only a reaper that died holds the others off this long.
_REAPING_HOLD_S = 120.0
# A process writes a chat's last use at most this often (and at most a tenth of the idle
# timeout): a query is mostly Redis-free on the warm path, and the reaper sees a use late by
# at most this much.
_TOUCH_EVERY_MAX_S = 5.0


class SandboxCoordination:
    def __init__(self, redis: Redis, idle_timeout_s: float, start_timeout_s: float) -> None:
        self._redis = redis
        self._idle_s = idle_timeout_s
        self._touch_every_s = min(_TOUCH_EVERY_MAX_S, idle_timeout_s / 10)
        # Long enough for a start, a clean restart after a tampered socket and both readiness
        # waits; only a holder that died keeps the others waiting this long.
        self._hold_s = 2 * start_timeout_s + 30.0
        # When this process last wrote each chat's use (monotonic).
        self._touched: dict[str, float] = {}

    @asynccontextmanager
    async def exclusive(self, chat_id: str) -> AsyncIterator[None]:
        """Be the one process starting, stopping or removing the chat's sandbox; waits for
        another one doing so to finish."""
        lease = Lease(self._redis, keys.sandbox_start(chat_id), self._hold_s)
        if not await lease.acquire(wait_s=self._hold_s):
            raise SandboxError(
                "another gateway process has been starting this chat's sandbox for too long; "
                "try again"
            )
        try:
            yield
        finally:
            await lease.release()

    async def touch(self, chat_id: str, force: bool = False) -> None:
        """Note that the chat's sandbox is being used now (`force`: even if this process wrote
        that lately; a sandbox it just started may have been reaped by another meanwhile)."""
        now = time.monotonic()
        if not force and now - self._touched.get(chat_id, -1e9) < self._touch_every_s:
            return
        self._touched[chat_id] = now
        await self._redis.zadd(keys.sandbox_idle_at(), {chat_id: time.time() + self._idle_s})

    async def adopted(self, chat_ids: list[str]) -> None:
        """Running sandboxes found at start-up: those nobody noted a use of count as used now,
        so that they are stopped once idle rather than never."""
        if chat_ids:
            idle_at = time.time() + self._idle_s
            await self._redis.zadd(
                keys.sandbox_idle_at(), dict.fromkeys(chat_ids, idle_at), nx=True
            )

    async def idle(self) -> list[str]:
        """The chats whose sandbox is idle now."""
        # Without WITHSCORES the reply holds members only.
        members = cast(
            list[str], await self._redis.zrangebyscore(keys.sandbox_idle_at(), "-inf", time.time())
        )
        return [keys.text(member) for member in members]

    async def still_idle(self, chat_id: str) -> bool:
        """Whether the chat's sandbox is idle still (nobody used it since `idle` said so)."""
        idle_at = await self._redis.zscore(keys.sandbox_idle_at(), chat_id)
        return idle_at is None or idle_at <= time.time()

    async def idle_at(self, chat_ids: list[str]) -> dict[str, float]:
        """When each chat's sandbox counts as idle (its last use plus the timeout): the order
        of last use. Chats nobody noted a use of are left out."""
        if not chat_ids:
            return {}
        scores = await self._redis.zmscore(keys.sandbox_idle_at(), chat_ids)
        return {
            chat_id: float(score)
            for chat_id, score in zip(chat_ids, scores, strict=True)
            if score is not None
        }

    async def forget(self, chat_id: str) -> None:
        """The chat's sandbox stopped or went: nothing to reap until it is used again."""
        self._touched.pop(chat_id, None)
        await self._redis.zrem(keys.sandbox_idle_at(), chat_id)

    @asynccontextmanager
    async def reaping(self) -> AsyncIterator[bool]:
        """Whether this process may stop idle sandboxes now: one process at a time, each on its
        own schedule (a process whose turn it is not just skips a round)."""
        lease = Lease(self._redis, keys.idle_reaper(), _REAPING_HOLD_S)
        if not await lease.try_acquire():
            yield False
            return
        try:
            yield True
        finally:
            await lease.release()
