"""The images `make up` ships, started through testcontainers as docker-compose.yml wires them.

Each service is rendered by the real Compose binary (tests/compose.py) from an env file the test
writes, and that rendering is what the container gets: its environment (the env file's settings
plus what compose fixes), its bind mounts (the Docker socket, DATA_DIR and IMPORT_DIR at the same
paths), its healthcheck and memory limit, a network of its own on which the gateway finds Redis as
`redis`, and the gateway's port published on the host's loopback. Only the images can change:
ADS_GATEWAY_IMAGE and ADS_REDIS_IMAGE name others (a deliberately broken one, say).
"""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

from tests.compose import ROOT, render, write_env
from tests.gateway_process import remove_deployment
from tests.services import free_port

GATEWAY_IMAGE = os.environ.get("ADS_GATEWAY_IMAGE", "ai-data-scientist/gateway:latest")
REDIS_IMAGE = os.environ.get("ADS_REDIS_IMAGE", "ai-data-scientist/redis:latest")
LOOPBACK = "127.0.0.1"
# The bridge driver's default address for published ports: testcontainers' with_bind_ports
# takes no address, and compose publishes the gateway on the host's loopback only.
HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_NANOSECONDS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


class UntilHealthy(WaitStrategy):
    """Until the container's healthcheck passes. A container that exits first fails at once,
    with the end of its log, instead of waiting out the timeout: a broken image usually does."""

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        wrapped = container.get_wrapped_container()
        deadline = time.monotonic() + self._startup_timeout
        while True:
            wrapped.reload()
            state = wrapped.attrs["State"]
            health = state.get("Health", {}).get("Status")
            if health == "healthy":
                return
            if state["Status"] in ("exited", "dead"):
                raise AssertionError(
                    f"{wrapped.name} ({wrapped.attrs['Config']['Image']}) exited with code "
                    f"{state['ExitCode']} before its healthcheck passed; its log ends:\n"
                    + log_tail(wrapped)
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{wrapped.name} not healthy after {self._startup_timeout:.0f} s (health: "
                    f"{health}); its log ends:\n" + log_tail(wrapped)
                )
            time.sleep(self._poll_interval)


def log_tail(container: Any, lines: int = 40) -> str:
    return str(container.logs(tail=lines).decode(errors="replace"))


def nanoseconds(duration: str) -> int:
    """A Go duration as compose renders it ("3s", "1m30s") in the nanoseconds Docker takes."""
    return sum(int(float(n) * _NANOSECONDS[unit]) for n, unit in _DURATION.findall(duration))


def service_container(
    service: dict[str, Any], name: str, image: str, network: Network, alias: str
) -> DockerContainer:
    """A container of `image` made as compose would make `service`: environment, bind mounts,
    published ports, healthcheck and memory limit. Not its named volumes (a test's Redis keeps
    its few keys in its own layer) and not its restart policy (a crash loop would hide a crash)."""
    container = (
        DockerContainer(image)
        .with_name(name)
        .with_network(network)
        .with_network_aliases(alias)
        .with_envs(**{k: v for k, v in service.get("environment", {}).items() if v is not None})
        .waiting_for(UntilHealthy().with_startup_timeout(120).with_poll_interval(0.5))
    )
    for volume in service.get("volumes", []):
        if volume["type"] == "bind":
            mode = "ro" if volume.get("read_only") else "rw"
            container.with_volume_mapping(volume["source"], volume["target"], mode)
    for port in service.get("ports", []):
        assert port["host_ip"] == LOOPBACK, port
        container.with_bind_ports(port["target"], int(port["published"]))
    check = service["healthcheck"]
    return container.with_kwargs(
        healthcheck={
            "test": check["test"],
            "interval": nanoseconds(check["interval"]),
            "timeout": nanoseconds(check["timeout"]),
            "retries": check["retries"],
        },
        mem_limit=int(service["mem_limit"]),
        memswap_limit=int(service["memswap_limit"]),
    )


@contextmanager
def stack_network() -> Iterator[Network]:
    """A bridge network for one stack, as compose makes `<project>_default`."""
    with Network(docker_network_kw={"options": {HOST_BINDING: LOOPBACK}}) as network:
        yield network


def host_address(client: docker.DockerClient, network: Network) -> str:
    """The host's own address on `network`: reachable from the host and from its containers,
    as a real GitHub would be from both the browser and the gateway."""
    config = client.networks.get(network.name).attrs["IPAM"]["Config"]
    return str(config[0]["Gateway"])


@dataclass
class Deployment:
    """A running stack: the gateway as a user reaches it, and its containers."""

    gateway: DockerContainer
    redis: DockerContainer
    base_url: str
    data_dir: Path
    import_dir: Path
    token: str

    def client(self) -> httpx.Client:
        """A client with the local user's token, as curl sends it."""
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(60.0),
        )

    def restart_gateway(self) -> None:
        """`docker restart` the gateway (SIGTERM, then start) and wait until healthy again."""
        self.gateway.get_wrapped_container().restart(timeout=20)
        UntilHealthy().with_startup_timeout(120).with_poll_interval(0.5).wait_until_ready(
            self.gateway
        )


@contextmanager
def deploy(
    client: docker.DockerClient, network: Network, settings: dict[str, str], workdir: Path
) -> Iterator[Deployment]:
    """Redis and the gateway on `network` with these settings in their env file, as `make up`
    starts them (DATA_DIR's chats/ mounted noexec on the host first); afterwards both are
    removed, and so is every sandbox the gateway made and DATA_DIR."""
    data_dir = Path(tempfile.mkdtemp(prefix="ads-tc-", dir="/tmp"))
    import_dir = Path(tempfile.mkdtemp(prefix="ads-tc-import-", dir="/tmp"))
    port = free_port()
    token = settings.get("LOCAL_AUTH_TOKEN", "")
    # Inside IMPORT_DIR's temporary folder, so it goes with it; compose mounts it at the same path.
    packages_dir = import_dir / "packages"
    packages_dir.mkdir()
    values = {
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "IMPORT_DIR": str(import_dir),
        "PACKAGES_DIR": str(packages_dir),
    }
    services = render(write_env(workdir / ".env", {**values, **settings}))
    name = f"ads-tc-{secrets.token_hex(4)}"
    try:
        subprocess.run([ROOT / "deploy/ensure-data-mount.sh", data_dir], check=True)
        with (
            service_container(
                services["redis"], f"{name}-redis", REDIS_IMAGE, network, "redis"
            ) as redis,
            service_container(
                services["gateway"], f"{name}-gateway", GATEWAY_IMAGE, network, "gateway"
            ) as gateway,
        ):
            yield Deployment(
                gateway, redis, f"http://{LOOPBACK}:{port}", data_dir, import_dir, token
            )
    finally:
        remove_deployment(client, data_dir)
        shutil.rmtree(import_dir, ignore_errors=True)
