"""Stopping a run from any gateway process.

A run is executed by the process that started it. `POST /chat/{chat_id}/stop` may reach any other:
it publishes the run's id (its query lock's token) on a Redis channel every process listens to,
and the process running it cancels the run's task. The run then ends as it does when its client
goes away (its cell is interrupted, its record journaled `interrupted`), except that the record
says it was stopped and the request that started it gets `RunStopped` rather than nothing.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

from redis.asyncio import Redis

from gateway import keys

log = logging.getLogger(__name__)

# Pause before listening again after the channel failed (Redis restarting).
_RELISTEN_S = 1.0


class RunStops:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        # The runs of this process: chat id -> (the run's lock token, its task).
        self._runs: dict[str, tuple[str, asyncio.Task[object]]] = {}
        self._stopped: set[asyncio.Task[object]] = set()

    @contextlib.contextmanager
    def running(self, chat_id: str, lock_token: str) -> Iterator[None]:
        """The current task runs the chat's run `lock_token` until the block ends."""
        task = asyncio.current_task()
        assert task is not None
        self._runs[chat_id] = (lock_token, task)
        try:
            yield
        finally:
            if self._runs.get(chat_id, (None,))[0] == lock_token:
                del self._runs[chat_id]
            self._stopped.discard(task)

    def ending(self, chat_id: str, lock_token: str) -> None:
        """The run is journaling its end: a stop from now on would only cut that short, and
        the stop's requester sees the run end anyway."""
        if self._runs.get(chat_id, (None,))[0] == lock_token:
            del self._runs[chat_id]

    def was_stopped(self) -> bool:
        """Whether the current task's cancellation is a stop (and only that: a client that went
        away as well counts as gone)."""
        task = asyncio.current_task()
        return task in self._stopped and task is not None and task.cancelling() == 1

    async def request(self, chat_id: str, lock_token: str) -> None:
        """Ask whichever process runs the chat's run `lock_token` to stop it."""
        message = json.dumps({"chat_id": chat_id, "lock": lock_token})
        await self._redis.publish(keys.run_stops(), message)

    def _stop_local(self, chat_id: str, lock_token: str) -> None:
        run = self._runs.get(chat_id)
        if run is None or run[0] != lock_token or run[1] in self._stopped:
            return
        log.info("stopping the run in %s, as asked", chat_id)
        self._stopped.add(run[1])
        run[1].cancel()

    async def listen(self) -> None:
        """Serve stop requests until cancelled, listening again whenever the channel fails."""
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.run_stops())
                    async for message in pubsub.listen():
                        try:
                            data = json.loads(message["data"])
                            self._stop_local(str(data["chat_id"]), str(data["lock"]))
                        except (ValueError, KeyError, TypeError):
                            log.warning("ignored a malformed stop request: %r", message)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("listening for stop requests failed (%s); listening again", e)
                await asyncio.sleep(_RELISTEN_S)
