"""What connecting safely to a chat's executor socket costs, beside a plain connect.

`python -m bench.socket_connect`: a listening unix socket laid out as DATA_DIR/chats/<id>/run/
executor.sock; N connects by path, then N through `open_socket` (O_PATH|O_NOFOLLOW descriptor,
/proc/self/fd, SO_PEERCRED), alternating twice. Only new connections pay it: warm queries reuse
a kept-alive connection.
"""

import argparse
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gateway.sandbox.executor_socket import open_socket, peer_uid
from shared.protocol import SOCKET_NAME

CHAT = "chat_20260101_000000_bnch"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.socket_connect")
    parser.add_argument("-n", type=int, default=5000, help="connections per round")
    runs = parser.parse_args().n
    data_dir = Path(tempfile.mkdtemp(prefix="ads-bench-"))
    run = data_dir / "chats" / CHAT / "run"
    run.mkdir(parents=True)
    path = str(run / SOCKET_NAME)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(1024)

        def plain() -> None:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(path)
            server.accept()[0].close()

        def safe() -> None:
            fd = open_socket(data_dir, CHAT, os.getuid())
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(f"/proc/self/fd/{fd}")
                os.close(fd)
                peer_uid(client)
            server.accept()[0].close()

        rounds: list[tuple[str, Callable[[], None]]] = [("plain", plain), ("safe", safe)] * 2
        for name, connect in rounds:
            started = time.perf_counter()
            for _ in range(runs):
                connect()
            per = (time.perf_counter() - started) / runs * 1e6
            print(f"{name:6} {per:7.1f} us per connection")
    shutil.rmtree(data_dir)


if __name__ == "__main__":
    main()
