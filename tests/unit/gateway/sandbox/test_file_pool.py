"""The file pool: slow walks of one user never hold the threads other work needs."""

import asyncio
import threading

import pytest

from gateway.sandbox.file_pool import FilePool


def blocked_until(release: threading.Event, started: threading.Semaphore) -> str:
    started.release()
    assert release.wait(10)
    return "walked"


async def test_walks_leave_threads_for_short_work() -> None:
    pool = FilePool(workers=4, max_walks=2)
    release, started = threading.Event(), threading.Semaphore(0)
    walks = [
        asyncio.create_task(pool.walk(user, blocked_until, release, started))
        for user in ("alice", "bob", "carol", "dave")
    ]
    await asyncio.to_thread(started.acquire)
    await asyncio.to_thread(started.acquire)
    # Two walks hold their slots; the other two users wait, and short work still runs at once.
    assert await asyncio.wait_for(pool.run(sum, [1, 2, 3]), 2) == 6
    assert not started.acquire(timeout=0.2)
    release.set()
    assert await asyncio.gather(*walks) == ["walked"] * 4


async def test_one_user_walks_one_folder_at_a_time() -> None:
    pool = FilePool(workers=4, max_walks=4)
    release, started = threading.Event(), threading.Semaphore(0)
    first = asyncio.create_task(pool.walk("alice", blocked_until, release, started))
    await asyncio.to_thread(started.acquire)
    second = asyncio.create_task(pool.walk("alice", blocked_until, release, started))
    other = asyncio.create_task(pool.walk("bob", blocked_until, release, started))
    await asyncio.to_thread(started.acquire)  # bob's
    assert not started.acquire(timeout=0.2)  # alice's second waits for her first
    release.set()
    assert await asyncio.gather(first, second, other) == ["walked"] * 3


async def test_a_caller_that_hangs_up_keeps_the_slot_until_the_walk_ends() -> None:
    pool = FilePool(workers=4, max_walks=1)
    release, started = threading.Event(), threading.Semaphore(0)
    abandoned = asyncio.create_task(pool.walk("alice", blocked_until, release, started))
    await asyncio.to_thread(started.acquire)
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    waiting = asyncio.create_task(pool.walk("bob", blocked_until, release, started))
    assert not await asyncio.to_thread(started.acquire, timeout=0.2)
    release.set()
    assert await waiting == "walked"
