"""All gateway configuration, read once from the environment (names as in DESIGN.md)."""

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """Settings that parse but cannot work together; raised at start-up."""


class Settings(BaseSettings):
    """Every setting the gateway reads. Each field is set by the environment variable of its name in
    upper case (`max_code_bytes` by `MAX_CODE_BYTES`), which its description names; the README's
    settings table lists them all (a unit test keeps the two in step). Under `make up` they come
    from `.env`: docker-compose.yml hands that file to the gateway whole (`env_file`)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    port: int = Field(default=8018, description="PORT: the port `python -m gateway` listens on")
    # Unset means loopback in local mode (one user, no real sign-in) and all interfaces with
    # GitHub sign-in. Compose sets 0.0.0.0 and publishes on the host's loopback.
    host: str | None = Field(default=None, description="HOST: the listen address")
    # 0 is "one per core": the gateway is CPU-bound per request, the sandboxes are not.
    gateway_workers: int = Field(
        default=0,
        ge=0,
        description=(
            "GATEWAY_WORKERS: gateway processes `python -m gateway` runs on the one port "
            "(0: one per core)"
        ),
    )
    gateway_heartbeat_ttl_s: float = Field(
        default=15.0,
        gt=0,
        description=(
            "GATEWAY_HEARTBEAT_TTL_S: a gateway process on another host that has not renewed its "
            "heartbeat for this long is taken for dead, and its running queries are ended"
        ),
    )
    public_url: str = Field(
        default="",
        description="PUBLIC_URL: where clients reach the gateway (printed links, OAuth callbacks)",
    )
    data_dir: Path = Field(
        default=Path("/var/lib/ai-data-scientist"),
        description="DATA_DIR: absolute path of the chat folders, the same for the Docker engine",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="REDIS_URL: the Redis of users and chats"
    )

    auth_mode: Literal["github", "local"] | None = Field(
        default=None,
        description="AUTH_MODE: github or local; unset: github when GITHUB_CLIENT_ID is set",
    )
    local_auth_token: str | None = Field(
        default=None, description="LOCAL_AUTH_TOKEN: the local user's token; unset: random"
    )
    session_secret: str | None = Field(
        default=None, description="SESSION_SECRET: signs the sign-in cookies (github mode)"
    )
    github_client_id: str | None = Field(
        default=None, description="GITHUB_CLIENT_ID: the GitHub OAuth app's client id"
    )
    github_client_secret: str | None = Field(
        default=None, description="GITHUB_CLIENT_SECRET: the GitHub OAuth app's secret"
    )
    github_url: str = Field(
        default="https://github.com", description="GITHUB_URL: GitHub's web address"
    )
    github_api_url: str = Field(
        default="https://api.github.com", description="GITHUB_API_URL: GitHub's API address"
    )
    # An entry of only digits is an id, so it keeps matching after a rename. Both lists empty:
    # any GitHub user may sign in, which must be asked for with ALLOW_ANY_GITHUB_USER.
    allowed_github_users: str = Field(
        default="",
        description="ALLOWED_GITHUB_USERS: comma-separated GitHub logins or numeric ids allowed in",
    )
    allowed_github_orgs: str = Field(
        default="",
        description="ALLOWED_GITHUB_ORGS: comma-separated GitHub orgs whose members are allowed in",
    )
    allow_any_github_user: bool = Field(
        default=False,
        description="ALLOW_ANY_GITHUB_USER: with both allow-lists empty, let any GitHub user in",
    )
    # Both bounds keep a stolen cookie useful for a bounded time.
    session_idle_timeout_s: float = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="SESSION_IDLE_TIMEOUT_S: a sign-in session unused this long ends",
    )
    session_max_age_s: float = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="SESSION_MAX_AGE_S: a sign-in session ends this long after sign-in",
    )

    openai_api_key: str | None = Field(default=None, description="OPENAI_API_KEY: the LLM's key")
    openai_base_url: str | None = Field(
        default=None, description="OPENAI_BASE_URL: an OpenAI-compatible API; unset: OpenAI"
    )
    llm_model: str | None = Field(default=None, description="LLM_MODEL: the model's name")
    # The agent loop's bounds; characters are about 4 to a token.
    llm_max_steps: int = Field(
        default=8, ge=1, le=50, description="LLM_MAX_STEPS: model turns per query"
    )
    llm_timeout_s: float = Field(
        default=120.0, gt=0, description="LLM_TIMEOUT_S: longest wait for one model turn"
    )
    llm_max_retries: int = Field(
        default=3, ge=0, le=10, description="LLM_MAX_RETRIES: retries of failed model calls"
    )
    llm_history_budget_chars: int = Field(
        default=24_000,
        ge=1000,
        description="LLM_HISTORY_BUDGET_CHARS: characters of past turns sent to the model",
    )
    llm_tool_output_chars: int = Field(
        default=6_000,
        ge=500,
        description="LLM_TOOL_OUTPUT_CHARS: characters of each step's output shown to the model",
    )

    sandbox_image: str = Field(
        default="ai-data-scientist/sandbox:latest",
        description="SANDBOX_IMAGE: the sandboxes' image",
    )
    # Further images a chat may be made on, chosen when it is created: an allow-list, so a user
    # names one of these and never an image of their own.
    sandbox_images: str = Field(
        default="",
        description=(
            "SANDBOX_IMAGES: further sandbox images chats may choose at creation, as "
            "comma-separated name=image pairs (gpu=ai-data-scientist/sandbox-gpu:latest); "
            "SANDBOX_IMAGE is the one named default"
        ),
    )
    packages_dir: Path = Field(
        default=Path("/var/lib/ai-data-scientist-packages"),
        description=(
            "PACKAGES_DIR: the package store, a folder of wheels (`make packages`) that chats "
            "may install from; mounted read-only into every sandbox when it exists"
        ),
    )
    sandbox_runtime: Literal["auto", "runsc", "runc"] = Field(
        default="auto",
        description=(
            "SANDBOX_RUNTIME: the sandboxes' OCI runtime: runsc (gVisor), runc, or auto "
            "(runsc where the Docker engine has it registered, else runc)"
        ),
    )
    sandbox_uid_base: int = Field(
        default=100_000_000,
        ge=1000,
        lt=2**31 - 2**24,
        description=(
            "SANDBOX_UID_BASE: each chat's sandbox runs as its own host uid, counted up from "
            "this one (keep it above the host's users and subordinate uid ranges)"
        ),
    )
    sandbox_memory_limit: str = Field(
        default="1g", description="SANDBOX_MEMORY_LIMIT: memory per sandbox (Docker's units)"
    )
    sandbox_cpus: float = Field(default=1.0, gt=0, description="SANDBOX_CPUS: CPUs per sandbox")
    sandbox_pids_limit: int = Field(
        default=256, ge=16, description="SANDBOX_PIDS_LIMIT: processes and threads per sandbox"
    )
    sandbox_exec_timeout_s: float = Field(
        default=120.0, gt=0, description="SANDBOX_EXEC_TIMEOUT_S: longest run of one query's code"
    )
    sandbox_idle_timeout_s: float = Field(
        default=1800.0, gt=0, description="SANDBOX_IDLE_TIMEOUT_S: idle sandboxes stop after this"
    )
    sandbox_start_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="SANDBOX_START_TIMEOUT_S: wait for a started sandbox's executor to answer",
    )
    sandbox_pool_size: int = Field(
        default=2,
        ge=0,
        le=64,
        description=(
            "SANDBOX_POOL_SIZE: sandboxes kept started and warm (data stack imported) for new "
            "chats to claim; they count against memory like any other; 0: no pool"
        ),
    )
    sandbox_file_size_limit: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="SANDBOX_FILE_SIZE_LIMIT: bytes; no file written in a sandbox grows past it",
    )
    # A soft quota (README: The sandbox, "Disk quota"): measured after each run and at each upload.
    sandbox_disk_limit: int = Field(
        default=2 * 1024**3,
        ge=0,
        description=(
            "SANDBOX_DISK_LIMIT: disk a chat's files and saved variables may use, in bytes or "
            "with a unit (500m, 2g); 0: no limit"
        ),
    )
    import_dir: Path | None = Field(
        default=None,
        description="IMPORT_DIR: server folder upload_csv may import from; unset: none",
    )
    run_events_ttl_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "RUN_EVENTS_TTL_S: how long a run's events stay replayable after its last one; "
            "later a replay answers from the history"
        ),
    )
    run_events_max: int = Field(
        default=10_000,
        ge=100,
        description="RUN_EVENTS_MAX: events kept per run for replay; older ones are dropped",
    )
    # Operating it (README: Operating). Admins see every user's chats and sandboxes in /admin.
    admin_github_users: str = Field(
        default="",
        description=(
            "ADMIN_GITHUB_USERS: comma-separated GitHub logins or numeric ids of the admins "
            "(local mode: the local user is the admin)"
        ),
    )
    # Quotas, checked before the work starts; 0 is unlimited for each.
    user_max_chats: int = Field(
        default=200, ge=0, description="USER_MAX_CHATS: chats one user may have; 0: no limit"
    )
    user_max_running_sandboxes: int = Field(
        default=4,
        ge=0,
        description=(
            "USER_MAX_RUNNING_SANDBOXES: sandboxes one user may have running; past it the "
            "user's least recently used one is stopped (state kept); 0: no limit"
        ),
    )
    user_disk_limit: int = Field(
        default=10 * 1024**3,
        ge=0,
        description=(
            "USER_DISK_LIMIT: disk all of a user's chats may use together (files and saved "
            "variables), in bytes or with a unit (500m, 20g); 0: no limit"
        ),
    )
    user_llm_tokens_per_day: int = Field(
        default=2_000_000,
        ge=0,
        description=(
            "USER_LLM_TOKENS_PER_DAY: LLM tokens (prompt + completion) one user may use per UTC "
            "day; 0: no limit"
        ),
    )
    metrics_token: str | None = Field(
        default=None,
        description=(
            "METRICS_TOKEN: the Bearer token Prometheus sends to GET /metrics (admins may read "
            "it too); unset: admins only"
        ),
    )
    audit_retention_days: float = Field(
        default=90.0,
        gt=0,
        description="AUDIT_RETENTION_DAYS: audit log entries older than this are dropped",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description=(
            "LOG_FORMAT: json (one object per line, for log collectors) or text (for a terminal)"
        ),
    )
    max_upload_bytes: int = Field(
        default=100 * 1024 * 1024, gt=0, description="MAX_UPLOAD_BYTES: largest upload"
    )
    max_code_bytes: int = Field(
        default=1024 * 1024, gt=0, description="MAX_CODE_BYTES: largest code accepted"
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # The Docker engine bind-mounts chat folders by this path, so it must mean the same thing
        # to the engine as to us: relative paths would resolve against different working dirs.
        if not value.is_absolute():
            raise ValueError("DATA_DIR must be an absolute path (the Docker engine mounts it)")
        return value

    @field_validator("packages_dir")
    @classmethod
    def _absolute_packages_dir(cls, value: Path) -> Path:
        # Mounted by the Docker engine by this path, as DATA_DIR is.
        if not value.is_absolute():
            raise ValueError("PACKAGES_DIR must be an absolute path (the Docker engine mounts it)")
        return value

    @field_validator("sandbox_images")
    @classmethod
    def _image_allow_list(cls, value: str) -> str:
        _image_choices(value, "")
        return value

    @field_validator("sandbox_disk_limit", "user_disk_limit", mode="before")
    @classmethod
    def _disk_limit_in_bytes(cls, value: object, info: ValidationInfo) -> object:
        name = (info.field_name or "").upper()
        return byte_size(value, name) if isinstance(value, str) else value

    @field_validator("import_dir", mode="before")
    @classmethod
    def _unset_import_dir(cls, value: object) -> object:
        # Compose passes unset variables as "", which would otherwise mean the working directory.
        return None if value == "" else value

    @field_validator("import_dir")
    @classmethod
    def _absolute_import_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("IMPORT_DIR must be an absolute path")
        return value

    def raise_if_unusable(self) -> None:
        """SettingsError naming every piece missing for the sign-in mode, at start-up rather
        than at the first sign-in."""
        if self.effective_auth_mode == "github" and (problems := self.github_sign_in_problems()):
            raise SettingsError(
                "AUTH_MODE=github cannot start: " + "; ".join(problems) + " (README: Sign-in)"
            )

    @cached_property
    def image_choices(self) -> dict[str, str]:
        """The images chats may be made on, by name: `default` (SANDBOX_IMAGE) first."""
        return _image_choices(self.sandbox_images, self.sandbox_image)

    @property
    def effective_gateway_workers(self) -> int:
        """GATEWAY_WORKERS, with 0 read as the cores this process may run on."""
        return self.gateway_workers or len(os.sched_getaffinity(0))

    @cached_property
    def effective_auth_mode(self) -> Literal["github", "local"]:
        if self.auth_mode:
            return self.auth_mode
        return "github" if self.github_client_id else "local"

    @property
    def allowed_github_user_entries(self) -> list[str]:
        return _comma_list(self.allowed_github_users)

    @property
    def admin_github_user_entries(self) -> list[str]:
        return _comma_list(self.admin_github_users)

    @property
    def allowed_github_org_list(self) -> list[str]:
        return _comma_list(self.allowed_github_orgs)

    def github_sign_in_problems(self) -> list[str]:
        """What keeps GitHub sign-in from starting safely; empty when it can."""
        problems = [
            f"{name} is not set"
            for name, value in (
                ("GITHUB_CLIENT_ID", self.github_client_id),
                ("GITHUB_CLIENT_SECRET", self.github_client_secret),
            )
            if not value
        ]
        secret_problem = _session_secret_problem(self.session_secret)
        if secret_problem:
            problems.append(secret_problem)
        if not (
            self.allowed_github_user_entries
            or self.allowed_github_org_list
            or self.allow_any_github_user
        ):
            problems.append(
                "ALLOWED_GITHUB_USERS and ALLOWED_GITHUB_ORGS are both empty, which would let any "
                "GitHub account in: name who may sign in, or set ALLOW_ANY_GITHUB_USER=true"
            )
        return problems

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_model and (self.openai_api_key or self.openai_base_url))


_BYTE_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?")
_UNITS = {None: 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def byte_size(value: str, name: str) -> int:
    """Bytes from `value`: a number, or one with a unit (k, m, g, t: powers of 1024 as in
    Docker's sizes; `500m`, `2g`, `1.5GiB`). ValueError naming the setting otherwise."""
    match = _BYTE_SIZE.fullmatch(value.strip().lower())
    if match is None:
        raise ValueError(
            f"{name} must be a number of bytes or a size with a unit (k, m, g, t: 500m, 2g), "
            f"not {value!r}"
        )
    return int(float(match[1]) * _UNITS[match[2]])


DEFAULT_IMAGE = "default"
_IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")


def _image_choices(value: str, default_image: str) -> dict[str, str]:
    """SANDBOX_IMAGES as name -> image, after `default`; ValueError naming a bad entry."""
    choices = {DEFAULT_IMAGE: default_image}
    for entry in _comma_list(value):
        name, _, image = (part.strip() for part in entry.partition("="))
        if not _IMAGE_NAME.fullmatch(name) or not image or any(c.isspace() for c in image):
            raise ValueError(
                f"SANDBOX_IMAGES entry {entry!r} is not name=image (a name of lower-case "
                "letters, digits, '.', '_' or '-', then a Docker image reference)"
            )
        if name in choices:
            raise ValueError(f"SANDBOX_IMAGES names {name!r} twice (or names 'default')")
        choices[name] = image
    return choices


def _comma_list(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


# Words of the example values people paste from docs; no random secret of 32+ characters holds
# one by chance.
_PLACEHOLDER_WORDS = ("change", "placeholder", "example", "secret", "replace")
_MIN_SECRET_CHARS = 32


def _session_secret_problem(secret: str | None) -> str | None:
    """Why SESSION_SECRET cannot sign the sign-in cookies, or None: a guessable one would let
    anyone forge them."""
    hint = (
        "set it to 32+ random characters: "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )
    if not secret:
        return f"SESSION_SECRET is not set ({hint})"
    if len(secret) < _MIN_SECRET_CHARS:
        return f"SESSION_SECRET is too short: {len(secret)} characters ({hint})"
    if any(word in secret.lower() for word in _PLACEHOLDER_WORDS) or len(set(secret)) < 8:
        return f"SESSION_SECRET looks like a placeholder ({hint})"
    return None
