"""The audit log (README: Audit log): an append-only record of sign-ins, tokens, deletions,
restarts, quota refusals and admin actions, with who, what, when and from where.

One Redis stream (keys.audit), owned by no chat or user, so an entry outlives the chat or token
it names. Each write trims the entries older than AUDIT_RETENTION_DAYS (by their id, which is
their time), and a cap on the length bounds what a flood of anonymous failed sign-ins could cost.
An entry's stream id ("<ms>-<n>") is its time, its id in the API and the paging cursor.

Some values come from the client (a GitHub login, a token's name, the User-Agent): each is cut to
a bounded length and made valid UTF-8, and the free `details` are bounded too, so no request can
make an entry large or unwritable.
"""

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT
from starlette.requests import HTTPConnection

from gateway import keys, logs
from gateway.auth.users import User
from shared.errors import AppError, ErrorCode

log = logging.getLogger(__name__)


class AuditAction(StrEnum):
    """What happened; the `action` of an entry and of the API's filter."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    CHAT_DELETED = "chat_deleted"
    SANDBOX_RESTARTED = "sandbox_restarted"
    QUOTA_REFUSED = "quota_refused"
    # Admin actions: whatever an admin does to others' chats, sandboxes, sessions or tokens,
    # and reading the whole audit log out.
    ADMIN_CHAT_DELETED = "admin_chat_deleted"
    ADMIN_SANDBOX_STOPPED = "admin_sandbox_stopped"
    ADMIN_SANDBOX_RESTARTED = "admin_sandbox_restarted"
    ADMIN_SESSIONS_REVOKED = "admin_sessions_revoked"
    ADMIN_AUDIT_EXPORTED = "admin_audit_exported"
    ADMIN_USER_BLOCKED = "admin_user_blocked"
    ADMIN_USER_UNBLOCKED = "admin_user_unblocked"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    # The action was attempted and did not happen (a wrong token, GitHub refusing).
    FAILURE = "failure"
    # A rule said no (a quota, a user not on the allow-list).
    REFUSED = "refused"


class AuditEntry(BaseModel):
    """One entry as the API returns it. `actor_*` are None for an anonymous caller (a failed
    sign-in) or the operator's command line; `ip` is the client's address as the gateway sees
    it (the forwarded one only from a trusted proxy)."""

    id: str
    time: str
    action: str
    outcome: str
    actor_id: str | None = None
    actor_login: str | None = None
    target: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = {}


class AuditPage(BaseModel):
    """Entries newest first; `next_before` is the `before` that gets the next (older) page, or
    None when the log has no more."""

    entries: list[AuditEntry]
    next_before: str | None


class InvalidCursor(AppError):
    status = 400
    code = ErrorCode.INVALID_INPUT


# Up to 19 digits a part: Redis refuses stream ids past 64 bits with an error, not an empty page.
# Empty: the newest entries.
CURSOR_PATTERN = r"^([0-9]{1,19}-[0-9]{1,19})?$"
_CURSOR = re.compile(CURSOR_PATTERN)
DEFAULT_MAX_ENTRIES = 1_000_000
# Bounds on what one entry holds (characters).
_TEXT_MAX = 200
_USER_AGENT_MAX = 256
_DETAIL_KEYS_MAX = 20
_DETAIL_ITEMS_MAX = 50
_DETAILS_MAX = 4000
# A filtered page reads at most this many entries, then hands back a cursor, so one request
# never walks a whole large log.
_SCAN_MAX = 20_000
_FIRST = "0-0"
_BATCH = 500


def parse_cursor(value: str | None) -> str | None:
    """A client's `before`: an entry id the API gave (like 1764633600000-0), or None."""
    if not value:
        return None
    if not _CURSOR.fullmatch(value):
        raise InvalidCursor(
            f"before '{value[:40]}' is not an audit entry id; send the `next_before` of the "
            "previous page (like 1764633600000-0), or none for the newest entries"
        )
    ms, _, seq = value.partition("-")
    return f"{int(ms)}-{int(seq)}"


