"""Personal API tokens for scripts: `Authorization: Bearer ads_...`, stored hashed in Redis.

Only the token's sha256 is stored. A slow password hash (bcrypt, argon2) protects guessable
secrets; these are 256 random bits, which no amount of hashing speed makes guessable, and a plain
digest lets a request find its token with one lookup. A copy of Redis yields no usable token.
"""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from redis.asyncio import Redis

from gateway import keys
from shared.errors import ErrorCode, NotFound

# Marks the string as one of ours, so it is told apart from a session cookie by its look, and so
# secret scanners can be taught to find leaked ones.
TOKEN_PREFIX = "ads_"


class ApiToken(BaseModel):
    id: str
    name: str
    created_at: str
    expires_at: str | None = None


class NewApiToken(ApiToken):
    """A token as created: the only time its secret is shown."""

    token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class TokenStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, user_id: str, name: str, expires_in_days: int | None) -> NewApiToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()
        expires = now + timedelta(days=expires_in_days) if expires_in_days else None
        record = NewApiToken(
            id=secrets.token_hex(8),
            name=name,
            created_at=now.isoformat(),
            expires_at=expires.isoformat() if expires else None,
            token=token,
        )
        digest = _digest(token)
        key = keys.api_token(digest)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "id": record.id,
                    "user_id": user_id,
                    "name": name,
                    "created_at": record.created_at,
                    "expires_at": record.expires_at or "",
                },
            )
            if expires:
                pipe.expireat(key, expires)
            pipe.hset(keys.user_tokens(user_id), record.id, digest)
            await pipe.execute()
        return record

    async def for_user(self, user_id: str) -> list[ApiToken]:
        """The user's live tokens, oldest first; expired ones leave the index here."""
        index = keys.text_hash(await self._redis.hgetall(keys.user_tokens(user_id)))
        if not index:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in index.values():
                pipe.hgetall(keys.api_token(digest))
            rows = await pipe.execute()
        tokens, gone = [], []
        for token_id, row in zip(index, rows, strict=True):
            if row.get("user_id") == user_id:
                tokens.append(_public(row))
            else:
                gone.append(token_id)
        if gone:
            await self._redis.hdel(keys.user_tokens(user_id), *gone)
        return sorted(tokens, key=lambda t: t.created_at)

    async def revoke(self, user_id: str, token_id: str) -> None:
        """Delete one of the user's tokens; another user's token id is NotFound, like a made-up
        one, so ids cannot be probed."""
        digest = keys.text_or_none(await self._redis.hget(keys.user_tokens(user_id), token_id))
        if digest is None:
            raise NotFound(f"token '{token_id}' not found", ErrorCode.TOKEN_NOT_FOUND)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.api_token(digest))
            pipe.hdel(keys.user_tokens(user_id), token_id)
            await pipe.execute()

    async def revoke_all(self, user_id: str) -> int:
        """Delete every token of the user (an admin's action); returns how many there were."""
        index = keys.text_hash(await self._redis.hgetall(keys.user_tokens(user_id)))
        async with self._redis.pipeline(transaction=True) as pipe:
            for digest in index.values():
                pipe.delete(keys.api_token(digest))
            pipe.delete(keys.user_tokens(user_id))
            deleted = await pipe.execute()
        return sum(deleted[:-1])

    async def resolve(self, token: str) -> str | None:
        """The user id of a live token; None for an unknown, revoked or expired one."""
        row = keys.text_hash(await self._redis.hgetall(keys.api_token(_digest(token))))
        if not row.get("user_id"):
            return None
        # The key's TTL removes an expired token within moments; this makes the end exact.
        expires_at = row.get("expires_at")
        if expires_at and datetime.fromisoformat(expires_at) <= _now():
            return None
        return row["user_id"]


def _public(row: dict[str, str]) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row.get("expires_at") or None,
    )
