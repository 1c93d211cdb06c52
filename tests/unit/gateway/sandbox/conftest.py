"""Fixtures of the sandbox adapter tests: a scripted executor on a chat's socket."""

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.gateway.sandbox.scripted_executor import CHAT_ID, ScriptedExecutor


@pytest.fixture
def executor_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short: a unix socket's path must stay under 108 bytes. Real: it is opened link-free.
    path = Path(os.path.realpath(tmp_path_factory.mktemp("e", numbered=True)))
    (path / "chats" / CHAT_ID / "run").mkdir(parents=True)
    return path


@pytest.fixture
def executor(executor_data_dir: Path) -> Iterator[ScriptedExecutor]:
    """The scripted executor of chat CHAT_ID, answering `{}` with 200 until told otherwise."""
    server = ScriptedExecutor(executor_data_dir)
    # Polled often, so that shutting it down after each test is quick.
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
