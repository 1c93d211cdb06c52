"""A run that meets a failure the code does not expect ends `failed` in the history, with a
message, frees the chat, and the next query works: for code runs and agent queries alike.

The failure is real and injected at the gateway's process boundary: the gateway (a real
`python -m gateway`) talks to the real Docker engine through `DockerProxy`, which drops its
connections while a test says so, as a restarting engine would. The Docker SDK then raises a
connection error, which no code in the gateway expects.
"""

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docker_proxy import DockerProxy, docker_proxy
from tests.fake_llm import FakeLLM, say, tool
from tests.gateway_process import GatewayProcess


@pytest.fixture(scope="module")
def proxy() -> Iterator[DockerProxy]:
    # Short: a unix socket's path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="ads-docker-", dir="/tmp"))
    with docker_proxy(folder) as proxy:
        yield proxy
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway_on_proxy(
    gateway_env: dict[str, str],
    proxy: DockerProxy,
    llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    env = {
        **gateway_env,
        # One process: with two, the second may still be starting when a test makes Docker
        # fail, and a worker that cannot reach Docker at start-up stops the whole gateway.
        "GATEWAY_WORKERS": "1",
        "DOCKER_HOST": proxy.url,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "LLM_MODEL": "fake-model",
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("docker-proxy")) as process:
        yield process


def while_docker_fails(proxy: DockerProxy, send: Callable[[], httpx.Response]) -> httpx.Response:
    proxy.fail(True)
    try:
        return send()
    finally:
        proxy.fail(False)


def assert_failed_as_answered(
    gateway: GatewayProcess, chat_id: str, response: httpx.Response
) -> dict[str, Any]:
    """The answer is a JSON 500 naming no internals, the history's record says the same, and
    the gateway's log has the traceback."""
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert "unexpected error (ConnectionError)" in detail
    history = gateway.client.get(f"/chat/{chat_id}/messages").json()
    assert [(m["status"], m["error"]) for m in history] == [("failed", detail)]
    assert "Traceback" in gateway.log() and "failed unexpectedly" in gateway.log()
    failed: dict[str, Any] = history[0]
    return failed


def test_a_code_run_that_fails_unexpectedly_ends_failed_and_frees_the_chat(
    gateway_on_proxy: GatewayProcess, proxy: DockerProxy
) -> None:
    gateway = gateway_on_proxy
    with gateway.new_chat() as chat_id:
        response = while_docker_fails(
            proxy, lambda: gateway.client.post(f"/query/{chat_id}", json={"code": "x = 1"})
        )

        failed = assert_failed_as_answered(gateway, chat_id, response)
        assert failed["kind"] == "code" and failed["result"] is None
        # The lock was released: the next query is not 409, and runs.
        assert gateway.run(chat_id, "x = 2\nx")["result"] == "2"
        history = gateway.client.get(f"/chat/{chat_id}/messages").json()
        assert [m["status"] for m in history] == ["failed", "done"]


def test_an_agent_query_that_fails_unexpectedly_ends_failed_and_frees_the_chat(
    gateway_on_proxy: GatewayProcess, proxy: DockerProxy, llm: FakeLLM
) -> None:
    gateway = gateway_on_proxy
    with gateway.new_chat() as chat_id:
        llm.script(tool("x = 1"), say("x is set."))
        response = while_docker_fails(
            proxy, lambda: gateway.client.post(f"/query/{chat_id}", json={"query": "set x"})
        )

        failed = assert_failed_as_answered(gateway, chat_id, response)
        assert (failed["kind"], failed["query"], failed["answer"]) == ("query", "set x", None)

        llm.script(tool("x = 2\nx"), say("x is 2."))
        reply = gateway.client.post(f"/query/{chat_id}", json={"query": "set x again"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["steps"][0]["result"] == "2"
        history = gateway.client.get(f"/chat/{chat_id}/messages").json()
        assert [m["status"] for m in history] == ["failed", "done"]
