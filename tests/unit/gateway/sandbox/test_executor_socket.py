"""The gateway connects only to a chat's own executor socket, whatever user code put at its name.

The layout is DATA_DIR/chats/<chat_id>/run/executor.sock, as on a server; the "sandbox" here is
this test process, so the owner it must have is our own uid.
"""

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from gateway.sandbox.executor_socket import (
    SandboxSocket,
    SocketMissing,
    SocketRefused,
    open_socket,
)
from shared.protocol import SOCKET_NAME
from tests.unit.sandbox_runner.conftest import CHAT_ID, Executor

OTHER_CHAT = "chat_20260101_000000_othr"


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short: a unix socket's path must stay under 108 bytes.
    root = Path(os.path.realpath(tmp_path_factory.mktemp("d", numbered=True)))
    for chat_id in (CHAT_ID, OTHER_CHAT):
        (root / "chats" / chat_id / "run").mkdir(parents=True)
    return root


def _socket_path(data_dir: Path, chat_id: str) -> Path:
    return data_dir / "chats" / chat_id / "run" / SOCKET_NAME


@pytest.fixture
def victim(data_dir: Path) -> Iterator[socket.socket]:
    """A listening socket: another chat's executor."""
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(_socket_path(data_dir, OTHER_CHAT)))
        server.listen()
        yield server


def test_the_chats_own_socket_opens(data_dir: Path, victim: socket.socket) -> None:
    fd = open_socket(data_dir, OTHER_CHAT, os.getuid())
    os.close(fd)


@pytest.mark.parametrize("target", ["victim", "/var/run/docker.sock", "/nonexistent"])
def test_a_link_in_place_of_the_socket_is_refused(
    data_dir: Path, victim: socket.socket, target: str
) -> None:
    link_to = _socket_path(data_dir, OTHER_CHAT) if target == "victim" else Path(target)
    _socket_path(data_dir, CHAT_ID).symlink_to(link_to)
    with pytest.raises(SocketRefused, match="symbolic link"):
        open_socket(data_dir, CHAT_ID, os.getuid())


def test_a_fifo_is_refused_without_blocking(data_dir: Path) -> None:
    os.mkfifo(_socket_path(data_dir, CHAT_ID))
    with pytest.raises(SocketRefused, match="FIFO"):
        open_socket(data_dir, CHAT_ID, os.getuid())


def test_a_regular_file_is_refused(data_dir: Path) -> None:
    _socket_path(data_dir, CHAT_ID).write_text("HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(SocketRefused, match="regular file"):
        open_socket(data_dir, CHAT_ID, os.getuid())


def test_a_socket_of_another_owner_is_refused(data_dir: Path, victim: socket.socket) -> None:
    with pytest.raises(SocketRefused, match="belongs to uid"):
        open_socket(data_dir, OTHER_CHAT, os.getuid() + 1)


def test_a_linked_run_folder_is_refused(data_dir: Path, victim: socket.socket) -> None:
    run = data_dir / "chats" / CHAT_ID / "run"
    run.rmdir()
    run.symlink_to(data_dir / "chats" / OTHER_CHAT / "run")
    with pytest.raises(SocketRefused, match="not a plain folder"):
        open_socket(data_dir, CHAT_ID, os.getuid())


def test_no_socket_yet_is_missing_not_refused(data_dir: Path) -> None:
    with pytest.raises(SocketMissing):
        open_socket(data_dir, CHAT_ID, os.getuid())


async def test_a_peer_of_another_uid_is_refused(data_dir: Path, victim: socket.socket) -> None:
    sock = await SandboxSocket(data_dir, OTHER_CHAT, os.getuid(), os.getuid()).connect(5)
    sock.close()
    # The socket file belongs to the expected uid (the suite runs as root, as CI does), but
    # whoever listens on it does not.
    wrong_uid = os.getuid() + 1
    os.chown(_socket_path(data_dir, OTHER_CHAT), wrong_uid, -1)
    wrong = SandboxSocket(data_dir, OTHER_CHAT, wrong_uid, wrong_uid)
    with pytest.raises(SocketRefused, match=f"answers as uid {os.getuid()}"):
        await wrong.connect(5)
    assert wrong.refused is not None


@pytest.fixture
def real_executor(data_dir: Path) -> Iterator[Executor]:
    """A real executor whose socket lies where the gateway looks for CHAT_ID's."""
    base = data_dir / "chats" / CHAT_ID / "run"
    executor = Executor(base, {})
    # The socket's own name is the harness's; a hard link (same inode) is the name we look up.
    os.link(executor.socket_path, base / SOCKET_NAME)
    yield executor
    executor.stop()


async def test_an_executor_answering_for_another_chat_is_an_impostor(
    data_dir: Path, real_executor: Executor
) -> None:
    # OTHER_CHAT's socket name made to hold CHAT_ID's executor.
    os.link(real_executor.socket_path, _socket_path(data_dir, OTHER_CHAT))
    backend = SandboxSocket(data_dir, OTHER_CHAT, os.getuid(), os.getuid())
    client = ExecutorClient(backend, OTHER_CHAT, real_executor.secret)
    with pytest.raises(ExecutorUnavailable) as caught:
        await client.health()
    assert caught.value.tampered
    assert f"answered as {CHAT_ID}" in str(caught.value)
    await client.aclose()


async def test_the_right_executor_with_another_secret_is_stale_not_tampered(
    data_dir: Path, real_executor: Executor
) -> None:
    backend = SandboxSocket(data_dir, CHAT_ID, os.getuid(), os.getuid())
    client = ExecutorClient(backend, CHAT_ID, "a-secret-from-an-earlier-container-" + "x" * 8)
    with pytest.raises(ExecutorUnavailable) as caught:
        await client.health()
    assert not caught.value.tampered
    await client.aclose()
    good = ExecutorClient(backend, CHAT_ID, real_executor.secret)
    assert (await good.health()).chat_id == CHAT_ID
    await good.aclose()


async def test_a_tampered_socket_is_reported_as_such(data_dir: Path) -> None:
    _socket_path(data_dir, CHAT_ID).symlink_to("/var/run/docker.sock")
    client = ExecutorClient(
        SandboxSocket(data_dir, CHAT_ID, os.getuid(), os.getuid()), CHAT_ID, "s"
    )
    with pytest.raises(ExecutorUnavailable) as caught:
        await asyncio.wait_for(client.health(), 10)
    assert caught.value.tampered
    await client.aclose()
