"""The real Docker engine behind a socket of our own that a test can cut, as an engine restart
or a daemon crash would: while `failing`, every connection is closed as soon as it is made (and
those open are closed), so the gateway's Docker calls fail with a connection error mid-request.

Bytes pass through unchanged otherwise; the gateway is pointed at it with DOCKER_HOST.
"""

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise RuntimeError(f"the Docker proxy passes to a unix socket only, not {host}")
    return host.removeprefix("unix://")


class DockerProxy:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "docker.sock"
        self.url = f"unix://{self.path}"
        self._engine = _engine_socket()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._failing = False
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(64)

    def start(self) -> "DockerProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._listener.close()
        self.fail(True)

    def fail(self, failing: bool) -> None:
        with self._lock:
            self._failing = failing
            doomed = list(self._open) if failing else []
        for sock in doomed:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            with self._lock:
                failing = self._failing
            if failing:
                _close(client)
                continue
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self._engine)
            with self._lock:
                self._open |= {client, engine}
            threading.Thread(target=self._pump, args=(client, engine), daemon=True).start()
            threading.Thread(target=self._pump, args=(engine, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with self._lock:
            self._open -= {source, target}
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def docker_proxy(folder: Path) -> Iterator[DockerProxy]:
    proxy = DockerProxy(folder).start()
    try:
        yield proxy
    finally:
        proxy.stop()
