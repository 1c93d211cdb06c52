"""A warm pool of sandboxes: started, hardened, their kernel up with the data stack imported, each
waiting to become the sandbox of a new chat, so that a chat's first query pays no start.

How a pooled sandbox becomes a chat's, and why that is safe:

- It is made as any chat's sandbox is (SandboxContainers._create_container: the same image,
  hardening, limits and seccomp profile), under a pool id ("pool-<hex>", which no chat id looks
  like) instead of a chat id: its container is `ads-pool-<hex>`, its folders
  `DATA_DIR/chats/pool-<hex>/{workspace,state,run}`, owned by a uid taken from the chats' own
  counter, and its executor answers as "pool-<hex>" with a secret of its own.
- Claiming it (for a chat whose sandbox never ran: no folders, no uid yet) pops it from a Redis
  list in one Lua script that also gives the chat that uid, so two claims, from any processes,
  never get the same sandbox. Then Docker renames the container to `ads-<chat id>` (refused if
  the chat has one: a 409), the chat's folder name is given to the pool's folder (renameat2 with
  RENAME_NOREPLACE), and the executor is told, once, which chat it serves (POST /claim; it
  refuses a second claim). The running container's mounts follow the rename: they hold the
  folders, not their paths.
- So a claimed sandbox was never seen by another chat (it is popped once, and never returns to
  the pool), holds no earlier chat's state (its folders were made empty for it), and carries the
  chat's identity where a restarted gateway looks: its name, and its executor's answers.
- Docker mounts a container's folders by path each time it starts, and its paths are the pool's.
  So a claimed container is never started again: once stopped (idle, killed, out of memory) it
  is made anew as an ordinary chat sandbox on the next query, with the chat's state restored
  from its checkpoints (SandboxContainers._outdated), and a restart removes it likewise.
- Any failure of a claim (the pooled container died, Docker refused) removes that pooled
  sandbox and the chat's sandbox starts cold, as without a pool.

One process at a time fills the pool (a lease), from a loop every process runs: a claim wakes
its own process's loop, and each loop looks every few seconds. The filler also removes what
nobody will claim: pooled containers that stopped, ones popped by a process that died mid-claim,
and ones of an older scope (other settings, a rebuilt image) after a grace time. A pool that
cannot be filled (image missing, engine down) logs why and tries again with growing pauses.
"""

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from gateway import keys
from gateway.leases import Lease
from gateway.sandbox.containers import PooledContainer
from gateway.sandbox.manager import Pooled, SandboxManager
from shared.protocol import POOL_ID_PREFIX

log = logging.getLogger(__name__)

# Pops a warm sandbox for a chat whose sandbox never ran (it has no uid yet), gives the chat that
# sandbox's uid, and notes the claim in progress. Nothing for a chat that is gone or ran before.
# KEYS: chat hash, ready list, claiming hash; ARGV: chat id, now (unix seconds).
_TAKE = """
if redis.call('exists', KEYS[1]) == 0 then return false end
if redis.call('hexists', KEYS[1], 'sandbox_uid') == 1 then return false end
local entry = redis.call('lpop', KEYS[2])
if not entry then return false end
local pooled = cjson.decode(entry)
redis.call('hset', KEYS[1], 'sandbox_uid', pooled.uid)
redis.call('hset', KEYS[3], pooled.id, cjson.encode({chat = ARGV[1], at = tonumber(ARGV[2])}))
return entry
"""

# How often a filler looks at the pool when nothing woke it, and how often it checks the pooled
# containers against Docker.
_LOOK_EVERY_S = 2.0
_RECONCILE_EVERY_S = 30.0
# A claim takes well under a second; one noted for longer was abandoned by a dying process.
_CLAIM_ABANDONED_S = 60.0
# Pooled sandboxes of another scope may belong to a gateway with other settings on this DATA_DIR
# (still filling its own pool); past this age, unlisted, they are leftovers.
_OTHER_SCOPE_GRACE_S = 600.0
# A refill waits this long after a claim (see run).
_REFILL_AFTER_S = 1.0
_BACKOFF_FIRST_S = 1.0
_BACKOFF_MAX_S = 60.0


@dataclass(frozen=True)
class PoolStatus:
    size: int
    ready: int
    # Why the last attempt to fill it failed, while it keeps failing.
    error: str | None


