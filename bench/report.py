"""The bench's one table: single-client latency per runtime, the Jupyter peer, concurrency and
memory per idle chat, each row with the issue's goal and, where the goal is a number, whether
this run met it."""

import statistics
from dataclasses import dataclass, field

from bench.images import ImageSide, image_lines
from bench.latency import percentile
from bench.load import LoadRun


@dataclass(frozen=True)
class Goal:
    """A latency row's goal that this run can check, per runtime (None: no bound)."""

    p50_ms: float | None = None
    p99_ms: float | None = None

    def failed(self, samples: list[float]) -> bool:
        return (self.p50_ms is not None and statistics.median(samples) > self.p50_ms) or (
            self.p99_ms is not None and percentile(samples, 99) > self.p99_ms
        )


# Name, key, the goal as printed, and the goal checked (None: judged by reading the table).
LATENCY_ROWS: list[tuple[str, str, str, Goal | None]] = [
    ("warm round trip, {code: 1+1}", "warm", "runsc p50≤2x runc", None),
    ("cold: create_chat + first result", "cold", "p50≤1500", Goal(p50_ms=1500)),
    ("cold: create_chat + first pandas DataFrame", "cold_pandas", "(empty pool)", None),
    ("pool: create_chat + first result", "pool", "p50≤100 p99≤200", Goal(100, 200)),
    ("pool: create_chat + first pandas DataFrame", "pool_pandas", "p50≤150", Goal(p50_ms=150)),
    ("pool: one sandbox made ready (background)", "refill", "", None),
    ("checkpoint, 1Mx6 mixed frame changed", "write", "≤100", None),
    ("checkpoint work, cell only reading the frame", "untouched", "≤1", None),
    ("checkpoint work, `x = 1` beside the frame", "beside", "(fsync)", None),
    ("docker kill -> len(df) answered (restore)", "restore", "≤2500", None),
]
JUPYTER_GOAL = 0.5
CPU_GOAL_MS = 1.5
RATE_GOAL = 400.0
P99_GOAL_MS = 100.0
MEMORY_GOAL_MIB = 80.0


@dataclass
class Results:
    """What a run measured; a part that was not run stays empty and its rows are left out."""

    machine: str
    runtimes: list[str] = field(default_factory=list)
    latency: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    jupyter: list[float] = field(default_factory=list)
    chats_runtime: str = ""
    chat_count: int = 0
    pandas_loaded: bool = False
    duration_s: float = 0.0
    load: list[LoadRun] = field(default_factory=list)
    idle_s: float = 0.0
    memory: dict[str, list[float]] = field(default_factory=dict)
    images_runtime: str = ""
    images: list[ImageSide] = field(default_factory=list)


def _verdict(failed: list[str]) -> str:
    return "NO: " + ", ".join(failed) if failed else "yes"


def _latency_lines(results: Results) -> list[str]:
    pairs = results.runtimes if results.latency else ["host"]
    header = f"{'measure (ms)':<50} {'n':>5}"
    for runtime in pairs:
        header += f" {runtime + ' p50':>10} {runtime + ' p99':>10}"
    lines = [header + f"  {'goal':<20} met"]
    for name, key, goal, check in LATENCY_ROWS if results.latency else []:
        if not all(results.latency[runtime].get(key) for runtime in pairs):
            continue  # its part was not run
        line = f"{name:<50} {len(results.latency[pairs[0]][key]):>5}"
        failed = []
        for runtime in pairs:
            samples = results.latency[runtime][key]
            line += f" {statistics.median(samples):>10.2f} {percentile(samples, 99):>10.2f}"
            if check is not None and check.failed(samples):
                failed.append(runtime)
        lines.append(line + f"  {goal:<20} {_verdict(failed) if check else ''}".rstrip())
        if key == "warm" and results.jupyter:
            lines += _jupyter_lines(results, pairs)
    if results.jupyter and not results.latency:
        lines += _jupyter_lines(results, pairs)
    return lines


