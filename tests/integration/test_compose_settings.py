"""Every setting in the env file of `make up` reaches the gateway (README, "Settings"): the stack is
rendered by the real Compose v2 binary exactly as the Makefile runs it (tests/compose.py),
`--env-file` plus ADS_ENV_FILE naming the same file."""

from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.compose import FIXED, SETTINGS, render, write_env


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
    environment = render(env_file)["gateway"]["environment"]
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
    environment = render(write_env(tmp_path / ".env", values))["gateway"]["environment"]
    assert environment == {**values, **FIXED}


def test_port_in_the_env_file_is_the_published_one(tmp_path: Path) -> None:
    gateway = render(write_env(tmp_path / ".env", {"PORT": "9001"}))["gateway"]
    assert gateway["environment"]["PORT"] == "8018"
    assert gateway["environment"]["PUBLIC_URL"] == "http://127.0.0.1:9001"
    assert [(port["published"], port["target"]) for port in gateway["ports"]] == [("9001", 8018)]


def test_without_an_env_file_the_gateway_gets_the_defaults(tmp_path: Path) -> None:
    environment = render(tmp_path / "missing.env")["gateway"]["environment"]
    assert environment == {
        **FIXED,
        "DATA_DIR": "/var/lib/ai-data-scientist",
        "IMPORT_DIR": "",
        "PACKAGES_DIR": "/var/lib/ai-data-scientist-packages",
        "PUBLIC_URL": "http://127.0.0.1:8018",
    }
