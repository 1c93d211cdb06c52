"""A chat's session state asks the executor again only when the request never reached it: a
sandbox found stopped is started once more, but one that may have acted, that did not answer in
time, or that answered with an error is reported as such.

The executor is the scripted fake; the sandbox manager a small subclass at the Docker boundary
that hands out its client and counts the starts it was asked for.
"""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.chats.store import Chat, ChatStore
from gateway.sandbox.executor import ExecutorClient
from gateway.sandbox.manager import SandboxManager
from gateway.sandbox.state import SessionService
from gateway.settings import Settings
from shared.errors import SandboxError, SandboxFailed
from tests.unit.gateway.sandbox.scripted_executor import CHAT_ID, ScriptedExecutor


class ScriptedSandboxes(SandboxManager):
    """Every sandbox is the scripted executor; nothing reaches Docker."""

    def __init__(self, executor: ScriptedExecutor) -> None:
        self.executor_client = executor.client()
        self.starts = 0
        self.marked_unavailable = 0

    async def ensure_running(self, chat: Chat) -> ExecutorClient:
        self.starts += 1
        return self.executor_client

    def mark_unavailable(self, chat_id: str) -> None:
        self.marked_unavailable += 1


@pytest.fixture
async def sandboxes(executor: ScriptedExecutor) -> AsyncIterator[ScriptedSandboxes]:
    sandboxes = ScriptedSandboxes(executor)
    yield sandboxes
    await sandboxes.executor_client.aclose()


@pytest.fixture
def sessions(redis: Redis, sandboxes: ScriptedSandboxes) -> SessionService:
    return SessionService(ChatStore(redis), sandboxes, Settings(auth_mode="local"))


CHAT = Chat(chat_id=CHAT_ID, user_id="user-1", created_at="2026-01-01T00:00:00+00:00")


async def test_a_stopped_sandbox_is_started_again_and_asked_once_more(
    executor: ScriptedExecutor, sessions: SessionService, sandboxes: ScriptedSandboxes
) -> None:
    executor.shutdown()
    executor.server_close()  # no socket: the sandbox is stopped
    with pytest.raises(SandboxError, match="could not be reached"):
        await sessions.variable(CHAT, "df", 0, 10)
    assert (sandboxes.starts, sandboxes.marked_unavailable) == (2, 2)


async def test_a_request_the_executor_may_have_acted_on_is_not_sent_again(
    executor: ScriptedExecutor, sessions: SessionService, sandboxes: ScriptedSandboxes
) -> None:
    executor.behaviour = "drop"
    with pytest.raises(SandboxError, match="stopped answering while it handled the request"):
        await sessions.variable(CHAT, "df", 0, 10)
    assert executor.requests == ["GET /variables/df?offset=0&limit=10"]
    assert sandboxes.starts == 1


async def test_an_error_answer_is_reported_as_it_is_and_not_sent_again(
    executor: ScriptedExecutor, sessions: SessionService, sandboxes: ScriptedSandboxes
) -> None:
    executor.status, executor.body = 500, b'{"detail": "MemoryError: "}'
    with pytest.raises(SandboxFailed, match=r"\(500\): MemoryError"):
        await sessions.variable(CHAT, "df", 0, 10)
    assert len(executor.requests) == 1
    assert (sandboxes.starts, sandboxes.marked_unavailable) == (1, 0)