def _jupyter_lines(results: Results, pairs: list[str]) -> list[str]:
    """The peer's own row (one measure, so under the first pair only), then ours/Jupyter per
    runtime."""
    peer = results.jupyter
    p50, p99 = statistics.median(peer), percentile(peer, 99)
    lines = [f"{'peer: warm Jupyter kernel on the host, 1+1':<50} {len(peer):>5} {p50:>10.2f}"]
    lines[0] += f" {p99:>10.2f}"
    if not results.latency:
        return lines
    line = f"{'warm 1+1, ours / Jupyter (ratio)':<50} {'':>5}"
    failed = []
    for runtime in pairs:
        ours = results.latency[runtime]["warm"]
        ratio = statistics.median(ours) / p50
        line += f" {ratio:>9.2f}x {percentile(ours, 99) / p99:>9.2f}x"
        if ratio > JUPYTER_GOAL:
            failed.append(runtime)
    goal = f"p50≤{JUPYTER_GOAL}x"
    return [*lines, line + f"  {goal:<20} {_verdict(failed)}"]


def _load_lines(results: Results) -> list[str]:
    pandas = "each with a pandas frame loaded" if results.pandas_loaded else "1+1 run only"
    lines = [
        "",
        f"concurrency (wrk is the load generator, one connection per client): POST "
        f'{{"code": "1+1"}} over {results.chat_count} warm chats ({pandas}), a connection\'s '
        f"chats its own; sandboxes under {results.chats_runtime}; {results.duration_s:g} s per "
        "row; workers: GATEWAY_WORKERS asked (what /health reports, '-': not reported); errors: "
        "bad answers plus wrk's socket errors; wrk CPU% of one core, host CPU% of all cores",
        f"{'clients':>7} {'workers':>8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'gw CPU ms/q':>11} {'wrk CPU%':>8} {'host CPU%':>9}  "
        f"{'goal':<32} met",
    ]
    for run in results.load:
        goal, failed = [f"CPU≤{CPU_GOAL_MS}"], []
        if run.gateway_cpu_ms_per_query > CPU_GOAL_MS:
            failed.append("CPU")
        if run.clients == 20:
            goal.append(f"≥{RATE_GOAL:g}/s p99≤{P99_GOAL_MS:g}")
            failed += ["req/s"] if run.per_s < RATE_GOAL else []
            failed += ["p99"] if run.p99_ms > P99_GOAL_MS else []
        if run.clients == 50:
            goal.append("no errors")
            failed += ["errors"] if run.error_count else []
        lines.append(
            f"{run.clients:>7} {run.workers:>8} {run.requests:>9} {run.per_s:>8.1f} "
            f"{run.p50_ms:>8.2f} {run.p99_ms:>8.2f} {run.error_count:>6} "
            f"{run.gateway_cpu_ms_per_query:>11.2f} {run.wrk_cpu_s / run.duration_s * 100:>8.1f}"
            f" {run.host_busy * 100:>9.1f}  {', '.join(goal):<32} {_verdict(failed)}"
        )
        if run.error_count:
            detail = ", ".join(f"{kind} {n}" for kind, n in run.errors.items() if n)
            lines.append(f"{'':>7} errors: {detail}; the first: {run.error_sample}")
    return lines


def _memory_lines(results: Results) -> list[str]:
    lines = [
        "",
        f"memory per idle chat (MiB, as docker stats: usage minus inactive file cache), sandboxes "
        f"under {results.chats_runtime}, read after {results.idle_s:g} s idle",
        f"{'state of each chat':<50} {'n':>5} {'mean':>10} {'max':>10}  {'goal':<20} met",
    ]
    for name, samples in results.memory.items():
        line = f"{name:<50} {len(samples):>5} {statistics.mean(samples):>10.1f}"
        line += f" {max(samples):>10.1f}"
        if name.startswith("pandas"):
            goal = f"max≤{MEMORY_GOAL_MIB:g}"
            line += f"  {goal:<20} {_verdict(['max'] if max(samples) > MEMORY_GOAL_MIB else [])}"
        lines.append(line)
    return lines


def report(results: Results) -> str:
    lines = ["", results.machine]
    if results.latency or results.jupyter:
        lines += _latency_lines(results)
    if results.load:
        lines += _load_lines(results)
    if results.memory:
        lines += _memory_lines(results)
    if results.images:
        lines += image_lines(results.images, results.images_runtime, results.idle_s)
    return "\n".join(lines)
