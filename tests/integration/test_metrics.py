"""GET /metrics on a real gateway of two worker processes: who may read it, and its values moving
as runs, sandbox starts, LLM calls and requests happen, summed over both workers.

Every scrape is made on a connection of its own, so any worker may serve it: a value that moved
in the other worker shows only if the workers' values are summed."""

import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_github import FakeGitHub
from tests.fake_llm import USAGE, FakeLLM, say, status, tool
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in

METRICS_TOKEN = "metrics-" + os.urandom(12).hex()
_STARTED_THEN_SLEEP = "import time\nopen('started', 'w').close()\ntime.sleep(30)"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        yield fake


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's PROMETHEUS_MULTIPROC_DIR, holding a file an earlier run left."""
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")
    return folder


@pytest.fixture(scope="module")
def gateway(
    gateway_env: dict[str, str],
    llm: FakeLLM,
    metrics_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    env = {
        **gateway_env,
        "GATEWAY_WORKERS": "2",
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "LLM_MODEL": "fake-model",
        "LLM_MAX_RETRIES": "0",
        "LLM_MAX_STEPS": "3",
    }
    with GatewayProcess(env, tmp_path_factory.mktemp("metrics-gateway")) as process:
        yield process


@pytest.fixture
def chat_id(gateway: GatewayProcess) -> Iterator[str]:
    with gateway.new_chat() as chat_id:
        yield chat_id


@dataclass
class Scrape:
    samples: list[tuple[str, dict[str, str], float]]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and labels.items() <= have.items()
        )


def scrape(gateway: GatewayProcess, token: str = METRICS_TOKEN) -> Scrape:
    """GET /metrics on a new connection (so either worker may answer), parsed."""
    response = httpx.get(
        f"{gateway.base_url}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return Scrape(
        [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        ]
    )


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def test_metrics_answer_prometheus_and_admins_only(gateway: GatewayProcess) -> None:
    url = f"{gateway.base_url}/metrics"
    unknown = httpx.get(f"{gateway.base_url}/no-such-path")
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic x"}):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 404
        assert refused.json() == unknown.json()
    for token in (METRICS_TOKEN, gateway.token):  # Prometheus, and the local user (the admin)
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        # The classic text format unless OpenMetrics is asked for: what every Prometheus reads.
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "# TYPE ads_http_requests_total counter" in response.text
    assert "/metrics" not in gateway.client.get("/openapi.json").json()["paths"]


def test_a_code_run_moves_the_run_sandbox_and_request_metrics(
    gateway: GatewayProcess, chat_id: str
) -> None:
    before = scrape(gateway)
    assert gateway.run(chat_id, "1+1")["result"] == "2"
    after = scrape(gateway)
    assert moved(before, after, "ads_runs_total", kind="code", outcome="ok") == 1
    assert moved(before, after, "ads_run_duration_seconds_count", kind="code", outcome="ok") == 1
    assert moved(before, after, "ads_run_duration_seconds_sum", kind="code") > 0
    # The chat's first run started its sandbox (no warm pool here).
    assert moved(before, after, "ads_sandbox_starts_total", how="created") == 1
    assert moved(before, after, "ads_sandbox_start_duration_seconds_count", how="created") == 1
    query = {"method": "POST", "route": "/query/{chat_id}"}
    assert moved(before, after, "ads_http_requests_total", **query, status="200") == 1
    assert after.value("ads_sandboxes_running") >= 1
    assert after.value("ads_runs_in_progress", kind="code") == 0

    assert gateway.run(chat_id, "1/0")["status"] == "error"
    again = scrape(gateway)
    assert moved(after, again, "ads_runs_total", kind="code", outcome="error") == 1
    assert moved(after, again, "ads_runs_total", kind="code", outcome="ok") == 0
    assert moved(after, again, "ads_sandbox_starts_total") == 0  # it ran already
    # The route's template, never the path with the chat's id in it.
    assert again.value("ads_http_requests_total", route=f"/query/{chat_id}") == 0


def test_refused_requests_count_with_their_status(gateway: GatewayProcess) -> None:
    before = scrape(gateway)
    assert gateway.client.get("/chat/chat_20260101_000000_none").status_code == 404
    assert gateway.client.get("/no/such/path").status_code == 404
    after = scrape(gateway)
    chat = {"method": "GET", "route": "/chat/{chat_id}", "status": "404"}
    assert moved(before, after, "ads_http_requests_total", **chat) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert moved(before, after, "ads_http_requests_total", **unmatched) == 1


