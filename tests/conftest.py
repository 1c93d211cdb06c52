"""Fixtures for the whole suite: a real Redis server, the real Docker engine, gateway processes.

Nothing here is skipped when missing: a suite that cannot reach Docker or Redis fails, with a
message saying how to provide them (`make test` and .ci/run do it for you).
"""

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.fake_github import CLIENT_ID, CLIENT_SECRET, FakeGitHub
from tests.gateway_process import GatewayProcess, remove_deployment
from tests.services import redis_server

ROOT = Path(__file__).resolve().parent.parent
# How much of each gateway's log a failed test's report carries.
GATEWAY_LOG_TAIL_LINES = 80
SANDBOX_IMAGE = os.environ.get("SANDBOX_IMAGE", "ai-data-scientist/sandbox:latest")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed test's report ends with the tail of each gateway log it used: a failure on a
    loaded CI machine is often explained only there, and the run's temporary folders are gone
    by the time anyone reads the report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    gateways = {
        name: value
        for name, value in getattr(item, "funcargs", {}).items()
        if isinstance(value, GatewayProcess)
    }
    for name, process in gateways.items():
        tail = "\n".join(process.log().splitlines()[-GATEWAY_LOG_TAIL_LINES:])
        report.sections.append((f"gateway log ({name}), last lines", tail or "(empty)"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real redis-server for the session."""
    try:
        with redis_server() as server:
            yield server.url
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker engine answers ({e}): run deploy/ensure-docker.sh or `make test`")
    try:
        client.images.get(SANDBOX_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the sandbox image {SANDBOX_IMAGE} is missing: run `make images`")
    yield client
    client.close()


@pytest.fixture(scope="session")
def data_dir(docker_client: docker.DockerClient) -> Iterator[Path]:
    """A short absolute DATA_DIR (unix socket paths must stay under 108 bytes), shared by the
    session's gateways; every sandbox made under it is removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="ads-test-", dir="/tmp"))
    yield path
    remove_deployment(docker_client, path)


@pytest.fixture(scope="session")
def import_dir() -> Iterator[Path]:
    """The IMPORT_DIR of the session's gateway: files `upload_csv` may import by path."""
    path = Path(tempfile.mkdtemp(prefix="ads-import-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def gateway_env(redis_url: str, data_dir: Path, import_dir: Path) -> dict[str, str]:
    return {
        "IMPORT_DIR": str(import_dir),
        "DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "AUTH_MODE": "local",
        "LOCAL_AUTH_TOKEN": "test-token-" + os.urandom(8).hex(),
        "SANDBOX_IMAGE": SANDBOX_IMAGE,
        "SANDBOX_EXEC_TIMEOUT_S": "20",
        "SANDBOX_MEMORY_LIMIT": "512m",
        # auto: gVisor where the engine has it (make deps registers it). SANDBOX_RUNTIME=runc
        # make test runs the whole suite under runc.
        "SANDBOX_RUNTIME": os.environ.get("SANDBOX_RUNTIME", "auto"),
        # No warm pool unless a test asks for one (tests/integration/test_pool.py): the
        # suite's many gateways would each keep sandboxes started that no test claims.
        "SANDBOX_POOL_SIZE": "0",
        # The suite's tests share the local user: per-user quotas would have them stop each
        # other's sandboxes. tests/integration/test_quotas.py turns each on.
        "USER_MAX_CHATS": "0",
        "USER_MAX_RUNNING_SANDBOXES": "0",
        "USER_DISK_LIMIT": "0",
        "USER_LLM_TOKENS_PER_DAY": "0",
    }


@pytest.fixture(scope="session")
def gateway(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[GatewayProcess]:
    """The session's gateway, a real `python -m gateway` process."""
    with GatewayProcess(gateway_env, tmp_path_factory.mktemp("gateway")) as process:
        yield process


@pytest.fixture
def chat_id(gateway: GatewayProcess) -> Iterator[str]:
    """A fresh chat, deleted (with its sandbox) after the test."""
    with gateway.new_chat() as chat_id:
        yield chat_id


@pytest.fixture(scope="session")
def fake_github() -> Iterator[FakeGitHub]:
    """The session's fake GitHub, a real HTTP server on loopback."""
    github = FakeGitHub().start()
    yield github
    github.stop()


@pytest.fixture
def github(fake_github: FakeGitHub) -> FakeGitHub:
    """The fake GitHub with its default users and nothing issued; tests choose who signs in."""
    fake_github.reset()
    return fake_github


@pytest.fixture(scope="session")
def github_gateway_env(gateway_env: dict[str, str], fake_github: FakeGitHub) -> dict[str, str]:
    """A gateway with GitHub sign-in against the fake GitHub, open to any GitHub user."""
    return {
        **gateway_env,
        "AUTH_MODE": "github",
        "GITHUB_CLIENT_ID": CLIENT_ID,
        "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "SESSION_SECRET": secrets.token_urlsafe(32),
        "GITHUB_URL": fake_github.url,
        "GITHUB_API_URL": fake_github.api_url,
        "ALLOW_ANY_GITHUB_USER": "true",
    }


@pytest.fixture(scope="session")
def github_gateway(
    github_gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """The session's gateway in AUTH_MODE=github, a real `python -m gateway` process."""
    with GatewayProcess(github_gateway_env, tmp_path_factory.mktemp("github-gateway")) as process:
        yield process
