"""Chats: create, list, look up, delete."""

from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import (
    AuditDep,
    ChatDep,
    ChatStoreDep,
    QuotasDep,
    SandboxesDep,
    SettingsDep,
    UserDep,
)
from gateway.api.openapi import errors
from gateway.audit import AuditAction
from gateway.chats.journal import HistoryRecord
from gateway.chats.store import Chat, ChatStore
from gateway.sandbox.manager import SandboxManager
from gateway.settings import DEFAULT_IMAGE
from shared.env import Env
from shared.errors import NotFound

router = APIRouter(tags=["chats"])


class ChatInfo(Chat):
    """A chat, and the run going on in it now, if any: a page opened later attaches to it
    (GET /chat/{chat_id}/runs/{active_run_id}/events)."""

    active_run_id: str | None


class NewChat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(
        default=DEFAULT_IMAGE,
        max_length=40,
        description="the sandbox image, by its name in SANDBOX_IMAGES (GET /images)",
    )
    env: Env = Field(
        default={},
        description="environment variables every run in the chat gets (a run's own `env` wins "
        "for that run): names of letters, digits and _, at most 100, each value at most 32 KiB",
    )


@router.post("/create_chat", status_code=201, responses=errors(404, 429))
async def create_chat(
    user: UserDep,
    chats: ChatStoreDep,
    settings: SettingsDep,
    quotas: QuotasDep,
    # Optional: the brief's `curl -X POST /create_chat` sends no body at all.
    body: Annotated[NewChat | None, Body()] = None,
) -> Chat:
    """Create a new chat, on the default sandbox image or one named in SANDBOX_IMAGES (404
    for another name), with the environment variables its runs get; its sandbox starts on the
    first query."""
    body = body or NewChat()
    image = body.image
    if image not in settings.image_choices:
        raise NotFound(
            f"no sandbox image named {image!r}; the images are: "
            + ", ".join(settings.image_choices)
        )
    await quotas.check_new_chat(user.id)
    return await chats.create(user.id, image, body.env)


@router.get("/chats")
@router.post("/chats")
async def list_chats(user: UserDep, chats: ChatStoreDep) -> list[ChatInfo]:
    """The caller's chats, newest first (POST is accepted too, as in the brief), each with the
    id of its run going on now, if any."""
    mine = await chats.for_user(user.id)
    active = await chats.active_runs([chat.chat_id for chat in mine])
    return [ChatInfo(**chat.model_dump(), active_run_id=active.get(chat.chat_id)) for chat in mine]


@router.get("/chat/{chat_id}")
async def get_chat(chat: ChatDep, chats: ChatStoreDep) -> ChatInfo:
    """The chat, with the id of its run going on now, if any."""
    active = await chats.active_runs([chat.chat_id])
    return ChatInfo(**chat.model_dump(), active_run_id=active.get(chat.chat_id))


@router.delete("/chat/{chat_id}")
async def delete_chat(
    chat: ChatDep,
    request: Request,
    user: UserDep,
    chats: ChatStoreDep,
    sandboxes: SandboxesDep,
    audit: AuditDep,
) -> dict[str, str]:
    """Delete a chat with its sandbox, files and variables."""
    await _delete(chat, chats, sandboxes)
    await audit.record(
        AuditAction.CHAT_DELETED,
        request=request,
        actor=user,
        target=chat.chat_id,
    )
    return {"deleted": chat.chat_id}


@router.get("/chat/{chat_id}/messages")
async def chat_messages(chat: ChatDep, chats: ChatStoreDep) -> list[HistoryRecord]:
    """The chat's history, oldest first: each query with its code and result."""
    return await chats.messages(chat.chat_id)


@router.delete("/chats/all")
async def delete_all_chats(
    request: Request,
    user: UserDep,
    chats: ChatStoreDep,
    sandboxes: SandboxesDep,
    audit: AuditDep,
) -> dict[str, list[str]]:
    """Delete all of the caller's chats."""
    deleted: list[str] = []
    for chat in await chats.for_user(user.id):
        await _delete(chat, chats, sandboxes)
        # An entry per chat, so the log can be searched by the chat it names. No title: what
        # the user wrote goes with the chat.
        await audit.record(
            AuditAction.CHAT_DELETED,
            request=request,
            actor=user,
            target=chat.chat_id,
            details={"all": True},
        )
        deleted.append(chat.chat_id)
    return {"deleted": deleted}


async def _delete(chat: Chat, chats: ChatStore, sandboxes: SandboxManager) -> None:
    # Marked first, so a query racing this delete cannot start the sandbox again once it is
    # removed; the records go last, so a delete cut short can be sent again.
    await chats.mark_deleted(chat.chat_id)
    await sandboxes.remove(chat.chat_id)
    await chats.delete(chat)
