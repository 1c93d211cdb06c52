"""A run's events in Redis: ids in order, exactly the ones after a given id, nothing written for a
chat that is gone, and the streams deleted with their chat."""

import pytest
from redis.asyncio import Redis

from gateway import keys
from gateway.chats.journal import CodeRecord
from gateway.chats.store import Chat, ChatStore
from gateway.runs.events import START, InvalidEventId, RunEvents, RunWriter, parse_event_id


@pytest.fixture
async def chat(redis: Redis) -> Chat:
    return await ChatStore(redis, owner="process-a").create("local")


async def test_events_are_read_back_in_order_after_any_id(redis: Redis, chat: Chat) -> None:
    events = RunEvents(redis, max_len=1000, ttl_s=60)
    writer = RunWriter(events, chat.chat_id, "run-1")
    for n in range(5):
        writer.add("output", {"n": n})
    writer.add("done", {"ok": True})
    await writer.close()

    everything = await events.read(chat.chat_id, "run-1", START)
    assert [e.event for e in everything] == ["output"] * 5 + ["done"]
    assert [e.final for e in everything] == [False] * 5 + [True]
    assert everything[0].data == '{"n": 0, "run_id": "run-1"}'
    rest = await events.read(chat.chat_id, "run-1", everything[2].id)
    assert rest == everything[3:]
    assert everything[-1].sse() == f"id: {everything[-1].id}\nevent: done\ndata: " + (
        '{"ok": true, "run_id": "run-1"}\n\n'
    )
    assert 0 < await redis.pttl(keys.run_events(chat.chat_id, "run-1")) <= 60_000


async def test_nothing_is_written_for_a_deleted_chat_and_its_streams_go_with_it(
    redis: Redis, chat: Chat
) -> None:
    store = ChatStore(redis, owner="process-a")
    events = RunEvents(redis, max_len=1000, ttl_s=60)
    record = CodeRecord(code="1")
    await store.append_message(chat.chat_id, record)
    assert await events.append(chat.chat_id, record.id, "done", {}) is not None

    await store.delete(chat)
    assert not await events.exists(chat.chat_id, record.id)
    assert await events.append(chat.chat_id, record.id, "error", {}) is None
    assert not await events.exists(chat.chat_id, record.id)


def test_event_ids_are_checked() -> None:
    assert parse_event_id(None) == START
    assert parse_event_id("") == START
    assert parse_event_id(" 1764633600000-3 ") == "1764633600000-3"
    for bad in ("null", "1-2-3", "-1", "1" * 21 + "-0", "12x-0"):
        with pytest.raises(InvalidEventId):
            parse_event_id(bad)
