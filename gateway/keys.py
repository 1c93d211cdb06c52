"""Every Redis key the gateway writes, in one place, and how values are read back as text.

Ownership instead of expiry: a chat's keys are deleted with the chat, a user's chat index with its
last chat; query locks expire on their own so a crashed gateway cannot wedge a chat. Sign-in
sessions, OAuth states and API tokens with an expiry carry a TTL; a user's profile and token index
live as long as the user.
"""

from collections.abc import Mapping

PREFIX = "ads:"


def user(user_id: str) -> str:
    """Hash: the user's GitHub profile (login, name, avatar_url, orgs), updated at each sign-in."""
    return f"{PREFIX}user:{user_id}"


def user_tokens(user_id: str) -> str:
    """Hash token id -> sha256 of the token: the user's API tokens, for listing and revoking."""
    return f"{PREFIX}user:{user_id}:tokens"


def users() -> str:
    """Sorted set user id -> unix time last seen: every user who has used this server, for the
    admin views; written at most once a minute per user and process (gateway.usage)."""
    return f"{PREFIX}users"


def user_sessions(user_id: str) -> str:
    """Set of the user's sign-in session ids, so an admin can end them all; ids of sessions
    that expired on their own are dropped when the next one is made. Expires with the longest
    session."""
    return f"{PREFIX}user:{user_id}:sessions"


def user_tokens_used(user_id: str, day: str) -> str:
    """Counter: LLM tokens the user used on one UTC day (YYYY-MM-DD); expires a week later."""
    return f"{PREFIX}user:{user_id}:llm-tokens:{day}"


def user_usage(user_id: str) -> str:
    """Hash: the user's running totals (llm_tokens), kept as long as the user."""
    return f"{PREFIX}user:{user_id}:usage"


def user_disk(user_id: str) -> str:
    """Hash chat id -> bytes its files and saved variables used when last measured; a chat's
    field goes with the chat. Their sum is what USER_DISK_LIMIT is checked against."""
    return f"{PREFIX}user:{user_id}:disk"


def login(session_id: str) -> str:
    """Hash: user_id, created_at, last_seen of a sign-in session; its TTL is the sooner of the
    idle and the absolute expiry."""
    return f"{PREFIX}login:{session_id}"


def oauth_state(name: str) -> str:
    """A GitHub sign-in in progress (authlib's state data: PKCE verifier, redirect URI); expires
    with the sign-in window and is deleted when the callback uses it, so it works once."""
    return f"{PREFIX}oauth:{name}"


def sandbox_uid_counter() -> str:
    """Counter: the last host uid handed to a chat's sandbox (SANDBOX_UID_BASE + n). Never
    decremented, so no two chats ever share a uid, even after one is deleted."""
    return f"{PREFIX}sandbox-uid:last"


def api_token(digest: str) -> str:
    """Hash: id, user_id, name, created_at, expires_at of an API token, keyed by the token's
    sha256; its TTL is the token's expiry."""
    return f"{PREFIX}token:{digest}"


def user_chats(user_id: str) -> str:
    """Sorted set of the user's chat ids, scored by creation time."""
    return f"{PREFIX}user:{user_id}:chats"


def chat(chat_id: str) -> str:
    """Hash: chat_id, user_id, created_at, title, sandbox_uid (once its sandbox first ran)."""
    return f"{PREFIX}chat:{chat_id}"


def chat_messages(chat_id: str) -> str:
    """List of JSON messages, oldest first."""
    return f"{PREFIX}chat:{chat_id}:messages"


def chat_lock(chat_id: str) -> str:
    """One query at a time per chat; value is a random owner token, with a TTL."""
    return f"{PREFIX}chat:{chat_id}:lock"


def chat_deleted(chat_id: str) -> str:
    """Set when the chat's deletion begins, with a TTL: a sandbox start racing the delete sees it
    and backs off, so no container or folder outlives the chat. Outlives the chat's other keys on
    purpose; the TTL is its owner."""
    return f"{PREFIX}chat:{chat_id}:deleted"


def sandbox_start(chat_id: str) -> str:
    """Lease (gateway.leases): held by the one gateway process starting, stopping or removing
    the chat's sandbox, so two processes never make two containers or stop one being started."""
    return f"{PREFIX}chat:{chat_id}:sandbox"


def sandbox_idle_at() -> str:
    """Sorted set chat_id -> unix time from which its sandbox counts as idle: its last use, by
    any gateway process, plus that process's SANDBOX_IDLE_TIMEOUT_S. What the reaper goes by."""
    return f"{PREFIX}sandbox:idle-at"


def idle_reaper() -> str:
    """Lease: held by the gateway process stopping idle sandboxes now (one at a time)."""
    return f"{PREFIX}sandbox:reaper"


def pool_ready(scope: str) -> str:
    """List of JSON {"id", "uid"}: the pooled sandboxes of one scope (DATA_DIR and every setting
    a sandbox is made with, by digest) that are started, warm and unclaimed, oldest first. A
    claim pops one, so no two chats ever get the same sandbox (gateway/sandbox/pool.py)."""
    return f"{PREFIX}pool:{scope}:ready"


def pool_claiming(scope: str) -> str:
    """Hash pool id -> JSON {"chat", "at"}: pooled sandboxes popped for a chat whose claim has
    not finished; one left here by a process that died mid-claim is removed after a while."""
    return f"{PREFIX}pool:{scope}:claiming"


def pool_filler(scope: str) -> str:
    """Lease: held by the gateway process making pooled sandboxes of this scope now."""
    return f"{PREFIX}pool:{scope}:filler"


def gateway_heartbeat(owner: str) -> str:
    """Set while the gateway process `owner` lives, with a TTL it keeps renewing
    (gateway.runs.owners)."""
    return f"{PREFIX}gateway:{owner}"


def run_stops() -> str:
    """Pub/sub channel: requests to stop a run, heard by every gateway process; the one running
    the run stops it (gateway.runs.stops)."""
    return f"{PREFIX}runs:stop"


def run_events(chat_id: str, run_id: str) -> str:
    """Stream: the events of one run (an agent query or a code run) of the chat, as its SSE
    stream sends them, for any process to replay and follow; bounded, and expiring once the run
    has ended (gateway.runs.events)."""
    return f"{PREFIX}chat:{chat_id}:run:{run_id}:events"


def audit() -> str:
    """Stream: the audit log (gateway.audit), one entry per security-relevant action. Owned by
    no chat or user, so it outlives what it mentions; every write trims what is older than
    AUDIT_RETENTION_DAYS, and a cap on its length bounds a flood of failed sign-ins."""
    return f"{PREFIX}audit"


def chat_keys(chat_id: str) -> list[str]:
    return [chat(chat_id), chat_messages(chat_id), chat_lock(chat_id)]


def running_queries() -> str:
    """Hash chat_id -> the query now running there: JSON with its journal entry's index, the
    owner id of the gateway process running it, its query lock's token and its run id. Any
    process finds here the queries whose owner died in the middle of them
    (gateway.runs.owners)."""
    return f"{PREFIX}running"


def text(value: bytes | str) -> str:
    """A value read back from Redis. The gateway's client decodes replies (decode_responses=True,
    main.py), so this is always str; redis-py's types cannot say which way a client was made."""
    if isinstance(value, bytes):
        raise TypeError("the Redis client must be made with decode_responses=True")
    return value


def text_or_none(value: bytes | str | None) -> str | None:
    """A value that may be missing (GET, HGET, GETDEL), read back as text."""
    return None if value is None else text(value)


def text_hash(data: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash read back from Redis (HGETALL) as text."""
    return {text(key): text(value) for key, value in data.items()}
