"""The chat store's journal of running queries, against the real test Redis."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from gateway import keys
from gateway.chats.journal import CodeRecord, QueryRecord
from gateway.chats.store import Chat, ChatStore, RunningEntry
from shared.errors import Conflict, NotFound


@pytest.fixture
async def store(redis: Redis) -> ChatStore:
    return ChatStore(redis, owner="process-a")


@pytest.fixture
async def chat(store: ChatStore) -> Chat:
    return await store.create("user-1")


async def test_a_query_is_journaled_running_then_finished_in_place(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    record = CodeRecord(code="1", status="running")
    index = await store.begin_query(chat, record, "lock-token", 60, "1")
    entry = RunningEntry.parse(await redis.hget(keys.running_queries(), chat.chat_id) or "")
    assert entry == RunningEntry(index=index, owner="process-a", lock="lock-token", run=record.id)
    assert await store.query_running(chat.chat_id)
    assert (await store.get(chat.user_id, chat.chat_id)).title == "1"
    with pytest.raises(Conflict):
        await store.begin_query(chat, CodeRecord(code="2"), "another token", 60, "2")

    record.status = "done"
    await store.finish_query(chat.chat_id, index, record, "lock-token")

    assert await store.messages(chat.chat_id) == [record]
    assert await redis.hget(keys.running_queries(), chat.chat_id) is None
    assert not await store.query_running(chat.chat_id)


def owners_alive(*living: str) -> Callable[[set[str]], Awaitable[set[str]]]:
    async def alive(owners: set[str]) -> set[str]:
        return owners & set(living)

    return alive


async def start_running(store: ChatStore, chat: Chat, redis: Redis, lock: str) -> str:
    """A query running in `chat`, started by `store`'s process and holding the chat's lock;
    returns its run id."""
    record = QueryRecord(query="q", status="running")
    await store.begin_query(chat, record, lock, 60, "q")
    return record.id


async def test_queries_of_a_dead_process_end_interrupted_and_free_their_chat(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    run_id = await start_running(store, chat, redis, "the dead process's token")

    survivor = ChatStore(redis, owner="process-b")
    assert await survivor.recover_orphans(owners_alive("process-b")) == [(chat.chat_id, run_id)]

    [record] = await store.messages(chat.chat_id)
    assert record.status == "interrupted"
    assert record.error and "gateway stopped" in record.error
    assert not await store.query_running(chat.chat_id)


async def test_queries_of_a_live_process_are_left_to_it(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    await start_running(store, chat, redis, "token")

    survivor = ChatStore(redis, owner="process-b")
    assert await survivor.recover_orphans(owners_alive("process-a", "process-b")) == []

    [record] = await store.messages(chat.chat_id)
    assert record.status == "running"
    assert await store.query_running(chat.chat_id)


async def test_two_survivors_end_a_dead_process_query_once(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    run_id = await start_running(store, chat, redis, "token")
    survivors = [ChatStore(redis, owner=f"process-{n}") for n in "bc"]

    ended = await asyncio.gather(
        *(s.recover_orphans(owners_alive("process-b", "process-c")) for s in survivors)
    )

    assert sorted(ended) == [[], [(chat.chat_id, run_id)]]


async def test_a_lock_taken_by_a_newer_query_is_not_freed(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    """The dead query's lock expired and another query took the chat: only the journal entry
    is ended, the newer query keeps its lock."""
    await start_running(store, chat, redis, "expired token")
    await redis.set(keys.chat_lock(chat.chat_id), "the newer query's token")

    await ChatStore(redis, owner="process-b").recover_orphans(owners_alive("process-b"))

    assert await redis.get(keys.chat_lock(chat.chat_id)) == "the newer query's token"


async def test_an_older_gateways_entry_counts_as_dead(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    await store.begin_query(chat, QueryRecord(query="q", status="running"), "its token", 60, "")
    await redis.hset(keys.running_queries(), chat.chat_id, "0")  # as gateways wrote it before

    assert await store.recover_orphans(owners_alive("process-a")) == [(chat.chat_id, "")]
    assert not await store.query_running(chat.chat_id)


async def test_a_query_taken_for_dead_does_not_end_its_successors_entry(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    """A process that was only slow (its heartbeat ran out) finishes after a survivor ended its
    query and a new one started: the new query stays journaled as running."""
    record = QueryRecord(query="slow", status="running")
    index = await store.begin_query(chat, record, "slow token", 60, "slow")
    await ChatStore(redis, owner="process-b").recover_orphans(owners_alive("process-b"))
    successor = ChatStore(redis, owner="process-b")
    await successor.begin_query(chat, QueryRecord(query="new"), "new token", 60, "new")

    record.status = "done"
    await store.finish_query(chat.chat_id, index, record, "slow token")

    entry = RunningEntry.parse(await redis.hget(keys.running_queries(), chat.chat_id) or "")
    assert entry is not None and entry.lock == "new token"
    assert await redis.get(keys.chat_lock(chat.chat_id)) == "new token"


async def test_nothing_is_journaled_for_a_deleted_chat(store: ChatStore, chat: Chat) -> None:
    await store.delete(chat)
    with pytest.raises(NotFound):
        await store.begin_query(chat, CodeRecord(code="1", status="running"), "t", 60, "1")


async def test_a_chats_env_is_kept_and_left_out_of_its_summary(
    store: ChatStore, redis: Redis
) -> None:
    env = {"API_URL": "https://example.test", "EMPTY": "", "TEXT": 'quote " and ✓'}
    made = await store.create("user-1", env=env)
    assert made.env == env
    found = await store.get("user-1", made.chat_id)
    assert found.env == env
    assert [chat.env for chat in await store.for_user("user-1")] == [env]
    assert "env" not in found.summary().model_dump()
    # A chat made before chats had env reads as one without.
    await redis.hdel(keys.chat(made.chat_id), "env")
    assert (await store.get("user-1", made.chat_id)).env == {}
