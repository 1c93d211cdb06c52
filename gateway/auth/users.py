"""Users: who signed in, kept in Redis under their GitHub numeric id.

The id, not the login, names a user's data: logins can be renamed (and a freed login taken by
someone else), numeric ids never change.
"""

import time
from datetime import UTC, datetime

from pydantic import BaseModel
from redis.asyncio import Redis

from gateway import keys


class User(BaseModel):
    id: str
    login: str
    name: str | None = None
    avatar_url: str | None = None
    # The allowed GitHub orgs (ALLOWED_GITHUB_ORGS) the user was a member of at their last
    # sign-in; what later requests are admitted on when the user is not listed by name or id.
    orgs: list[str] = []
    # Set by an admin: every request of a blocked user is refused, sessions and tokens alike.
    blocked: bool = False


def github_user_id(github_id: int) -> str:
    return f"gh:{github_id}"


class UserStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def save(self, user: User) -> None:
        """Record the user's current profile; a renamed login just replaces the old one."""
        now = datetime.now(UTC).isoformat()
        key = keys.user(user.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "created_at", now)
            pipe.hset(
                key,
                mapping={
                    "id": user.id,
                    "login": user.login,
                    # Redis hashes hold no None: "" stands for "not given".
                    "name": user.name or "",
                    "avatar_url": user.avatar_url or "",
                    "orgs": ",".join(user.orgs),
                    "updated_at": now,
                },
            )
            # Signing in counts as being seen (gateway.usage keeps it up to date afterwards).
            pipe.zadd(keys.users(), {user.id: time.time()})
            await pipe.execute()

    async def get(self, user_id: str) -> User | None:
        data = keys.text_hash(await self._redis.hgetall(keys.user(user_id)))
        if not data.get("login"):
            return None
        return User(
            id=user_id,
            login=data["login"],
            name=data.get("name") or None,
            avatar_url=data.get("avatar_url") or None,
            orgs=[org for org in data.get("orgs", "").split(",") if org],
            blocked=data.get("blocked") == "1",
        )

    async def set_blocked(self, user_id: str, blocked: bool) -> bool:
        """Block or unblock a user who has signed in here; False for an unknown user. Kept in
        the profile hash, which every request of a GitHub user reads anyway, so the check costs
        no extra round trip; save() at sign-in leaves the field alone."""
        key = keys.user(user_id)
        if not await self._redis.hexists(key, "login"):
            return False
        await self._redis.hset(key, "blocked", "1" if blocked else "0")
        return True
