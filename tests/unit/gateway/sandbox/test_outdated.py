"""Which existing containers a gateway makes anew: those made by an older gateway, under another
runtime, as another uid, with another seccomp profile, from another image than the chat's, or
without the package mounts as they are now (their files, variables and packages come back)."""

from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from gateway.sandbox.containers import (
    ENV_SECRET,
    LABEL_SECCOMP,
    SECCOMP_DIGEST,
    SandboxContainers,
)
from gateway.settings import Settings
from shared.packages import CHAT_PACKAGES_DIR, STORE_DIR

IMAGE = "ai-data-scientist/sandbox:latest"
# The image id IMAGE names now, and an older build of it.
BUILD = "sha256:" + "1" * 64
OLDER_BUILD = "sha256:" + "0" * 64


def container(
    uid: int = 100_000_001,
    runtime: str = "runsc",
    secret: str = "s" * 43,
    seccomp: str = SECCOMP_DIGEST,
    image: str = IMAGE,
    mounts: tuple[str, ...] = (CHAT_PACKAGES_DIR,),
    build: str = BUILD,
    status: str = "exited",
) -> Container:
    attrs: dict[str, Any] = {
        "Image": build,
        "State": {"Status": status},
        "Config": {
            "Env": [f"{ENV_SECRET}={secret}"] if secret else [],
            "User": f"{uid}:{uid}",
            "Labels": {LABEL_SECCOMP: seccomp},
            "Image": image,
        },
        "HostConfig": {"Runtime": runtime},
        "Mounts": [{"Destination": mount} for mount in mounts],
    }
    return Container(attrs=attrs)


@pytest.fixture
def containers(tmp_path: Path) -> SandboxContainers:
    # Never called here: _outdated reads only what Docker reported about the container.
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41")
    return SandboxContainers(
        client, Settings(auth_mode="local", packages_dir=tmp_path / "no-store"), "runsc"
    )


def test_a_container_made_as_now_is_kept(containers: SandboxContainers) -> None:
    assert containers._outdated(container(), 100_000_001, IMAGE, BUILD) is None


def test_a_stopped_container_of_an_older_build_is_made_anew(
    containers: SandboxContainers,
) -> None:
    """`make images` built the tag again: the next start makes the sandbox from the new build.
    A running one is left serving (a cell may run in it); the gateway stops it at its start
    when idle (SandboxManager.stop_old_builds)."""
    older = container(build=OLDER_BUILD)
    assert "was built again" in (containers._outdated(older, 100_000_001, IMAGE, BUILD) or "")
    running = container(build=OLDER_BUILD, status="running")
    assert containers._outdated(running, 100_000_001, IMAGE, BUILD) is None


@pytest.mark.parametrize(
    ("made", "why"),
    [
        (container(secret=""), "without an executor secret"),
        (container(uid=10001), "runs as uid 10001"),
        (container(runtime="runc"), "runs under runc"),
        (container(seccomp="0123456789abcdef"), "another seccomp profile"),
        (container(seccomp=""), "another seccomp profile"),
        (container(image="ads-variant:1"), "made from the image ads-variant:1"),
        (container(mounts=()), "without the chat's packages folder"),
        (container(mounts=(CHAT_PACKAGES_DIR, STORE_DIR)), "package store (PACKAGES_DIR)"),
    ],
)
def test_a_container_made_otherwise_is_made_anew(
    containers: SandboxContainers, made: Container, why: str
) -> None:
    assert why in (containers._outdated(made, 100_000_001, IMAGE, BUILD) or "")