def test_a_sandbox_killed_mid_run_counts_an_executor_error_and_a_crash(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    gateway.run(chat_id, "before = 'kept'")
    before = scrape(gateway)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(gateway.run, chat_id, _STARTED_THEN_SLEEP)
        gateway.wait_for_file(chat_id, "started", within_s=30)
        docker_client.containers.get(f"ads-{chat_id}").kill()
        assert running.result(timeout=60)["status"] == "crashed"
    after = scrape(gateway)
    assert moved(before, after, "ads_executor_errors_total", error="unavailable") >= 1
    assert moved(before, after, "ads_runs_total", kind="code", outcome="crashed") == 1
    # Started again at once, so the reply could say what came back.
    assert moved(before, after, "ads_sandbox_starts_total", how="restarted") == 1


def test_an_agent_query_moves_the_llm_metrics(
    gateway: GatewayProcess, chat_id: str, llm: FakeLLM
) -> None:
    llm.script(tool("1+1"), say("It is 2."))
    before = scrape(gateway)
    response = gateway.client.post(f"/query/{chat_id}", json={"query": "what is 1+1?"})
    assert response.status_code == 200, response.text
    after = scrape(gateway)
    assert moved(before, after, "ads_llm_calls_total", outcome="ok") == 2
    assert moved(before, after, "ads_llm_call_duration_seconds_count") == 2
    prompt, completion = USAGE["prompt_tokens"], USAGE["completion_tokens"]
    assert moved(before, after, "ads_llm_tokens_total", type="prompt") == 2 * prompt
    assert moved(before, after, "ads_llm_tokens_total", type="completion") == 2 * completion
    assert moved(before, after, "ads_runs_total", kind="agent", outcome="ok") == 1
    # The model's code ran inside the query's run, not as a run of its own.
    assert moved(before, after, "ads_runs_total", kind="code") == 0

    llm.script(status(401, "bad key"))
    failed = gateway.client.post(f"/query/{chat_id}", json={"query": "and 2+2?"})
    assert failed.status_code == 502, failed.text
    again = scrape(gateway)
    assert moved(after, again, "ads_llm_calls_total", outcome="llm_error") == 1
    assert moved(after, again, "ads_llm_tokens_total") == 0
    assert moved(after, again, "ads_runs_total", kind="agent", outcome="failed") == 1


def test_both_workers_write_and_a_scrape_sums_them(
    gateway: GatewayProcess, metrics_dir: Path
) -> None:
    assert not (metrics_dir / "counter_1.db").exists(), "an earlier run's file was kept"
    before = scrape(gateway)
    processes = set()
    requests = 0
    deadline = time.monotonic() + 30
    # A new connection each time: the kernel hands each to either worker.
    while len(processes) < 2 or requests < 20:
        assert time.monotonic() < deadline, f"only {processes} answered"
        processes.add(httpx.get(f"{gateway.base_url}/health").json()["process"])
        requests += 1
    after = scrape(gateway)
    health = {"method": "GET", "route": "/health", "status": "200"}
    assert moved(before, after, "ads_http_requests_total", **health) == requests
    pids = {
        match[1]
        for name in os.listdir(metrics_dir)
        if (match := re.fullmatch(r"counter_(\d+)\.db", name))
    }
    assert len(pids) >= 2, sorted(os.listdir(metrics_dir))


def test_a_signed_in_user_who_is_not_an_admin_gets_404(
    github_gateway_env: dict[str, str],
    github: FakeGitHub,
    tmp_path: Path,
) -> None:
    env = {**github_gateway_env, "ADMIN_GITHUB_USERS": "alice", "GATEWAY_WORKERS": "1"}
    with GatewayProcess(env, tmp_path) as process:
        bob, _ = sign_in(process.base_url, github, "bob")
        assert bob.get("/me").status_code == 200
        assert bob.get("/metrics").status_code == 404
        bob.close()
        alice, _ = sign_in(process.base_url, github, "alice")
        response = alice.get("/metrics")
        alice.close()
        assert response.status_code == 200
        assert "ads_http_requests_total" in response.text
