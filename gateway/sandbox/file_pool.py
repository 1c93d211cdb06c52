"""Blocking work in chats' folders, on threads of its own.

User code decides how slow its folders are to read (100k symlinks, deep trees). Run on the event
loop's default pool, one chat's listings would hold every thread and stall other users' downloads
and Docker calls. Here the work has a pool of its own, long walks take at most half of it (so
opens, reads and writes always find a thread), and each user walks one folder at a time.
"""

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from gateway.sandbox.files import read_chunks

P = ParamSpec("P")
T = TypeVar("T")

# Walks are syscall-bound and time-boxed; eight threads keep a two-core host responsive while a
# few of them walk.
WORKERS = 8
MAX_WALKS = WORKERS // 2
# Pieces a producer may have made ahead of its reader.
_AHEAD = 8


class _ReaderGone(Exception):
    """The reader of a producer's pieces stopped reading."""


class FilePool:
    def __init__(self, workers: int = WORKERS, max_walks: int = MAX_WALKS) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="chat-files")
        self._walks = asyncio.Semaphore(max_walks)
        # One lock per user while anyone holds it; a user with many chats still walks one at a time.
        self._walkers: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # Writers whose reader stopped, kept referenced until they end.
        self._producing: set[asyncio.Future[None]] = set()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A short blocking call (open, read, write, chown) on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def walk(self, user_id: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A long walk (a listing, clearing a folder): one per user, MAX_WALKS in all.

        The slots are held until the thread is done, not until the caller stops waiting: a client
        that hangs up does not free a slot its walk still occupies."""
        lock = self._walkers.get(user_id)
        if lock is None:
            lock = self._walkers[user_id] = asyncio.Lock()
        await lock.acquire()
        try:
            await self._walks.acquire()
        except BaseException:
            lock.release()
            raise
        loop = asyncio.get_running_loop()

        def release(_: Future[T]) -> None:
            loop.call_soon_threadsafe(self._walks.release)
            loop.call_soon_threadsafe(lock.release)

        future = self._pool.submit(functools.partial(fn, *args, **kwargs))
        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    async def produce(
        self, user_id: str, write: Callable[[Callable[[bytes], None]], None]
    ) -> AsyncIterator[bytes]:
        """What the blocking `write` passes to its `out` callback, as it comes; `write` runs as a
        walk (see `walk`) and is held back while _AHEAD pieces wait for the reader. A reader
        that stops (a client gone) ends `write` at its next piece."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[bytes | None] = asyncio.Queue()
        credits = threading.Semaphore(_AHEAD)
        stopped = threading.Event()

        def out(piece: bytes) -> None:
            while not credits.acquire(timeout=0.5):
                if stopped.is_set():
                    raise _ReaderGone
            if stopped.is_set():
                raise _ReaderGone
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        def run() -> None:
            try:
                write(out)
            except _ReaderGone:
                pass
            finally:
                loop.call_soon_threadsafe(pieces.put_nowait, None)

        task = asyncio.ensure_future(self.walk(user_id, run))
        try:
            while (piece := await pieces.get()) is not None:
                credits.release()
                yield piece
            await task  # the writer's own failure, if it had one
        finally:
            stopped.set()
            self._producing.add(task)
            task.add_done_callback(self._producing.discard)

    async def stream(self, fd: int, size: int) -> AsyncIterator[bytes]:
        """The file's first `size` bytes, read on the pool; closes the descriptor at the end."""
        chunks = read_chunks(fd, size)
        try:
            while chunk := await self.run(next, chunks, b""):
                yield chunk
        finally:
            os.close(fd)
