"""User code attacking the gateway through its own folders (issue 9, findings 2, 3, 5 and 6).

The gateway runs as root with all of DATA_DIR; user code owns its workspace and can race any check
the gateway makes, from a thread a cell leaves running. Each test is the attack as a user would
mount it, and what every user must still see.
"""

import ctypes
import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from tests.gateway_process import GatewayProcess

# A thread left running by the cell: swaps `a` (a folder) and `b` (a symlink to a folder outside
# the workspace, given by its host path) with renameat2(RENAME_EXCHANGE), as fast as it can.
RENAME_EXCHANGE_LOOP = """
import ctypes, os, threading
os.makedirs('a', exist_ok=True)
open('a/own.txt', 'w').write('mine')
os.symlink({target!r}, 'b')
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
def swap():
    while True:
        libc.renameat2(AT_FDCWD, b'a', AT_FDCWD, b'b', RENAME_EXCHANGE)
threading.Thread(target=swap, daemon=True).start()
"""

# A thread left running by the cell: every staged upload it sees is replaced by a symlink to
# `target` (a host path), hoping the gateway chowns or chmods through it.
UPLOAD_SWAP_LOOP = """
import os, threading
def swap():
    while True:
        for name in os.listdir('.'):
            if name.startswith('.upload-') and not os.path.islink(name):
                try:
                    os.rename(name, 'taken' + name)
                    os.symlink({target!r}, name)
                except OSError:
                    pass
threading.Thread(target=swap, daemon=True).start()
"""

# Makes `levels` nested folders relative to descriptors (the kernel's working directory stays).
DEEP_TREE = """
import os
fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
for _ in range({levels}):
    os.mkdir('d', dir_fd=fd)
    below = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = below
os.close(os.open('bottom.txt', os.O_WRONLY | os.O_CREAT, dir_fd=fd))
os.close(fd)
"""

CSV = b"month,rentals\n2024-01,120\n"
AT_FDCWD, RENAME_EXCHANGE = -100, 2


@pytest.fixture
def other_chat(gateway: GatewayProcess) -> Iterator[str]:
    """A second chat: the victim, or a bystander who must not be slowed down."""
    with gateway.new_chat() as chat_id:
        yield chat_id


def listed(gateway: GatewayProcess, chat_id: str) -> list[str]:
    response = gateway.client.get(f"/files/{chat_id}")
    assert response.status_code == 200, response.text
    return [f["path"] for f in response.json()]


def test_listing_race_never_shows_another_chat(
    gateway: GatewayProcess, chat_id: str, other_chat: str, data_dir: Path
) -> None:
    canary = f"canary-{secrets.token_hex(4)}.txt"
    assert gateway.run(other_chat, f"open({canary!r}, 'w').write('victim')")["status"] == "ok"
    attack = RENAME_EXCHANGE_LOOP.format(target=str(data_dir / "chats"))
    assert gateway.run(chat_id, attack)["status"] == "ok"
    seen: set[str] = set()
    for _ in range(150):
        seen.update(listed(gateway, chat_id))
    assert not [path for path in seen if canary in path or other_chat in path], seen
    assert seen <= {"a/own.txt", "b/own.txt"}, seen


def test_upload_chown_race_never_touches_a_file_outside(
    gateway: GatewayProcess, chat_id: str, data_dir: Path
) -> None:
    canary = data_dir / f"canary-{secrets.token_hex(4)}"
    canary.write_text("root's own")
    canary.chmod(0o600)
    before = canary.stat()
    try:
        assert gateway.run(chat_id, UPLOAD_SWAP_LOOP.format(target=str(canary)))["status"] == "ok"
        for i in range(30):
            response = gateway.client.post(
                f"/upload_csv/{chat_id}", files={"file": (f"data{i}.csv", CSV, "text/csv")}
            )
            # The staged name swapped for a link (400) or caught between rename and symlink
            # (404) is refused by the executor, or moved away before it took its name (409);
            # or the upload won the race.
            assert response.status_code in (200, 400, 404, 409), response.text
        after = canary.stat()
        assert (after.st_uid, after.st_gid, after.st_mode) == (
            before.st_uid,
            before.st_gid,
            before.st_mode,
        )
        assert canary.read_text() == "root's own"
    finally:
        canary.unlink()


