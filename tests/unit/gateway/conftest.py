"""Fixtures for the gateway's in-process tests: the stores run against the session's real Redis."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

# The gateways of the integration tests use database 0 of the same server; these tests empty
# their own database before each test and leave theirs alone.
_DATABASE = 9


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test Redis, on a database emptied for this test."""
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{_DATABASE}", decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()
