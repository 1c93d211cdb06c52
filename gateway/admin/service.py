"""What admins see and do (README: Operating): the users and their use, every sandbox with its
resource use, and the actions: stop or restart a sandbox, delete a chat, end a user's sessions
and API tokens, block or unblock a user. The admin API (gateway.api.routes.admin) and the
command line (`python -m gateway.admin`) both call this."""

import asyncio
import time
from datetime import UTC, datetime

from pydantic import BaseModel

from gateway.auth.authenticator import LOCAL_USER_ID, Authenticator
from gateway.auth.users import User
from gateway.chats.removal import delete_chat
from gateway.chats.store import Chat, ChatStore, ChatSummary
from gateway.runs.stops import RunStops
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.inventory import SandboxKind
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from gateway.usage import UsageStore
from shared.errors import ErrorCode, InvalidInput, NotFound

# How long an admin's stop waits for a running query to end after asking it to, before the
# container is stopped under it.
_STOP_RUN_WAIT_S = 5.0


class UserRow(BaseModel):
    id: str
    login: str
    name: str | None
    admin: bool
    blocked: bool
    chats: int
    running_sandboxes: int
    disk_bytes: int
    llm_tokens_today: int
    llm_tokens_total: int
    last_seen: str | None


class SandboxRow(BaseModel):
    container: str
    # "chat", "pool" (warm, no chat has claimed it yet) or "installer" (a chat's package install).
    kind: SandboxKind
    # The chat it serves or installs for; None for a pooled sandbox.
    chat_id: str | None
    user_id: str | None
    state: str
    memory_bytes: int | None
    memory_limit_bytes: int | None
    cpu_percent: float | None
    # Since its last use by any gateway process; None when stopped or never used.
    idle_for_s: float | None
    started_at: str | None
    image: str
    runtime: str


class ChatRow(ChatSummary):
    sandbox: str | None


class Revoked(BaseModel):
    user_id: str
    sessions: int
    tokens: int


def _iso(unix: float | None) -> str | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC).isoformat()


class AdminService:
    def __init__(
        self,
        settings: Settings,
        chats: ChatStore,
        sandboxes: SandboxManager,
        coordination: SandboxCoordination,
        usage: UsageStore,
        auth: Authenticator,
        stops: RunStops | None,
    ) -> None:
        self._local = settings.effective_auth_mode == "local"
        self._idle_timeout_s = settings.sandbox_idle_timeout_s
        self._chats = chats
        self._sandboxes = sandboxes
        self._coordination = coordination
        self._usage = usage
        self._auth = auth
        self._stops = stops

    async def users(self) -> list[UserRow]:
        """Every user seen here, most recently seen first."""
        known = await self._usage.known_users()
        if self._local:
            known.setdefault(LOCAL_USER_ID, 0.0)
        running = await self._sandboxes.running_chats()
        owners = await self._chats.owners(running)
        rows = []
        for user_id in sorted(known, key=lambda u: known[u], reverse=True):
            profile = await self._auth.user(user_id)
            if profile is None:
                continue  # a user of the other sign-in mode
            usage = await self._usage.of(user_id)
            rows.append(
                UserRow(
                    id=user_id,
                    login=profile.login,
                    name=profile.name,
                    admin=self._auth.admins.includes(profile),
                    blocked=profile.blocked,
                    chats=await self._chats.count_for_user(user_id),
                    running_sandboxes=sum(1 for owner in owners.values() if owner == user_id),
                    disk_bytes=usage.disk_bytes,
                    llm_tokens_today=usage.llm_tokens_today,
                    llm_tokens_total=usage.llm_tokens_total,
                    last_seen=_iso(usage.last_seen or None),
                )
            )
        return rows

    async def sandboxes(self) -> list[SandboxRow]:
        views = await self._sandboxes.inventory()
        chat_ids = [view.chat_id for view in views if view.chat_id]
        owners = await self._chats.owners(chat_ids)
        idle_at = await self._coordination.idle_at(chat_ids)
        now = time.time()
        rows = []
        for view in views:
            last_used = idle_at.get(view.chat_id or "")
            idle_for = None
            if last_used is not None and view.state == "running" and view.kind == "chat":
                idle_for = round(max(0.0, now - (last_used - self._idle_timeout_s)), 1)
            rows.append(
                SandboxRow(
                    **view.model_dump(exclude={"chat_id"}),
                    chat_id=view.chat_id,
                    user_id=owners.get(view.chat_id or ""),
                    idle_for_s=idle_for,
                )
            )
        return rows

    async def chats_of(self, user_id: str) -> list[ChatRow]:
        mine = await self._chats.for_user(user_id)
        states = await self._sandboxes.states()
        return [
            ChatRow(**chat.summary().model_dump(), sandbox=states.get(chat.chat_id))
            for chat in mine
        ]

    async def _chat(self, chat_id: str) -> Chat:
        chat = await self._chats.find(chat_id)
        if chat is None:
            raise NotFound(f"chat '{chat_id}' not found", ErrorCode.CHAT_NOT_FOUND)
        return chat

    async def stop_sandbox(self, chat_id: str) -> ChatSummary:
        """Stop the chat's sandbox, its state kept. A query running there is asked to stop
        first, and given a few seconds."""
        chat = await self._chat(chat_id)
        running = await self._chats.running_query(chat_id)
        if running is not None and self._stops is not None and running.lock:
            await self._stops.request(chat_id, running.lock)
            deadline = time.monotonic() + _STOP_RUN_WAIT_S
            while await self._chats.query_running(chat_id) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        if not await self._sandboxes.stop_unused(chat_id, why="stopped by an admin"):
            await self._sandboxes.stop(chat_id)
        return chat.summary()

    async def restart_sandbox(self, chat_id: str) -> ChatSummary:
        """Restart the chat's container; its variables and files come back."""
        chat = await self._chat(chat_id)
        if not await self._sandboxes.restart(chat_id):
            raise NotFound(
                f"chat '{chat_id}' has no sandbox to restart (it starts on its next query)"
            )
        return chat.summary()

    async def delete_chat(self, chat_id: str) -> Chat:
        chat = await self._chat(chat_id)
        await delete_chat(chat, self._chats, self._sandboxes)
        return chat

    async def _known_user(self, user_id: str) -> User:
        profile = await self._auth.user(user_id)
        if profile is None:
            raise NotFound(f"user '{user_id}' not found")
        return profile

    async def revoke(self, user_id: str) -> Revoked:
        """End every sign-in session and delete every API token of the user."""
        await self._known_user(user_id)
        sessions = await self._auth.sessions.revoke_all(user_id)
        return Revoked(
            user_id=user_id, sessions=sessions, tokens=await self._auth.tokens.revoke_all(user_id)
        )

    async def set_blocked(self, user_id: str, blocked: bool) -> User:
        profile = await self._known_user(user_id)
        if self._local:
            raise InvalidInput("local mode has one user, its admin, who cannot be blocked")
        if blocked and self._auth.admins.includes(profile):
            raise InvalidInput(
                f"'{profile.login}' is an admin (ADMIN_GITHUB_USERS); take them off that list "
                "before blocking them"
            )
        await self._auth.users.set_blocked(user_id, blocked)
        return profile.model_copy(update={"blocked": blocked})
