"""The chat store's journal of running queries, against the real test Redis."""

import pytest
from redis.asyncio import Redis

from gateway import keys
from gateway.chats.journal import CodeRecord, QueryRecord
from gateway.chats.store import Chat, ChatStore
from shared.errors import NotFound


@pytest.fixture
async def store(redis: Redis) -> ChatStore:
    return ChatStore(redis)


@pytest.fixture
async def chat(store: ChatStore) -> Chat:
    return await store.create("user-1")


async def test_a_query_is_journaled_running_then_finished_in_place(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    record = CodeRecord(code="1", status="running")
    index = await store.start_query(chat.chat_id, record)
    assert await redis.hget(keys.running_queries(), chat.chat_id) == str(index)

    record.status = "done"
    await store.finish_query(chat.chat_id, index, record)

    assert await store.messages(chat.chat_id) == [record]
    assert await redis.hget(keys.running_queries(), chat.chat_id) is None


async def test_queries_a_dead_gateway_left_running_end_interrupted(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    await store.start_query(chat.chat_id, QueryRecord(query="q", status="running"))
    await redis.set(keys.chat_lock(chat.chat_id), "the dead gateway's token")

    assert await ChatStore(redis).recover_interrupted() == [chat.chat_id]

    [record] = await store.messages(chat.chat_id)
    assert record.status == "interrupted"
    assert record.error and "gateway stopped" in record.error
    assert not await store.query_running(chat.chat_id)


async def test_nothing_is_journaled_for_a_deleted_chat(store: ChatStore, chat: Chat) -> None:
    await store.delete(chat)
    with pytest.raises(NotFound):
        await store.start_query(chat.chat_id, CodeRecord(code="1", status="running"))
