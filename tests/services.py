"""Real local services for tests and benchmarks: a redis-server on a free loopback port."""

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server with AOF on, as in production; `restart` stops it gracefully (as a restart
    of its container would) and starts it again on the same port and data folder. `options` are
    more command-line settings, e.g. ("--maxmemory", "8mb")."""

    def __init__(self, workdir: Path, options: tuple[str, ...] = ()) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: `make deps` installs it")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
        ]
        self._args += ["--appendonly", "yes", "--save", "", *options]
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(self._args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def redis_server(
    workdir: Path | None = None, options: tuple[str, ...] = ()
) -> Iterator[RedisServer]:
    """A started RedisServer, stopped (and its temporary folder removed) afterwards."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="ads-redis-"))
    server = RedisServer(folder, options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
