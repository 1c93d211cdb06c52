"""Which existing containers a gateway makes anew: those made by an older gateway, under another
runtime, as another uid, or with another seccomp profile (their files and variables come back)."""

from typing import Any

import docker
import pytest
from docker.models.containers import Container
from redis.asyncio import Redis

from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.manager import (
    ENV_SECRET,
    LABEL_SECCOMP,
    SECCOMP_DIGEST,
    SandboxManager,
)
from gateway.settings import Settings


def container(
    uid: int = 100_000_001,
    runtime: str = "runsc",
    secret: str = "s" * 43,
    seccomp: str = SECCOMP_DIGEST,
) -> Container:
    attrs: dict[str, Any] = {
        "Config": {
            "Env": [f"{ENV_SECRET}={secret}"] if secret else [],
            "User": f"{uid}:{uid}",
            "Labels": {LABEL_SECCOMP: seccomp},
        },
        "HostConfig": {"Runtime": runtime},
    }
    return Container(attrs=attrs)


@pytest.fixture
def manager() -> SandboxManager:
    async def never(*_: object) -> Any:
        raise AssertionError("not asked here")

    # Never called here: _outdated reads only what Docker reported about the container.
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41")
    coordination = SandboxCoordination(Redis(), idle_timeout_s=1800, start_timeout_s=30)
    return SandboxManager(
        client, Settings(auth_mode="local"), "runsc", coordination, never, never, never
    )


def test_a_container_made_as_now_is_kept(manager: SandboxManager) -> None:
    assert manager._outdated(container(), 100_000_001) is None


@pytest.mark.parametrize(
    ("made", "why"),
    [
        (container(secret=""), "without an executor secret"),
        (container(uid=10001), "runs as uid 10001"),
        (container(runtime="runc"), "runs under runc"),
        (container(seccomp="0123456789abcdef"), "another seccomp profile"),
        (container(seccomp=""), "another seccomp profile"),
    ],
)
def test_a_container_made_otherwise_is_made_anew(
    manager: SandboxManager, made: Container, why: str
) -> None:
    assert why in (manager._outdated(made, 100_000_001) or "")
