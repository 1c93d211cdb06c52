"""All gateway configuration, read once from the environment (names as in DESIGN.md)."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    allowed_github_users: str = ""

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    llm_model: str | None = None

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
    def base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_model and (self.openai_api_key or self.openai_base_url))
