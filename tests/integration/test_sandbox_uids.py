"""One host uid per chat (issue 11): no per-uid kernel limit is shared between tenants, each
chat's folders belong to its own uid, and a chat made when every sandbox ran as uid 10001 gets
a uid of its own with its files and variables intact."""

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import redis

from tests.gateway_process import GatewayProcess

# The red team's attack: one chat took every inotify instance its uid may have (128 by default
# on the host); another chat's inotify_init1 then failed until the first let go.
_TAKE_ALL_INOTIFY = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
held = []
while len(held) < 4096:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    held.append(fd)
len(held)
"""
_ONE_INOTIFY = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
(fd >= 0, ctypes.get_errno())
"""
LEGACY_UID = 10001


@pytest.fixture
def two_chats(gateway: GatewayProcess) -> Iterator[tuple[str, str]]:
    with gateway.new_chat() as first, gateway.new_chat() as second:
        yield first, second


def test_each_chat_runs_as_its_own_uid_owning_its_folders(
    gateway: GatewayProcess, two_chats: tuple[str, str], data_dir: Path
) -> None:
    uids = []
    for chat_id in two_chats:
        reply = gateway.run(chat_id, "import os\nopen('mine.txt', 'w').write('x')\nos.getuid()")
        uid = int(reply["result"])
        assert uid not in (0, LEGACY_UID)
        uids.append(uid)
        root = data_dir / "chats" / chat_id
        for folder in ("workspace", "state", "run"):
            assert (root / folder).stat().st_uid == uid, folder
        assert (root / "workspace" / "mine.txt").stat().st_uid == uid
    assert uids[0] != uids[1]


def test_one_chat_holding_every_inotify_instance_does_not_starve_another(
    gateway: GatewayProcess, two_chats: tuple[str, str]
) -> None:
    greedy, other = two_chats
    # The cell ends but its kernel, and so every descriptor it opened, stays alive.
    held = gateway.run(greedy, _TAKE_ALL_INOTIFY)
    assert held["status"] == "ok", held
    assert int(held["result"]) > 0
    assert gateway.run(other, _ONE_INOTIFY)["result"] == "(True, 0)"


def test_a_chat_from_before_uids_per_chat_gets_its_own_with_its_files(
    gateway: GatewayProcess,
    docker_client: docker.DockerClient,
    data_dir: Path,
    redis_url: str,
    chat_id: str,
) -> None:
    reply = gateway.run(chat_id, "import os\nkept = 'yes'\nos.makedirs('d/e')\nopen('d/e/f', 'w')")
    assert reply["status"] == "ok", reply
    # Made as an older gateway made it: uid 10001 throughout, no uid stored with the chat.
    docker_client.containers.get(f"ads-{chat_id}").remove(force=True)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    store.hdel(f"ads:chat:{chat_id}", "sandbox_uid")
    root = data_dir / "chats" / chat_id
    for path in [root, *root.rglob("*")]:
        os.chown(path, LEGACY_UID, LEGACY_UID, follow_symlinks=False)

    reply = gateway.run(chat_id, "open('d/e/f', 'a').write('more')\n(kept, os.getuid())")
    assert reply["status"] == "ok", reply
    kept, uid = ast.literal_eval(reply["result"])
    assert kept == "yes" and uid != LEGACY_UID
    assert int(store.hget(f"ads:chat:{chat_id}", "sandbox_uid") or 0) == uid
    assert {p.stat().st_uid for p in [root / "workspace", *root.rglob("*")]} == {uid}
