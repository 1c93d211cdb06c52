"""Per-user quotas (README: Operating, "Quotas"), each checked before the work starts and each off
at 0: chats (USER_MAX_CHATS), running sandboxes (USER_MAX_RUNNING_SANDBOXES: the user's least
recently used one is stopped to make room, its state kept), disk (USER_DISK_LIMIT: the chats'
files and saved variables as last measured) and LLM tokens per UTC day
(USER_LLM_TOKENS_PER_DAY).

A refusal is a 429 whose detail names the limit and what to do; it is counted in the metrics and
written to the audit log. The checks read counts and then act, so two requests of one user that
race can each pass a limit the other then reaches: the quotas bound use, they do not meter it.
"""

import logging
from collections.abc import Awaitable, Callable

from gateway import metrics
from gateway.chats.store import Chat, ChatStore
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.disk_usage import size_text
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from gateway.usage import UsageStore
from shared.errors import QuotaExceeded

log = logging.getLogger(__name__)

# (quota, user id, detail): what the gateway does with a refusal besides answering it.
OnRefusal = Callable[[str, str, str], Awaitable[None]]


async def _nothing(quota: str, user_id: str, detail: str) -> None:
    return None


class Quotas:
    def __init__(
        self,
        settings: Settings,
        chats: ChatStore,
        usage: UsageStore,
        sandboxes: SandboxManager,
        coordination: SandboxCoordination,
        on_refusal: OnRefusal = _nothing,
    ) -> None:
        self._settings = settings
        self._chats = chats
        self._usage = usage
        self._sandboxes = sandboxes
        self._coordination = coordination
        self.on_refusal = on_refusal

    async def _refuse(self, quota: str, user_id: str, detail: str) -> QuotaExceeded:
        metrics.quota_refused(quota)
        await self.on_refusal(quota, user_id, detail)
        return QuotaExceeded(detail)

    async def check_new_chat(self, user_id: str) -> None:
        limit = self._settings.user_max_chats
        if limit and await self._chats.count_for_user(user_id) >= limit:
            raise await self._refuse(
                "chats",
                user_id,
                f"you have {limit} chats, the most this server allows one user "
                "(USER_MAX_CHATS); delete chats you no longer need (DELETE /chat/{chat_id}), "
                "or ask the operator to raise the limit",
            )

    async def check_llm_tokens(self, user_id: str) -> None:
        limit = self._settings.user_llm_tokens_per_day
        if limit and (used := await self._usage.llm_tokens_today(user_id)) >= limit:
            raise await self._refuse(
                "llm_tokens",
                user_id,
                f"you have used {used:,} LLM tokens today, past the {limit:,} a user may use per "
                'UTC day (USER_LLM_TOKENS_PER_DAY); run code directly ({"code": ...}) until '
                "midnight UTC, or ask the operator to raise the limit",
            )

    async def count_llm_tokens(self, user_id: str, usage: dict[str, int]) -> None:
        """Add one model call's tokens (its `usage` as the API reported it) to the user's."""
        await self._usage.add_llm_tokens(user_id, usage.get("total_tokens", 0))

    async def room_for_sandbox(self, chat: Chat) -> None:
        """Before a run starts: room for the chat's sandbox (see make_room), asked of Docker
        only when this process does not know it runs already."""
        await self._sandboxes.ensure_room(chat)

    async def make_room(self, chat: Chat) -> None:
        """Before the chat's sandbox starts: when its user has USER_MAX_RUNNING_SANDBOXES
        running already, stop their least recently used ones in which no query runs (their
        state is kept and comes back on their next query); refuse when every one is busy."""
        limit = self._settings.user_max_running_sandboxes
        if not limit:
            return
        running = await self._sandboxes.running_chats()
        if chat.chat_id in running:
            return
        owners = await self._chats.owners(running)
        mine = [chat_id for chat_id in running if owners.get(chat_id) == chat.user_id]
        if len(mine) < limit:
            return
        last_used = await self._coordination.idle_at(mine)
        # Never touched by any process (adopted, or older): least recent of all.
        for candidate in sorted(mine, key=lambda chat_id: last_used.get(chat_id, 0.0)):
            if await self._sandboxes.stop_unused(candidate, why="making room for " + chat.chat_id):
                mine.remove(candidate)
                if len(mine) < limit:
                    return
        raise await self._refuse(
            "running_sandboxes",
            chat.user_id,
            f"you have {len(mine)} sandboxes running, the most this server allows one user "
            "(USER_MAX_RUNNING_SANDBOXES), and a query is running in each; wait for one to "
            "finish or stop it (POST /chat/{chat_id}/stop), then try again",
        )

    async def disk_room(
        self, user_id: str, chat_id: str, chat_bytes: int, size: int | None
    ) -> int | None:
        """Bytes the user may still add to this chat under USER_DISK_LIMIT (None: no limit),
        given what the chat uses now; a refusal when they are past it already, or when an
        upload of `size` bytes (when known up front) would take them past."""
        limit = self._settings.user_disk_limit
        if not limit:
            return None
        used = await self._usage.disk_bytes(user_id, except_chat=chat_id) + chat_bytes
        if used >= limit or (size is not None and used + size > limit):
            raise await self._refuse("disk", user_id, disk_refusal(used, limit, size))
        return limit - used

    async def after_measure(self, user_id: str, chat_id: str, chat_bytes: int) -> str | None:
        """Record the chat's measured use; a warning when the user is past USER_DISK_LIMIT."""
        await self._usage.record_disk(user_id, chat_id, chat_bytes)
        limit = self._settings.user_disk_limit
        if not limit:
            return None
        used = await self._usage.disk_bytes(user_id)
        if used <= limit:
            return None
        return (
            f"All your chats together use {size_text(used)}, past your disk limit of "
            f"{size_text(limit)} (USER_DISK_LIMIT). Uploads are refused until you are back "
            "under: delete files or chats you no longer need."
        )


def disk_refusal(used: int, limit: int, size: int | None) -> str:
    what = f"all your chats together use {size_text(used)}"
    if used >= limit:
        what += f", past your disk limit of {size_text(limit)}"
    else:
        what += f" of your {size_text(limit)} disk limit"
        if size is not None:
            what += f"; this upload of {size_text(size)} would take you past it"
    return (
        f"{what} (USER_DISK_LIMIT); delete files or chats you no longer need, or ask the "
        "operator to raise the limit"
    )