class AuditLog:
    """The audit stream: `record` appends (and never raises), `entries` pages newest first,
    `export` iterates oldest first."""

    def __init__(
        self, redis: Redis, retention_days: float, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self._redis = redis
        self._retention_ms = int(retention_days * 86_400_000)
        self._max_entries = max_entries

    async def record(
        self,
        action: AuditAction,
        *,
        request: HTTPConnection | None = None,
        actor: User | None = None,
        target: str | None = None,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an entry: `actor` did `action` to `target` (a user, chat or token id), with
        `outcome`; `request` gives where from (address, User-Agent) and the request id; None
        off the HTTP path (the admin command line).

        Never raises: a bad value is cut down or replaced, and when Redis fails the entry is
        logged at ERROR instead, whole, so a log collector keeps it. The action it records has
        already happened (or been refused) by then; failing the request would not undo it.
        """
        try:
            fields = _fields(action, request, actor, target, outcome, details)
        except Exception:
            log.exception("audit entry %s could not be made", action)
            return
        try:
            oldest_kept = max(0, int(time.time() * 1000) - self._retention_ms)
            async with self._redis.pipeline(transaction=False) as pipe:
                # Exact, not `~`: trimming by age is a promise about what the log keeps.
                pipe.xadd(keys.audit(), fields, minid=oldest_kept, approximate=False)
                pipe.xtrim(keys.audit(), maxlen=self._max_entries, approximate=True)
                await pipe.execute()
        except Exception:
            log.error(
                "audit entry not written (the store failed): %s",
                json.dumps(fields, ensure_ascii=False),
                exc_info=True,
            )

    async def entries(
        self,
        limit: int = 100,
        before: str | None = None,
        action: AuditAction | None = None,
        user: str | None = None,
    ) -> AuditPage:
        """Up to `limit` entries older than the entry `before` (else the newest), newest first;
        only those of `action`, and only those where `user` (an id or a login) is the actor or
        the target. A filtered page may hold fewer than `limit` with a `next_before` still."""
        cursor = parse_cursor(before)
        if cursor == _FIRST:
            # Nothing is older than the first possible id (and Redis refuses "(0-0").
            return AuditPage(entries=[], next_before=None)
        high = "+" if cursor is None else f"({cursor}"
        match = _matcher(action, user)
        # Unfiltered, one entry more than the page says whether an older page exists.
        count = limit + 1 if match is None else _BATCH
        found: list[AuditEntry] = []
        scanned = 0
        while True:
            batch = _read(await self._redis.xrevrange(keys.audit(), max=high, min="-", count=count))
            for i, (entry_id, fields) in enumerate(batch):
                entry = _entry(entry_id, fields)
                if len(found) == limit:
                    return AuditPage(entries=found, next_before=found[-1].id)
                scanned += 1
                if match is None or match(entry):
                    found.append(entry)
                if scanned >= _SCAN_MAX and (i + 1 < len(batch) or len(batch) == count):
                    return AuditPage(entries=found, next_before=entry.id)
            if len(batch) < count:
                return AuditPage(entries=found, next_before=None)
            high = f"({batch[-1][0]}"

    async def export(
        self, action: AuditAction | None = None, user: str | None = None
    ) -> AsyncIterator[AuditEntry]:
        """Every retained entry (or those of `action` and `user`, as in `entries`), oldest
        first, read in batches as the caller consumes them."""
        match = _matcher(action, user)
        low = "-"
        while True:
            batch = _read(await self._redis.xrange(keys.audit(), min=low, max="+", count=_BATCH))
            for entry_id, fields in batch:
                entry = _entry(entry_id, fields)
                if match is None or match(entry):
                    yield entry
            if len(batch) < _BATCH:
                return
            low = f"({batch[-1][0]}"


def _read(reply: object) -> list[tuple[str, dict[str, str]]]:
    """XRANGE's reply as text. redis-py types every entry's id and fields as optional (for
    entries deleted under a consumer group, which this stream never has)."""
    entries = cast(list[tuple[str, dict[bytes | str, bytes | str]]], reply or [])
    return [(keys.text(entry_id), keys.text_hash(fields)) for entry_id, fields in entries]


def _matcher(action: AuditAction | None, user: str | None) -> Callable[[AuditEntry], bool] | None:
    if action is None and not user:
        return None
    wanted = user.lower() if user else None

    def match(entry: AuditEntry) -> bool:
        if action is not None and entry.action != action:
            return False
        if wanted is None:
            return True
        return wanted in (
            (entry.actor_id or "").lower(),
            (entry.actor_login or "").lower(),
            (entry.target or "").lower(),
        )

    return match


def _text(value: object, limit: int = _TEXT_MAX) -> str:
    """`value` as text Redis can store (lone surrogates replaced) and no longer than `limit`."""
    text = value if isinstance(value, str) else str(value)
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def _detail(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_detail(item) for item in list(value)[:_DETAIL_ITEMS_MAX]]
    return _text(value)


def _details(details: Mapping[str, Any] | None) -> str | None:
    if not details:
        return None
    cleaned = {
        _text(key, 40): _detail(value) for key, value in list(details.items())[:_DETAIL_KEYS_MAX]
    }
    text = json.dumps(cleaned, ensure_ascii=False, default=str)
    if len(text) > _DETAILS_MAX:
        text = json.dumps({"truncated": text[:_DETAILS_MAX]}, ensure_ascii=False)
    return text


def _fields(
    action: AuditAction,
    request: HTTPConnection | None,
    actor: User | None,
    target: str | None,
    outcome: AuditOutcome,
    details: Mapping[str, Any] | None,
) -> dict[FieldT, EncodableT]:
    fields: dict[FieldT, EncodableT] = {
        "action": _text(action.value),
        "outcome": _text(outcome.value),
    }
    if actor is not None:
        fields["actor_id"] = _text(actor.id)
        fields["actor_login"] = _text(actor.login)
    if target is not None:
        fields["target"] = _text(target)
    if request is not None:
        if request.client is not None:
            fields["ip"] = _text(request.client.host)
        user_agent = request.headers.get("user-agent")
        if user_agent:
            fields["user_agent"] = _text(user_agent, _USER_AGENT_MAX)
    context = logs.current()
    if context is not None:
        fields["request_id"] = context.request_id
    text = _details(details)
    if text is not None:
        fields["details"] = text
    return fields


def _time(entry_id: str) -> str:
    ms = int(entry_id.partition("-")[0])
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _entry(entry_id: str, fields: dict[str, str]) -> AuditEntry:
    try:
        details = json.loads(fields.get("details") or "{}")
    except ValueError:
        details = {"unreadable": fields.get("details", "")[:_TEXT_MAX]}
    return AuditEntry(
        id=entry_id,
        time=_time(entry_id),
        action=fields.get("action", ""),
        outcome=fields.get("outcome", ""),
        actor_id=fields.get("actor_id"),
        actor_login=fields.get("actor_login"),
        target=fields.get("target"),
        ip=fields.get("ip"),
        user_agent=fields.get("user_agent"),
        request_id=fields.get("request_id"),
        details=details if isinstance(details, dict) else {"value": details},
    )
