"""The audit log's store against a real Redis: what an entry holds, paging, filters, export,
trimming by age and by length, and that recording never raises."""

import logging
import time

import pytest
from redis.asyncio import Redis
from starlette.requests import Request

from gateway import keys, logs
from gateway.audit import AuditAction, AuditLog, AuditOutcome, InvalidCursor, parse_cursor
from gateway.auth.users import User
from tests.services import free_port

ALICE = User(id="gh:1001", login="alice")
BOB = User(id="gh:1002", login="bob")
DAY_MS = 86_400_000


def _request(headers: dict[str, str] | None = None, client: str = "203.0.113.7") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": raw, "client": (client, 1)}
    )


async def test_an_entry_says_who_what_when_and_from_where(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90)
    logs.start(logs.RequestContext("req-1", "POST", {"type": "http"}))
    before = time.time()

    await audit.record(
        AuditAction.TOKEN_CREATED,
        request=_request({"User-Agent": "curl/8.0"}),
        actor=ALICE,
        target="tok1",
        details={"name": "ci"},
    )

    [entry] = (await audit.entries()).entries
    assert entry.action == "token_created"
    assert entry.outcome == "success"
    assert (entry.actor_id, entry.actor_login, entry.target) == ("gh:1001", "alice", "tok1")
    assert (entry.ip, entry.user_agent, entry.request_id) == ("203.0.113.7", "curl/8.0", "req-1")
    assert entry.details == {"name": "ci"}
    assert entry.time.endswith("+00:00")
    assert before - 1 <= int(entry.id.split("-")[0]) / 1000 <= time.time() + 1


async def test_hostile_values_are_cut_and_stored(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90)
    hostile = User(id="gh:1", login="x" * 10_000 + "\ud800")

    await audit.record(
        AuditAction.SIGN_IN_FAILED,
        request=_request({"User-Agent": "u" * 10_000}),
        actor=hostile,
        outcome=AuditOutcome.REFUSED,
        details={f"k{i}": "v" * 10_000 for i in range(100)} | {"bad": "\udfff"},
    )

    [entry] = (await audit.entries()).entries
    assert entry.actor_login is not None and len(entry.actor_login) <= 200
    assert entry.user_agent is not None and len(entry.user_agent) <= 256
    assert len(str(entry.details)) < 5000
    assert entry.outcome == "refused"


async def test_a_failing_store_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    down = Redis(port=free_port(), decode_responses=True)
    audit = AuditLog(down, retention_days=1)
    with caplog.at_level(logging.ERROR, "gateway.audit"):
        await audit.record(AuditAction.SIGN_OUT, actor=ALICE, target="gh:1001")
    await down.aclose()
    [record] = caplog.records
    assert "audit entry not written" in record.getMessage()
    assert '"action": "sign_out"' in record.getMessage()


async def test_pages_go_newest_first_with_a_cursor(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90)
    for i in range(7):
        await audit.record(AuditAction.CHAT_DELETED, actor=ALICE, target=f"chat{i}")

    first = await audit.entries(limit=3)
    assert [e.target for e in first.entries] == ["chat6", "chat5", "chat4"]
    second = await audit.entries(limit=3, before=first.next_before)
    assert [e.target for e in second.entries] == ["chat3", "chat2", "chat1"]
    last = await audit.entries(limit=3, before=second.next_before)
    assert [e.target for e in last.entries] == ["chat0"]
    assert last.next_before is None
    exact = await audit.entries(limit=7)
    assert len(exact.entries) == 7 and exact.next_before is None


async def test_nothing_is_before_the_first_id_or_the_last(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90)
    await audit.record(AuditAction.SIGN_IN, actor=ALICE)

    for cursor in ("0-0", "000-0", "1-0"):
        page = await audit.entries(before=cursor)
        assert (page.entries, page.next_before) == ([], None)
    assert len((await audit.entries(before="9" * 19 + "-0")).entries) == 1


async def test_filters_by_action_and_by_user(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90)
    await audit.record(AuditAction.SIGN_IN, actor=ALICE)
    await audit.record(AuditAction.SIGN_IN, actor=BOB)
    await audit.record(AuditAction.SIGN_OUT, actor=BOB)
    await audit.record(AuditAction.ADMIN_USER_BLOCKED, actor=ALICE, target="gh:1002")

    sign_ins = await audit.entries(action=AuditAction.SIGN_IN)
    assert [e.actor_login for e in sign_ins.entries] == ["bob", "alice"]
    bobs = await audit.entries(user="BOB")
    assert [e.action for e in bobs.entries] == ["sign_out", "sign_in"]
    about_bob = await audit.entries(user="gh:1002")
    assert [e.action for e in about_bob.entries] == [
        "admin_user_blocked",
        "sign_out",
        "sign_in",
    ]
    paged = await audit.entries(limit=1, user="bob")
    assert [e.action for e in paged.entries] == ["sign_out"]
    rest = await audit.entries(limit=5, user="bob", before=paged.next_before)
    assert [e.action for e in rest.entries] == ["sign_in"]
    assert rest.next_before is None


async def test_export_is_every_entry_oldest_first(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90)
    for i in range(1203):
        await redis.xadd(
            keys.audit(), {"action": "sign_in", "outcome": "success", "target": str(i)}
        )

    exported = [entry async for entry in audit.export()]
    assert [e.target for e in exported] == [str(i) for i in range(1203)]
    none = [entry async for entry in audit.export(action=AuditAction.SIGN_OUT)]
    assert none == []


async def test_entries_older_than_the_retention_go_on_the_next_write(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=2)
    now_ms = int(time.time() * 1000)
    for age_days, n in ((30, 0), (3, 0), (3, 1), (1, 0)):
        entry_id = f"{now_ms - age_days * DAY_MS}-{n}"
        await redis.xadd(keys.audit(), {"action": "sign_in", "outcome": "success"}, id=entry_id)

    await audit.record(AuditAction.SIGN_OUT, actor=ALICE)

    kept = (await audit.entries()).entries
    assert [e.action for e in kept] == ["sign_out", "sign_in"]
    assert int(kept[1].id.split("-")[0]) == now_ms - DAY_MS


async def test_a_flood_is_bounded_by_length(redis: Redis) -> None:
    audit = AuditLog(redis, retention_days=90, max_entries=100)
    for _ in range(3):
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(500):
                pipe.xadd(keys.audit(), {"action": "sign_in_failed", "outcome": "failure"})
            await pipe.execute()
        await audit.record(AuditAction.SIGN_IN_FAILED, outcome=AuditOutcome.FAILURE)
    # Trimmed by whole stream nodes (~), so a little over the cap may stay.
    assert await redis.xlen(keys.audit()) <= 300


def test_cursors_are_entry_ids() -> None:
    assert parse_cursor("1764633600000-0") == "1764633600000-0"
    assert parse_cursor("") is None
    assert parse_cursor("0001-02") == "1-2"
    for bad in (" ", "1-0\n", "abc", "1-", "(1-0", "1-0 OR 1", "9" * 20 + "-0"):
        with pytest.raises(InvalidCursor):
            parse_cursor(bad)