class SandboxPool:
    def __init__(
        self,
        redis: Redis,
        sandboxes: SandboxManager,
        new_uid: Callable[[], Awaitable[int]],
        size: int,
        start_timeout_s: float,
    ) -> None:
        self._redis = redis
        self._sandboxes = sandboxes
        self._new_uid = new_uid
        self.size = size
        # Long enough for one pooled sandbox's start; only a filler that died holds it longer.
        self._fill_hold_s = 2 * start_timeout_s + 30.0
        self._take = redis.register_script(_TAKE)
        # Known once the sandbox image is found; nothing is claimed before.
        self._scope: str | None = None
        self._wake = asyncio.Event()
        self._reconciled_at = 0.0
        self._error: str | None = None

    async def take(self, chat_id: str) -> Pooled | None:
        scope = self._scope
        if scope is None or self.size == 0:
            return None
        entry = await self._take(
            keys=[keys.chat(chat_id), keys.pool_ready(scope), keys.pool_claiming(scope)],
            args=[chat_id, time.time()],
        )
        if entry is None:
            return None
        self._wake.set()
        fields = json.loads(entry)
        return Pooled(pool_id=fields["id"], uid=int(fields["uid"]))

    async def taken(self, pool_id: str) -> None:
        if self._scope is not None:
            await self._redis.hdel(keys.pool_claiming(self._scope), pool_id)

    async def status(self) -> PoolStatus:
        ready = 0 if self._scope is None else await self._redis.llen(keys.pool_ready(self._scope))
        return PoolStatus(size=self.size, ready=ready, error=self._error)

    async def run(self) -> None:
        """Keep the pool full, forever (cancelled with the app)."""
        backoff = _BACKOFF_FIRST_S
        while True:
            # Cleared before the round: a claim during it wakes the next one at once.
            self._wake.clear()
            try:
                await self._round()
            except Exception as e:  # whatever failed (Docker, Redis), the next round tries again
                self._error = str(e) or type(e).__name__
                log.warning(
                    "the sandbox pool could not be filled: %s; trying again in %.0f s",
                    self._error,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX_S, backoff * 2)
                continue
            self._error = None
            backoff = _BACKOFF_FIRST_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _LOOK_EVERY_S)
                # Woken by a claim: its chat's first query goes first. Making a sandbox keeps
                # the engine and the CPUs busy for a second or more (under gVisor most of all).
                await asyncio.sleep(_REFILL_AFTER_S)

    async def _round(self) -> None:
        # The image as built now: a rebuilt one makes a new scope, and the old pool is let go.
        scope = self._scope = await self._sandboxes.pool_scope()
        lease = Lease(self._redis, keys.pool_filler(scope), self._fill_hold_s)
        if not await lease.try_acquire():
            return  # another process fills it
        try:
            if time.monotonic() - self._reconciled_at > _RECONCILE_EVERY_S:
                await self._reconcile(scope)
                self._reconciled_at = time.monotonic()
            while await self._redis.llen(keys.pool_ready(scope)) < self.size:
                await self._add(scope)
        finally:
            await lease.release()

    async def _add(self, scope: str) -> None:
        pool_id = POOL_ID_PREFIX + secrets.token_hex(6)
        uid = self._sandboxes.own_uid
        if uid is None:
            uid = await self._new_uid()
        started = time.monotonic()
        await self._sandboxes.make_pooled(pool_id, uid, scope)
        await self._redis.rpush(keys.pool_ready(scope), json.dumps({"id": pool_id, "uid": uid}))
        log.info("pooled sandbox %s ready in %.2f s", pool_id, time.monotonic() - started)

    async def _reconcile(self, scope: str) -> None:
        """Remove the pooled sandboxes nobody will claim, and forget the listed ones that are
        gone."""
        ready = {
            json.loads(entry)["id"]: entry
            for entry in cast(list[str], await self._redis.lrange(keys.pool_ready(scope), 0, -1))
        }
        claiming = {
            pool_id: json.loads(value)["at"]
            for pool_id, value in cast(
                dict[str, str], await self._redis.hgetall(keys.pool_claiming(scope))
            ).items()
        }
        now = time.time()
        containers = await self._sandboxes.list_pooled()
        for container in containers:
            if container.scope == scope:
                keep = (container.pool_id in ready and container.running) or (
                    now - claiming.get(container.pool_id, 0.0) < _CLAIM_ABANDONED_S
                )
            else:
                keep = now - container.created_at < _OTHER_SCOPE_GRACE_S or await self._listed(
                    container
                )
            if not keep:
                log.info(
                    "removing pooled sandbox %s (stopped, abandoned or outdated)", container.pool_id
                )
                await self._drop(scope, container.pool_id, ready.get(container.pool_id))
        there = {container.pool_id for container in containers}
        for pool_id, entry in ready.items():
            if pool_id not in there:
                await self._redis.lrem(keys.pool_ready(scope), 0, entry)
        for pool_id, at in claiming.items():
            if now - at >= _CLAIM_ABANDONED_S:
                await self._redis.hdel(keys.pool_claiming(scope), pool_id)

    async def _listed(self, container: PooledContainer) -> bool:
        """Whether a pooled sandbox of another scope waits in that scope's pool."""
        entries = cast(list[str], await self._redis.lrange(keys.pool_ready(container.scope), 0, -1))
        return any(json.loads(entry)["id"] == container.pool_id for entry in entries)

    async def _drop(self, scope: str, pool_id: str, entry: str | None) -> None:
        # Unlisted first: a claim never pops a sandbox that is being removed.
        if entry is not None and not await self._redis.lrem(keys.pool_ready(scope), 0, entry):
            return  # claimed meanwhile: it is a chat's now, or about to be
        await self._sandboxes.remove_pooled(pool_id)
