"""The admin API (README: Operating): users, sandboxes and the actions on them. Every route here
answers 404 to anyone but an admin, as if it did not exist; every action is audited."""

from fastapi import APIRouter, Request

from gateway.admin.service import ChatRow, Revoked, SandboxRow, UserRow
from gateway.api.deps import AdminDep, AdminServiceDep, AuditDep
from gateway.api.openapi import errors
from gateway.audit import AuditAction
from gateway.auth.users import User
from gateway.chats.store import ChatSummary

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/users")
async def list_users(admin: AdminDep, service: AdminServiceDep) -> list[UserRow]:
    """Every user: chats, running sandboxes, disk used, LLM tokens today and in total, last
    seen, blocked."""
    return await service.users()


@router.get("/users/{user_id}/chats", responses=errors(404))
async def user_chats(user_id: str, admin: AdminDep, service: AdminServiceDep) -> list[ChatRow]:
    """One user's chats, newest first, with their sandbox's state."""
    return await service.chats_of(user_id)


@router.get("/sandboxes")
async def list_sandboxes(admin: AdminDep, service: AdminServiceDep) -> list[SandboxRow]:
    """Every sandbox (pooled ones too): chat, user, state, memory and CPU now, idle for,
    started at, image, runtime."""
    return await service.sandboxes()


@router.post("/sandboxes/{chat_id}/stop", responses=errors(404))
async def stop_sandbox(
    chat_id: str, request: Request, admin: AdminDep, service: AdminServiceDep, audit: AuditDep
) -> ChatSummary:
    """Stop the chat's sandbox, its variables and files kept (a running query is stopped)."""
    chat = await service.stop_sandbox(chat_id)
    await audit.record(
        AuditAction.ADMIN_SANDBOX_STOPPED,
        request=request,
        actor=admin,
        target=chat_id,
        details={"user_id": chat.user_id},
    )
    return chat


@router.post("/sandboxes/{chat_id}/restart", responses=errors(404))
async def restart_sandbox(
    chat_id: str, request: Request, admin: AdminDep, service: AdminServiceDep, audit: AuditDep
) -> ChatSummary:
    """Restart the chat's sandbox; its variables and files come back."""
    chat = await service.restart_sandbox(chat_id)
    await audit.record(
        AuditAction.ADMIN_SANDBOX_RESTARTED,
        request=request,
        actor=admin,
        target=chat_id,
        details={"user_id": chat.user_id},
    )
    return chat


@router.delete("/chats/{chat_id}", responses=errors(404))
async def delete_chat(
    chat_id: str, request: Request, admin: AdminDep, service: AdminServiceDep, audit: AuditDep
) -> dict[str, str]:
    """Delete any user's chat with its sandbox, files and variables."""
    chat = await service.delete_chat(chat_id)
    await audit.record(
        AuditAction.ADMIN_CHAT_DELETED,
        request=request,
        actor=admin,
        target=chat_id,
        details={"user_id": chat.user_id, "title": chat.title},
    )
    return {"deleted": chat_id}


@router.post("/users/{user_id}/revoke", responses=errors(404))
async def revoke(
    user_id: str, request: Request, admin: AdminDep, service: AdminServiceDep, audit: AuditDep
) -> Revoked:
    """End every sign-in session of the user and delete their API tokens."""
    revoked = await service.revoke(user_id)
    await audit.record(
        AuditAction.ADMIN_SESSIONS_REVOKED,
        request=request,
        actor=admin,
        target=user_id,
        details={"sessions": revoked.sessions, "tokens": revoked.tokens},
    )
    return revoked


@router.post("/users/{user_id}/block", responses=errors(400, 404))
async def block(
    user_id: str, request: Request, admin: AdminDep, service: AdminServiceDep, audit: AuditDep
) -> User:
    """Block the user: every request of theirs is refused (403 user_blocked) until unblocked."""
    user = await service.set_blocked(user_id, True)
    await audit.record(AuditAction.ADMIN_USER_BLOCKED, request=request, actor=admin, target=user_id)
    return user


@router.post("/users/{user_id}/unblock", responses=errors(400, 404))
async def unblock(
    user_id: str, request: Request, admin: AdminDep, service: AdminServiceDep, audit: AuditDep
) -> User:
    """Let a blocked user in again."""
    user = await service.set_blocked(user_id, False)
    await audit.record(
        AuditAction.ADMIN_USER_UNBLOCKED, request=request, actor=admin, target=user_id
    )
    return user
