"""Which gateway processes live: a lock file tells of a death on this host at once, a heartbeat in
Redis of one elsewhere once its TTL ran out. Against the real test Redis and real processes."""

import subprocess
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from gateway import keys
from gateway.runs.owners import Owners

# A process that holds an owner's lock file as a gateway process does, until killed.
_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)
"""


async def test_a_started_process_is_alive_to_others_and_gone_once_closed(
    redis: Redis, tmp_path: Path
) -> None:
    one, other = Owners(redis, tmp_path, ttl_s=30), Owners(redis, tmp_path, ttl_s=30)
    await one.start()
    await other.start()
    assert await other.alive({one.id}) == {one.id}

    await one.close()

    assert await other.alive({one.id}) == set()
    assert not await redis.exists(keys.gateway_heartbeat(one.id))
    await other.close()


async def test_a_killed_process_on_this_host_is_dead_at_once_despite_its_heartbeat(
    redis: Redis, tmp_path: Path
) -> None:
    observer = Owners(redis, tmp_path, ttl_s=30)
    owner = "host-4242-deadbeef"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(tmp_path / f"{owner}.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        await redis.set(keys.gateway_heartbeat(owner), "1", ex=30)
        assert await observer.alive({owner}) == {owner}
    finally:
        holder.kill()
        holder.wait()

    assert await observer.alive({owner}) == set()
    assert not (tmp_path / f"{owner}.lock").exists()


async def test_a_process_elsewhere_lives_as_long_as_its_heartbeat(
    redis: Redis, tmp_path: Path
) -> None:
    observer = Owners(redis, tmp_path, ttl_s=30)
    await redis.set(keys.gateway_heartbeat("elsewhere-1-aa"), "1", px=300)

    assert await observer.alive({"elsewhere-1-aa", "never-seen-2-bb"}) == {"elsewhere-1-aa"}
    time.sleep(0.4)
    assert await observer.alive({"elsewhere-1-aa"}) == set()


async def test_an_owner_id_that_is_not_a_plain_name_is_never_a_path(
    redis: Redis, tmp_path: Path
) -> None:
    (tmp_path / "x.lock").touch()
    observer = Owners(redis, tmp_path / "gateways", ttl_s=30)
    assert await observer.alive({"../x", "/etc/passwd", ".hidden"}) == set()
