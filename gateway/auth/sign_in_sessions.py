"""Sign-in sessions, server-side in Redis: what the `github_session` cookie names.

The cookie holds only a random session id, signed with SESSION_SECRET: a forged or altered cookie
is refused before Redis is asked, and a copy of Redis alone yields no working cookie. Everything
else (who, since when, last seen) stays on the server, so a session can be revoked at once.
"""

import hashlib
import secrets
import time
from collections.abc import Callable

from itsdangerous import BadSignature, Signer
from redis.asyncio import Redis

from gateway import keys

# Bumps last_seen and the TTL only while the session exists: a request racing a logout must not
# bring the revoked session back as a partial hash.
_TOUCH = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], 'last_seen', ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""


class SessionStore:
    def __init__(
        self,
        redis: Redis,
        secret: str,
        idle_timeout_s: float,
        max_age_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        # The salt keeps these signatures apart from any other use of SESSION_SECRET (the OAuth
        # state cookie): one kind of signed value can never pass for the other.
        self._signer = Signer(
            secret, salt="ai-data-scientist.github_session", digest_method=hashlib.sha256
        )
        self._idle_s = idle_timeout_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._touch = redis.register_script(_TOUCH)

    async def create(self, user_id: str) -> str:
        """A new session for the user; returns the cookie value."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        index = keys.user_sessions(user_id)
        # The index keeps only live sessions: those that expired on their own leave it here.
        known = [keys.text(sid) for sid in await self._redis.smembers(index)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in known:
                pipe.exists(keys.login(sid))
            alive = await pipe.execute() if known else []
        async with self._redis.pipeline(transaction=True) as pipe:
            key = keys.login(session_id)
            pipe.hset(key, mapping={"user_id": user_id, "created_at": now, "last_seen": now})
            pipe.pexpire(key, self._ttl_ms(0.0))
            if expired := [sid for sid, live in zip(known, alive, strict=True) if not live]:
                pipe.srem(index, *expired)
            pipe.sadd(index, session_id)
            pipe.expire(index, int(self._max_age_s) + 1)
            await pipe.execute()
        return self._signer.sign(session_id).decode()

    async def revoke_all(self, user_id: str) -> int:
        """End every session of the user (an admin's action); returns how many were live."""
        index = keys.user_sessions(user_id)
        known = [keys.text(sid) for sid in await self._redis.smembers(index)]
        async with self._redis.pipeline(transaction=True) as pipe:
            for sid in known:
                pipe.delete(keys.login(sid))
            pipe.delete(index)
            ended = await pipe.execute()
        return sum(ended[:-1])

    async def resolve(self, cookie: str) -> str | None:
        """The user id of a live session, renewing its idle expiry; None when the cookie is
        forged, or the session expired or was revoked."""
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        key = keys.login(session_id)
        data = keys.text_hash(await self._redis.hgetall(key))
        if not {"user_id", "created_at", "last_seen"} <= data.keys():
            return None
        now = self._clock()
        age = now - float(data["created_at"])
        # Redis's TTL already ends most sessions; the stored times make expiry exact even when
        # the settings were shortened after the session began.
        if age >= self._max_age_s or now - float(data["last_seen"]) >= self._idle_s:
            await self._redis.delete(key)
            return None
        await self._touch(keys=[key], args=[now, self._ttl_ms(age)])
        return data["user_id"]

    async def revoke(self, cookie: str) -> None:
        session_id = self._session_id(cookie)
        if session_id is not None:
            await self._redis.delete(keys.login(session_id))

    def _session_id(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie).decode()
        except BadSignature:
            return None

    def _ttl_ms(self, age_s: float) -> int:
        return max(1, int(min(self._idle_s, self._max_age_s - age_s) * 1000))
