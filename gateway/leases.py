"""Leases: a Redis key that one holder owns (a random token as its value) until it releases it or
its TTL runs out. What gateway processes agree on goes through these: one query at a time per chat,
one start of a chat's sandbox at a time, one idle reaper at a time.

The TTL is the safety net, not the plan: a holder releases what it took, and a holder that dies
(a killed process, a lost machine) frees its lease when the TTL runs out.
"""

import asyncio
import secrets
import time

from redis.asyncio import Redis

# Compare-and-delete: only the holder releases, so a lease that expired and was taken by another
# holder is never released by the slow first one.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    """One holder's claim on `key` for `ttl_s`. Made per attempt: each carries its own token."""

    def __init__(self, redis: Redis, key: str, ttl_s: float) -> None:
        self._redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = secrets.token_hex(16)
        self._release = redis.register_script(_RELEASE)

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it. Cancelled while the SET is on its way, the SET may
        still land and would hold the key for the whole TTL: it is let finish and undone."""
        acquire = asyncio.ensure_future(
            self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms)
        )
        try:
            return bool(await asyncio.shield(acquire))
        except asyncio.CancelledError:
            if await asyncio.shield(acquire):
                await asyncio.shield(self.release())
            raise

    async def acquire(self, wait_s: float, poll_s: float = 0.025) -> bool:
        """Take the lease, waiting up to `wait_s` for its holder to let go; False if it did not."""
        deadline = time.monotonic() + wait_s
        while not await self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll_s)
        return True

    async def release(self) -> None:
        """Let go, if still ours; never cut short by a cancellation of the caller."""
        await asyncio.shield(self._release(keys=[self.key], args=[self.token]))
