"""Faults a sandbox meets: runaway code, a kernel that kills itself. The chat keeps working."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import GatewayProcess


@pytest.fixture(scope="module")
def quick_gateway(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[GatewayProcess]:
    """A gateway with a 3 s execution timeout, so runaway code is stopped quickly."""
    env = {**gateway_env, "SANDBOX_EXEC_TIMEOUT_S": "3"}
    with GatewayProcess(env, Path(tmp_path_factory.mktemp("quick"))) as process:
        yield process


@pytest.fixture
def quick_chat(quick_gateway: GatewayProcess) -> Iterator[str]:
    chat_id = quick_gateway.client.post("/create_chat").json()["chat_id"]
    yield chat_id
    quick_gateway.client.delete(f"/chat/{chat_id}")


def test_infinite_loop_stops_at_timeout_and_chat_works(
    quick_gateway: GatewayProcess, quick_chat: str
) -> None:
    quick_gateway.run(quick_chat, "kept = 'yes'")
    reply = quick_gateway.run(quick_chat, "while True: pass")
    assert reply["status"] == "timeout"
    # An interruptible loop is stopped by SIGINT: the kernel and its variables survive.
    assert reply["kernel"]["state"] == "kept"
    assert quick_gateway.run(quick_chat, "kept")["result"] == "'yes'"


def test_code_that_ignores_interrupts_is_killed(
    quick_gateway: GatewayProcess, quick_chat: str
) -> None:
    quick_gateway.run(quick_chat, "kept = 'yes'")
    stubborn = """
while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
"""
    reply = quick_gateway.run(quick_chat, stubborn)
    assert reply["status"] == "timeout"
    assert reply["kernel"]["restarted"] is True
    assert reply["kernel"]["state"] == "lost"
    assert quick_gateway.run(quick_chat, "1 + 1")["result"] == "2"


@pytest.mark.parametrize(
    "code",
    ["import os\nos._exit(1)", "import ctypes\nctypes.string_at(0)"],
    ids=["os-exit", "segfault"],
)
def test_kernel_that_dies_gets_an_error_reply_and_chat_works(
    gateway: GatewayProcess, chat_id: str, code: str
) -> None:
    reply = gateway.run(chat_id, code)
    assert reply["status"] == "crashed"
    assert reply["error"] is not None
    assert reply["kernel"]["restarted"] is True
    assert gateway.run(chat_id, "2 * 21")["result"] == "42"
