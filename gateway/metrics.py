"""Prometheus metrics: the metric objects the gateway moves, the functions that move them, and
the scrape `GET /metrics` answers (README: Operating, "Metrics").

Under `python -m gateway` every worker process writes its values to files in one folder
(prometheus_client's multiprocess mode, gateway.metrics_dir), and a scrape, served by whichever
worker, sums them: counters and histograms over every process that ever ran, the one gauge of
runs in progress over the live ones only. Imported elsewhere (tests building the app in-process)
the values live in this process's memory. What Docker and Redis know (sandboxes running, the
warm pool) is counted at scrape time instead, so it is right whichever process answers.
"""

import glob
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

QUOTA_REFUSALS = Counter(
    "ads_quota_refusals", "Requests refused because a quota was reached, by quota.", ["quota"]
)
HTTP_REQUESTS = Counter(
    "ads_http_requests",
    "HTTP requests answered, by method, route (the path template) and status.",
    ["method", "route", "status"],
)
RUNS = Counter("ads_runs", "Runs ended, by kind (code, agent) and outcome.", ["kind", "outcome"])
RUN_DURATION = Histogram(
    "ads_run_duration_seconds",
    "How long runs took, from journaled to ended, by kind and outcome.",
    ["kind", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
RUNS_IN_PROGRESS = Gauge(
    "ads_runs_in_progress",
    "Runs going on now, by kind.",
    ["kind"],
    # Summed over the live processes only: a dead worker's runs ended with it.
    multiprocess_mode="livesum",
)
SANDBOX_STARTS = Counter(
    "ads_sandbox_starts",
    "Sandboxes started, by how: claimed (from the warm pool), created, restarted, pool.",
    ["how"],
)
SANDBOX_START_DURATION = Histogram(
    "ads_sandbox_start_duration_seconds",
    "How long a sandbox took from asked for to its executor answering, by how it started.",
    ["how"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60),
)
EXECUTOR_ERRORS = Counter(
    "ads_executor_errors",
    "Requests to a sandbox's executor that failed on the sandbox's side, by error.",
    ["error"],
)
LLM_CALLS = Counter(
    "ads_llm_calls",
    "Model turns asked of the LLM, by outcome (ok, or the error's code).",
    ["outcome"],
)
LLM_TOKENS = Counter(
    "ads_llm_tokens", "Tokens the LLM reported using, by type (prompt, completion).", ["type"]
)
LLM_CALL_DURATION = Histogram(
    "ads_llm_call_duration_seconds",
    "How long one model turn took, its whole stream, retries included.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)


def quota_refused(quota: str) -> None:
    """Count one request refused by the named quota."""
    QUOTA_REFUSALS.labels(quota=quota).inc()


def run_started(kind: str) -> float:
    """Count a run as in progress; returns its start, for run_ended."""
    RUNS_IN_PROGRESS.labels(kind=kind).inc()
    return time.perf_counter()


def run_ended(kind: str, outcome: str, started: float) -> None:
    RUNS_IN_PROGRESS.labels(kind=kind).dec()
    RUNS.labels(kind=kind, outcome=outcome).inc()
    RUN_DURATION.labels(kind=kind, outcome=outcome).observe(time.perf_counter() - started)


def sandbox_started(how: str, seconds: float) -> None:
    SANDBOX_STARTS.labels(how=how).inc()
    SANDBOX_START_DURATION.labels(how=how).observe(seconds)


def executor_failed(error: str) -> None:
    EXECUTOR_ERRORS.labels(error=error).inc()


def llm_called(outcome: str, seconds: float, usage: Mapping[str, int]) -> None:
    LLM_CALLS.labels(outcome=outcome).inc()
    LLM_CALL_DURATION.observe(seconds)
    for kind in ("prompt", "completion"):
        tokens = usage.get(f"{kind}_tokens", 0)
        if tokens > 0:
            LLM_TOKENS.labels(type=kind).inc(tokens)


@dataclass(frozen=True)
class SandboxCounts:
    """What a scrape reads from Docker and Redis; None for a source that did not answer (its
    gauge is left out of that scrape rather than reported as 0)."""

    running: int | None
    pooled: int | None


class _SandboxGauges(Collector):
    def __init__(self, counts: SandboxCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        if self._counts.running is not None:
            yield GaugeMetricFamily(
                "ads_sandboxes_running",
                "Chats' sandboxes running now (Docker, this DATA_DIR).",
                value=self._counts.running,
            )
        if self._counts.pooled is not None:
            yield GaugeMetricFamily(
                "ads_sandboxes_pooled",
                "Warm pooled sandboxes ready for new chats to claim.",
                value=self._counts.pooled,
            )


def scrape(counts: SandboxCounts, accept: str) -> tuple[bytes, str]:
    """Every metric, and its content type: in the format the `accept` header asks for (the
    Prometheus text format unless it asks for OpenMetrics), all processes' values summed in
    multiprocess mode, this process's otherwise, and the sandbox gauges. Reads files: call it
    off the event loop."""
    registry = CollectorRegistry()
    folder = os.environ.get(MULTIPROCESS_DIR_ENV)
    if folder:
        _forget_dead_processes(folder)
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Everything())
    registry.register(_SandboxGauges(counts))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class _Everything(Collector):
    """This process's default registry (our metrics, and the process and Python ones)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def process_ended() -> None:
    """This worker process stops: its runs-in-progress gauge stops counting."""
    folder = os.environ.get(MULTIPROCESS_DIR_ENV)
    if folder:
        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def _forget_dead_processes(folder: str) -> None:
    """Drop the live gauges of processes that died without process_ended (killed; uvicorn's
    supervisor starts another in their place)."""
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.fullmatch(os.path.basename(path))
        if match and not _alive(int(match[1])):
            multiprocess.mark_process_dead(int(match[1]), folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # there, but not ours
    return True
