"""What the admin views show of each sandbox: its container's state, image and runtime, and
its memory and CPU use now, read from Docker's stats (one sample pair per container, taken in
parallel: Docker needs about a second to give a CPU rate)."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal, cast

from docker.errors import APIError, NotFound
from docker.models.containers import Container
from pydantic import BaseModel

# Docker answers a stats request of one container in about a second; these many at once.
_PARALLEL_STATS = 8


# A chat's sandbox, a warm pooled one no chat has claimed yet, or a chat's one-shot package
# installer (it runs pip for a few seconds to minutes, then is removed).
SandboxKind = Literal["chat", "pool", "installer"]
# What a container is, and the chat it serves or installs for (None for a pooled one).
Role = tuple[SandboxKind, str | None]


class SandboxView(BaseModel):
    container: str
    kind: SandboxKind
    # The chat it serves or installs for; None for a pooled one not claimed yet.
    chat_id: str | None
    state: str
    image: str
    runtime: str
    started_at: str | None
    memory_bytes: int | None
    memory_limit_bytes: int | None
    cpu_percent: float | None


def describe(
    containers: list[Container], role_of: Callable[[Container], Role]
) -> list[SandboxView]:
    with ThreadPoolExecutor(max_workers=_PARALLEL_STATS) as threads:
        stats = list(threads.map(_stats, containers))
    return [
        _view(container, role_of(container), sample)
        for container, sample in zip(containers, stats, strict=True)
    ]


def _stats(container: Container) -> dict[str, Any] | None:
    if container.status != "running":
        return None
    try:
        sample = cast(dict[str, Any], container.stats(stream=False))
    except (APIError, NotFound, ValueError):
        # Stopped or removed meanwhile. Docker 20.10 answers a stats request for a container
        # removed while it was being sampled (a package install ending, a chat deleted) with
        # 200 and an empty body, which the SDK's JSON decoding raises as a ValueError.
        return None
    return sample


def _view(container: Container, role: Role, sample: dict[str, Any] | None) -> SandboxView:
    attrs = container.attrs
    kind, chat_id = role
    state = attrs.get("State", {})
    started = state.get("StartedAt") if container.status == "running" else None
    memory = (sample or {}).get("memory_stats", {})
    return SandboxView(
        container=container.name or container.id or "",
        kind=kind,
        chat_id=chat_id,
        state=container.status,
        image=attrs.get("Config", {}).get("Image", ""),
        runtime=attrs.get("HostConfig", {}).get("Runtime", ""),
        started_at=_iso(started),
        memory_bytes=memory.get("usage"),
        memory_limit_bytes=memory.get("limit"),
        cpu_percent=_cpu_percent(sample),
    )


def _iso(docker_time: str | None) -> str | None:
    # Docker gives nanoseconds, which fromisoformat cannot read: cut to microseconds.
    if not docker_time or docker_time.startswith("0001-"):
        return None
    head, _, rest = docker_time.partition(".")
    fraction = rest.rstrip("Z")[:6]
    return datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00").isoformat()


def _cpu_percent(sample: dict[str, Any] | None) -> float | None:
    """CPU use between Docker's two samples, as `docker stats` computes it: 100 is one core."""
    if not sample:
        return None
    now, before = sample.get("cpu_stats", {}), sample.get("precpu_stats", {})
    try:
        used = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
        elapsed = now["system_cpu_usage"] - before["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    cores = now.get("online_cpus") or len(now["cpu_usage"].get("percpu_usage") or []) or 1
    return round(used / elapsed * cores * 100, 1) if elapsed > 0 else 0.0
