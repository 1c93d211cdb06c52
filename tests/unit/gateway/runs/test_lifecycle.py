"""Every way a journaled run can end leaves its record finished and the chat free, in-process
against the real test Redis and the real ChatStore; the runs' bodies stand in for the work."""

import asyncio
import logging

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway import keys
from gateway.chats.journal import CellResult, CodeRecord, HistoryRecord
from gateway.chats.store import Chat, ChatStore
from gateway.runs.lifecycle import CANCELLED, STOPPED, RunStopped, journaled_run
from gateway.runs.stops import RunStops
from shared.errors import AppError, Conflict, SandboxFailed

TTL_S = 60.0


@pytest.fixture
async def store(redis: Redis) -> ChatStore:
    return ChatStore(redis)


@pytest.fixture
async def chat(store: ChatStore) -> Chat:
    return await store.create("user-1")


async def only_record(store: ChatStore, chat: Chat) -> HistoryRecord:
    [record] = await store.messages(chat.chat_id)
    return record


async def assert_next_run_works(store: ChatStore, chat: Chat) -> None:
    assert not await store.query_running(chat.chat_id)
    async with journaled_run(store, chat, CodeRecord(code="next"), TTL_S, "next"):
        pass
    assert (await store.messages(chat.chat_id))[-1].status == "done"


async def test_a_run_that_returns_is_done_with_what_it_recorded(
    store: ChatStore, chat: Chat
) -> None:
    async with journaled_run(store, chat, CodeRecord(code="1 + 1"), TTL_S, "1 + 1") as record:
        assert (await only_record(store, chat)).status == "running"
        record.result = CellResult(result="2")

    done = await only_record(store, chat)
    assert isinstance(done, CodeRecord) and done.result is not None
    assert (done.status, done.error, done.result.result) == ("done", None, "2")
    assert (await store.get(chat.user_id, chat.chat_id)).title == "1 + 1"
    await assert_next_run_works(store, chat)


async def test_an_app_error_fails_the_run_with_its_detail(store: ChatStore, chat: Chat) -> None:
    with pytest.raises(SandboxFailed):
        async with journaled_run(store, chat, CodeRecord(code="x"), TTL_S, "x"):
            raise SandboxFailed("the sandbox failed at /execute (500): boom")

    failed = await only_record(store, chat)
    assert (failed.status, failed.error) == ("failed", "the sandbox failed at /execute (500): boom")
    await assert_next_run_works(store, chat)


async def test_an_unexpected_error_fails_the_run_is_logged_and_answered_as_an_app_error(
    store: ChatStore, chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="gateway.runs.lifecycle"),
        pytest.raises(AppError) as raised,
    ):
        async with journaled_run(store, chat, CodeRecord(code="x"), TTL_S, "x"):
            raise RuntimeError("the Docker API broke")

    assert raised.value.status == 500
    assert isinstance(raised.value.__cause__, RuntimeError)
    failed = await only_record(store, chat)
    assert failed.status == "failed"
    assert failed.error == raised.value.detail
    assert "RuntimeError" in failed.error and "Docker API broke" not in failed.error
    [logged] = caplog.records
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError
    await assert_next_run_works(store, chat)


async def test_a_redis_error_fails_the_run_and_goes_on_as_itself(
    store: ChatStore, chat: Chat
) -> None:
    # The app answers a RedisError 503 ("the chat store is unavailable"), not 500.
    with pytest.raises(RedisConnectionError):
        async with journaled_run(store, chat, CodeRecord(code="x"), TTL_S, "x"):
            raise RedisConnectionError("Redis went away for a moment")

    assert (await only_record(store, chat)).status == "failed"
    await assert_next_run_works(store, chat)


async def test_a_cancelled_run_is_interrupted_even_when_cancelled_again(
    store: ChatStore, chat: Chat
) -> None:
    running = asyncio.Event()

    async def run() -> None:
        async with journaled_run(store, chat, CodeRecord(code="slow()"), TTL_S, "slow()"):
            running.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(run())
    await running.wait()
    task.cancel()
    await asyncio.sleep(0)  # the task is now journaling its end: cancel that too
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    interrupted = await only_record(store, chat)
    assert (interrupted.status, interrupted.error) == ("interrupted", CANCELLED)
    await assert_next_run_works(store, chat)


async def test_a_second_run_meanwhile_is_refused_and_leaves_no_record(
    store: ChatStore, chat: Chat
) -> None:
    async with journaled_run(store, chat, CodeRecord(code="first"), TTL_S, "first"):
        with pytest.raises(Conflict):
            async with journaled_run(store, chat, CodeRecord(code="second"), TTL_S, "second"):
                pytest.fail("two runs at once")
    assert [r.status for r in await store.messages(chat.chat_id)] == ["done"]


async def test_a_run_stopped_from_elsewhere_ends_interrupted_and_its_request_hears_why(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    async def listeners() -> int:
        # Channels are server-wide: the suite's gateways on this Redis listen too.
        return int((await redis.pubsub_numsub(keys.run_stops()))[0][1])

    others = await listeners()
    stops = RunStops(redis)
    listening = asyncio.create_task(stops.listen())
    while await listeners() <= others:
        await asyncio.sleep(0.01)
    started = asyncio.Event()

    async def run() -> None:
        async with journaled_run(store, chat, CodeRecord(code="slow()"), TTL_S, "slow()", stops):
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(run())
    try:
        await started.wait()
        running = await store.running_query(chat.chat_id)
        assert running is not None
        # As another gateway process asks: only through Redis.
        await RunStops(redis).request(chat.chat_id, running.lock)
        with pytest.raises(RunStopped):
            await asyncio.wait_for(task, timeout=5)
    finally:
        listening.cancel()

    stopped = await only_record(store, chat)
    assert (stopped.status, stopped.error) == ("interrupted", STOPPED)
    await assert_next_run_works(store, chat)


async def test_a_stop_for_another_run_of_the_chat_is_ignored(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    stops = RunStops(redis)
    async with journaled_run(store, chat, CodeRecord(code="x"), TTL_S, "x", stops):
        stops._stop_local(chat.chat_id, "the token of a run that already ended")
        await asyncio.sleep(0)
    assert (await only_record(store, chat)).status == "done"
