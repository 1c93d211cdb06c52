"""The sign-in stores in-process against the test Redis: sessions (with an injected clock, so
expiry is tested without waiting), API tokens and user profiles."""

import pytest
from redis.asyncio import Redis

from gateway import keys
from gateway.auth.sign_in_sessions import SessionStore
from gateway.auth.tokens import TOKEN_PREFIX, TokenStore
from gateway.auth.users import User, UserStore
from shared.errors import NotFound

SECRET = "a-session-secret-for-these-tests-only-0123456789"
IDLE_S = 60.0
MAX_AGE_S = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(redis: Redis, clock: Clock) -> SessionStore:
    return SessionStore(redis, SECRET, IDLE_S, MAX_AGE_S, clock=clock)


async def test_a_session_resolves_to_its_user_until_revoked(sessions: SessionStore) -> None:
    cookie = await sessions.create("gh:1")
    assert await sessions.resolve(cookie) == "gh:1"
    await sessions.revoke(cookie)
    assert await sessions.resolve(cookie) is None


async def test_a_forged_or_altered_cookie_is_refused(sessions: SessionStore, redis: Redis) -> None:
    cookie = await sessions.create("gh:1")
    session_id = cookie.rsplit(".", 1)[0]
    assert await sessions.resolve(session_id) is None  # unsigned
    assert await sessions.resolve(cookie[:-2] + "xx") is None
    other = SessionStore(redis, SECRET + "-other", IDLE_S, MAX_AGE_S)
    assert await other.resolve(cookie) is None


async def test_an_idle_session_ends_and_use_keeps_it_alive(
    sessions: SessionStore, clock: Clock
) -> None:
    used, idle = await sessions.create("gh:1"), await sessions.create("gh:2")
    for _ in range(3):
        clock.now += IDLE_S * 0.6
        assert await sessions.resolve(used) == "gh:1"
    assert await sessions.resolve(idle) is None  # 1.8 idle periods without a request


async def test_a_session_ends_at_its_max_age_however_busy(
    sessions: SessionStore, clock: Clock
) -> None:
    cookie = await sessions.create("gh:1")
    while clock.now + IDLE_S / 2 < 1_000_000.0 + MAX_AGE_S:
        clock.now += IDLE_S / 2
        assert await sessions.resolve(cookie) == "gh:1"
    clock.now += IDLE_S / 2
    assert await sessions.resolve(cookie) is None


async def test_tokens_are_stored_hashed_listed_and_revoked(redis: Redis) -> None:
    tokens = TokenStore(redis)
    made = await tokens.create("gh:1", "nightly", expires_in_days=None)
    assert made.token.startswith(TOKEN_PREFIX)
    assert await tokens.resolve(made.token) == "gh:1"
    # Nothing in Redis holds the token itself.
    for key in [k async for k in redis.scan_iter("*")]:
        assert made.token not in key
        if await redis.type(key) == "hash":
            assert made.token not in (await redis.hgetall(key)).values()
    assert [t.name for t in await tokens.for_user("gh:1")] == ["nightly"]
    assert await tokens.for_user("gh:2") == []

    with pytest.raises(NotFound):
        await tokens.revoke("gh:2", made.id)  # another user's token: as if it did not exist
    assert await tokens.resolve(made.token) == "gh:1"
    await tokens.revoke("gh:1", made.id)
    assert await tokens.resolve(made.token) is None
    assert await tokens.for_user("gh:1") == []


async def test_a_token_with_an_expiry_carries_a_ttl(redis: Redis) -> None:
    tokens = TokenStore(redis)
    made = await tokens.create("gh:1", "short", expires_in_days=1)
    key = next(iter((await redis.hgetall(keys.user_tokens("gh:1"))).values()))
    ttl = await redis.ttl(keys.api_token(key))
    assert 0 < ttl <= 24 * 3600
    assert made.expires_at is not None


async def test_a_profile_is_replaced_on_rename_and_keeps_its_id(redis: Redis) -> None:
    users = UserStore(redis)
    await users.save(User(id="gh:7", login="old", name="Ada", orgs=["acme"]))
    await users.save(User(id="gh:7", login="new", avatar_url="https://a.example/7.png"))
    user = await users.get("gh:7")
    assert user == User(id="gh:7", login="new", avatar_url="https://a.example/7.png", orgs=[])
    assert await users.get("gh:8") is None
