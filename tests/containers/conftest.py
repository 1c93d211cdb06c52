"""Fixtures of the layer that tests what `make up` ships: the built gateway and redis images
(tests/containers/stack.py) and the compose file itself.

Ryuk, testcontainers' reaper of a killed run's containers, is off unless the environment turns it
on: it comes from a registry, which machines like ours lack, and every fixture here removes what
it started itself.
"""

import os
from collections.abc import Iterator

import docker
import pytest

from tests.conftest import SANDBOX_IMAGE
from tests.containers.stack import GATEWAY_IMAGE, REDIS_IMAGE

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@pytest.fixture(scope="session")
def shipped_images(docker_client: docker.DockerClient) -> Iterator[docker.DockerClient]:
    """The Docker engine, with the images under test built."""
    for image in (GATEWAY_IMAGE, REDIS_IMAGE):
        try:
            docker_client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"the image {image} is missing: run `make images`")
    yield docker_client


@pytest.fixture(scope="session")
def stack_settings() -> dict[str, str]:
    """What every stack here runs with: sandboxes as in the host-process tests, and one gateway
    process, which starts sooner and exits at once on an image whose app cannot load (uvicorn's
    supervisor of several would start the failing workers again until the healthcheck gives up;
    the compose test runs two)."""
    return {
        "GATEWAY_WORKERS": "1",
        "SANDBOX_IMAGE": SANDBOX_IMAGE,
        "SANDBOX_RUNTIME": os.environ.get("SANDBOX_RUNTIME", "auto"),
        "SANDBOX_MEMORY_LIMIT": "512m",
        "SANDBOX_EXEC_TIMEOUT_S": "30",
        "SANDBOX_POOL_SIZE": "0",
    }