def test_many_symlinks_cut_the_listing_and_never_block_others(
    gateway: GatewayProcess, chat_id: str, other_chat: str
) -> None:
    # More than a listing visits (MAX_ENTRIES, 20,000), and few enough that making them stays
    # well inside the run's time limit under gVisor, where each symlink call costs far more.
    made = gateway.run(
        chat_id,
        "import os\nos.mkdir('links')\n"
        "for i in range(25_000):\n    os.symlink('/etc/passwd', f'links/{i}')",
    )
    assert made["status"] == "ok", made
    assert gateway.run(other_chat, "open('report.txt', 'w').write('hello')")["status"] == "ok"

    def listing(_: int) -> str | None:
        response = gateway.client.get(f"/files/{chat_id}")
        assert response.status_code == 200, response.text
        assert response.json() == []
        return response.headers.get("x-listing-truncated")

    with ThreadPoolExecutor(12) as pool:
        cuts = pool.map(listing, range(12))
        download = gateway.client.get(f"/file/{other_chat}/report.txt")
        assert download.status_code == 200
        assert download.text == "hello"
        assert set(cuts) == {"entries"}


def test_a_name_that_is_not_utf8_lists_downloads_restarts_and_deletes(
    gateway: GatewayProcess, chat_id: str, data_dir: Path
) -> None:
    reply = gateway.run(chat_id, "open(b'bad \\xff name.csv', 'wb').write(b'a,b\\n1,2\\n')")
    assert reply["status"] == "ok", reply
    assert [f["path"] for f in reply["files"]] == ["bad \ufffd name.csv"]

    response = gateway.client.get(f"/files/{chat_id}")
    assert response.status_code == 200, response.text
    [entry] = response.json()
    assert (entry["path"], entry["href"]) == ("bad \ufffd name.csv", "bad%20%FF%20name.csv")
    download = gateway.client.get(f"/file/{chat_id}/{entry['href']}")
    assert download.status_code == 200, download.text
    assert download.content == b"a,b\n1,2\n"

    assert gateway.client.post(f"/restart/{chat_id}").status_code == 200
    assert listed(gateway, chat_id) == []
    assert gateway.run(chat_id, "open(b'again \\xfe', 'wb').write(b'x')")["status"] == "ok"
    assert gateway.client.delete(f"/chat/{chat_id}").status_code == 200
    assert not (data_dir / "chats" / chat_id).exists()


def test_a_tree_1200_levels_deep_lists_restarts_and_deletes(
    gateway: GatewayProcess, chat_id: str, data_dir: Path, docker_client: docker.DockerClient
) -> None:
    workspace = data_dir / "chats" / chat_id / "workspace"
    tree = DEEP_TREE.format(levels=1200)
    assert gateway.run(chat_id, tree + "open('top.txt', 'w').write('t')")["status"] == "ok"
    response = gateway.client.get(f"/files/{chat_id}")
    assert response.status_code == 200, response.text
    assert response.headers["x-listing-truncated"] == "depth"
    assert [f["path"] for f in response.json()] == ["top.txt"]

    # A running sandbox: the executor clears its folders.
    assert gateway.client.post(f"/restart/{chat_id}").status_code == 200
    assert os.listdir(workspace) == []

    # A stopped sandbox: the gateway clears them.
    assert gateway.run(chat_id, tree)["status"] == "ok"
    docker_client.containers.get(f"ads-{chat_id}").stop(timeout=2)
    assert gateway.client.post(f"/restart/{chat_id}").status_code == 200
    assert os.listdir(workspace) == []

    assert gateway.run(chat_id, tree)["status"] == "ok"
    assert gateway.client.delete(f"/chat/{chat_id}").status_code == 200
    assert not (data_dir / "chats" / chat_id).exists()
    chats = gateway.client.get("/chats").json()
    assert chat_id not in str(chats)


def test_import_reads_only_what_it_checked(
    gateway: GatewayProcess, chat_id: str, import_dir: Path
) -> None:
    """A folder in IMPORT_DIR is swapped, atomically and in a loop, with a symlink to a folder
    outside while imports of a file in it run: no import ever reads the outside file."""
    token = secrets.token_hex(4)
    (import_dir / f"flip-{token}").mkdir()
    (import_dir / f"flip-{token}" / "data.csv").write_bytes(b"allowed\n1\n")
    outside = import_dir.parent / f"outside-{token}"
    outside.mkdir()
    (outside / "data.csv").write_bytes(b"secret\n1\n")
    (import_dir / f"spare-{token}").symlink_to(outside)
    libc = ctypes.CDLL(None, use_errno=True)
    names = [os.fsencode(import_dir / f"{name}-{token}") for name in ("flip", "spare")]
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            libc.renameat2(AT_FDCWD, names[0], AT_FDCWD, names[1], RENAME_EXCHANGE)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        columns = set()
        for _ in range(40):
            response = gateway.client.post(
                f"/upload_csv/{chat_id}", json={"file_path": f"flip-{token}/data.csv"}
            )
            # 403 when the open went through the link (checked after the open), 404 when the
            # name was a dangling moment of the swap.
            assert response.status_code in (200, 403, 404), response.text
            if response.status_code == 200:
                columns.update(response.json()["columns"])
        assert "secret" not in columns
    finally:
        stop.set()
        swapper.join()
        (outside / "data.csv").unlink()
        outside.rmdir()
