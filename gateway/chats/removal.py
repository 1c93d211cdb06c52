"""Deleting a chat: the one order of steps that the user's delete and an admin's share."""

from gateway.chats.store import Chat, ChatStore
from gateway.sandbox.manager import SandboxManager


async def delete_chat(chat: Chat, chats: ChatStore, sandboxes: SandboxManager) -> None:
    # Marked first, so a query racing this delete cannot start the sandbox again once it is
    # removed; the records go last, so a delete cut short can be sent again.
    await chats.mark_deleted(chat.chat_id)
    await sandboxes.remove(chat.chat_id)
    await chats.delete(chat)
