"""Connecting to a chat's executor socket without trusting the folder it lies in.

The socket lives in `DATA_DIR/chats/<chat_id>/run/`, which the sandbox can write: user code can
put a link to another chat's socket (or to the Docker socket) in its place, a FIFO, a file, or a
listener of its own. Connecting by path would follow whatever is there. So, following the rule
that the gateway never acts on a path a sandbox can change:

- the folders down to `run/` are opened one at a time with O_NOFOLLOW from DATA_DIR (they are the
  gateway's own, but a link there would still not be followed);
- the socket is opened with O_PATH|O_NOFOLLOW relative to `run/`: the descriptor pins the inode,
  and a link, FIFO or regular file is refused by its own fstat (a FIFO is never opened, so nothing
  blocks);
- the socket must belong to the chat's sandbox uid (each chat has its own, so no other chat's
  code can have made it), and the connection is made through `/proc/self/fd/<n>`, which names
  that very inode, so nothing can be swapped in between;
- once connected, the listening peer's credentials (SO_PEERCRED) must be the sandbox's uid too,
  or under gVisor the uid of gVisor's own sandbox process (root), which serves the socket for
  the processes inside.

What answers is then checked by the executor client: it sends the chat's secret with every request
and refuses any answer that does not name the chat (CHAT_HEADER).
"""

import asyncio
import errno
import os
import socket
import stat
import struct
from pathlib import Path

from gateway.sandbox.files import DIR_FLAGS
from shared.protocol import SOCKET_NAME


class SocketRefused(OSError):
    """What lies at the executor socket's name is not that sandbox's socket: user code tampered
    with it. Restarting the container puts a real socket back."""


class SocketMissing(OSError):
    """No socket yet: the executor is starting, stopped, or its container is gone."""


def open_socket(data_dir: Path, chat_id: str, owner_uid: int) -> int:
    """An O_PATH descriptor of the chat's executor socket, checked to be a socket owned by
    `owner_uid`. Raises SocketMissing or SocketRefused."""
    fd = os.open(data_dir, DIR_FLAGS)
    try:
        for part in ("chats", chat_id, "run"):
            parent, fd = fd, -1
            try:
                fd = _step(parent, part)
            finally:
                os.close(parent)
        try:
            sock_fd = os.open(SOCKET_NAME, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except FileNotFoundError as e:
            raise SocketMissing(f"no executor socket for {chat_id} yet") from e
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        info = os.fstat(sock_fd)
        if not stat.S_ISSOCK(info.st_mode):
            raise SocketRefused(
                f"the executor socket of {chat_id} was replaced by a {_kind(info.st_mode)}"
            )
        if info.st_uid != owner_uid:
            raise SocketRefused(
                f"the executor socket of {chat_id} belongs to uid {info.st_uid}, "
                f"not the sandbox's {owner_uid}"
            )
    except BaseException:
        os.close(sock_fd)
        raise
    return sock_fd


def _step(dir_fd: int, name: str) -> int:
    """Open the folder `name` below `dir_fd` without following a link."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise SocketMissing(f"the sandbox folder '{name}' does not exist") from e
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SocketRefused(f"the sandbox folder '{name}' is not a plain folder") from e
        raise


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process that listens on the other end of a connected unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    uid: int  # struct unpacks each "i" as an int
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"


class SandboxSocket:
    """Connections to one chat's executor: each goes through `open_socket` and the peer check."""

    def __init__(self, data_dir: Path, chat_id: str, owner_uid: int, peer_uid: int) -> None:
        self._data_dir = data_dir
        self._chat_id = chat_id
        self._owner_uid = owner_uid
        self._peer_uid = peer_uid
        # Why the last connection was refused, if it was.
        self.refused: SocketRefused | None = None

    async def connect(self, timeout: float | None) -> socket.socket:
        """A connected, non-blocking socket to the chat's executor. Raises SocketRefused (what
        lies or listens there is not the sandbox's), SocketMissing, TimeoutError or OSError."""
        self.refused = None
        try:
            fd = open_socket(self._data_dir, self._chat_id, self._owner_uid)
        except SocketRefused as e:
            self.refused = e
            raise
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{fd}")
            uid = peer_uid(sock)
            if uid != self._peer_uid:
                self.refused = SocketRefused(
                    f"the executor of {self._chat_id} answers as uid {uid}"
                )
                raise self.refused
        except BaseException:
            sock.close()
            raise
        finally:
            os.close(fd)
        return sock
