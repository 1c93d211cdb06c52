"""All gateway configuration, read once from the environment (names as in DESIGN.md)."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """Settings that parse but cannot work together; raised at start-up."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    port: int = 8018
    # Listen address; unset means loopback in local mode (one user, no real sign-in) and all
    # interfaces with GitHub sign-in. Compose sets 0.0.0.0 and publishes on the host's loopback.
    host: str | None = None
    # Where clients reach the gateway; used for printed links and OAuth callbacks.
    public_url: str = ""
    data_dir: Path = Path("/var/lib/ai-data-scientist")
    redis_url: str = "redis://127.0.0.1:6379/0"

    auth_mode: Literal["github", "local"] | None = None
    local_auth_token: str | None = None
    session_secret: str | None = None
    github_client_id: str | None = None
    github_client_secret: str | None = None
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    # Comma-separated GitHub logins or numeric ids (an entry of only digits is an id, so it keeps
    # matching after a rename); with ALLOWED_GITHUB_ORGS, members of those orgs are allowed too.
    # Both empty: any GitHub user may sign in.
    allowed_github_users: str = ""
    allowed_github_orgs: str = ""
    # A sign-in session ends after this long without a request, and in any case this long after
    # sign-in: a stolen cookie stays useful for a bounded time.
    session_idle_timeout_s: float = Field(default=7 * 24 * 3600, gt=0)
    session_max_age_s: float = Field(default=30 * 24 * 3600, gt=0)

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    llm_model: str | None = None
    # The agent loop: model turns per query before it must stop, and what of each step and of the
    # chat's history is sent back to the model (characters; about 4 per token).
    llm_max_steps: int = Field(default=8, ge=1, le=50)
    llm_timeout_s: float = Field(default=120.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_history_budget_chars: int = Field(default=24_000, ge=1000)
    llm_tool_output_chars: int = Field(default=6_000, ge=500)

    sandbox_image: str = "ai-data-scientist/sandbox:latest"
    sandbox_memory_limit: str = "1g"
    sandbox_cpus: float = Field(default=1.0, gt=0)
    sandbox_pids_limit: int = Field(default=256, ge=16)
    sandbox_exec_timeout_s: float = Field(default=120.0, gt=0)
    sandbox_idle_timeout_s: float = Field(default=1800.0, gt=0)
    # Seconds to wait for a new or restarted sandbox's executor to answer /health.
    sandbox_start_timeout_s: float = Field(default=30.0, gt=0)
    # RLIMIT_FSIZE in the sandbox: no single file written by user code grows beyond this.
    sandbox_file_size_limit: int = Field(default=2 * 1024**3, gt=0)
    import_dir: Path | None = None
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_code_bytes: int = Field(default=1024 * 1024, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # The Docker engine bind-mounts chat folders by this path, so it must mean the same thing
        # to the engine as to us: relative paths would resolve against different working dirs.
        if not value.is_absolute():
            raise ValueError("DATA_DIR must be an absolute path (the Docker engine mounts it)")
        return value

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

    @cached_property
    def effective_auth_mode(self) -> Literal["github", "local"]:
        if self.auth_mode:
            return self.auth_mode
        return "github" if self.github_client_id else "local"

    @property
    def allowed_github_user_entries(self) -> list[str]:
        return _comma_list(self.allowed_github_users)

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
        return problems

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_model and (self.openai_api_key or self.openai_base_url))


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
