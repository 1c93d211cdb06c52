"""Every Redis key the gateway writes, in one place.

Ownership instead of expiry: a chat's keys are deleted with the chat, a user's chat index with its
last chat; query locks expire on their own so a crashed gateway cannot wedge a chat.
"""

PREFIX = "ads:"


def user(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}"


def user_chats(user_id: str) -> str:
    """Sorted set of the user's chat ids, scored by creation time."""
    return f"{PREFIX}user:{user_id}:chats"


def chat(chat_id: str) -> str:
    """Hash: chat_id, user_id, created_at, title."""
    return f"{PREFIX}chat:{chat_id}"


def chat_messages(chat_id: str) -> str:
    """List of JSON messages, oldest first."""
    return f"{PREFIX}chat:{chat_id}:messages"


def chat_lock(chat_id: str) -> str:
    """One query at a time per chat; value is a random owner token, with a TTL."""
    return f"{PREFIX}chat:{chat_id}:lock"


def chat_keys(chat_id: str) -> list[str]:
    return [chat(chat_id), chat_messages(chat_id), chat_lock(chat_id)]


def running_queries() -> str:
    """Hash chat_id -> index of its journal entry of the query now running. A gateway that
    starts finds here the queries its predecessor died in the middle of."""
    return f"{PREFIX}running"
