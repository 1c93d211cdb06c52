"""The executor's settings, read once from the environment at start-up."""

import os
from dataclasses import dataclass

from shared.protocol import SOCKET_DIR, SOCKET_NAME, STATE_DIR, WORKSPACE_DIR

MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class Config:
    socket_path: str
    workspace: str
    # Variable checkpoints; bind-mounted from the host, never shown to users as files.
    state_dir: str
    exec_timeout_s: float
    output_limit: int
    # Who this executor serves: the gateway sends the secret with every request and checks the
    # chat id on every answer, so a request meant for another chat's sandbox is refused here.
    chat_id: str
    secret: str
    # A pooled sandbox's first kernel imports the data stack before it says it is ready, so the
    # chat that claims it pays none of that (gateway/sandbox/pool.py).
    warm_imports: bool = False


class ConfigError(Exception):
    """The executor cannot start with the environment it was given."""


def _positive(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def load_config() -> Config:
    # Taken out of the environment so that nothing this process starts inherits them.
    chat_id = os.environ.pop("EXECUTOR_CHAT_ID", "")
    secret = os.environ.pop("EXECUTOR_SECRET", "")
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"EXECUTOR_SECRET must hold at least {MIN_SECRET_CHARS} characters; the gateway "
            "sets it when it creates the sandbox"
        )
    return Config(
        socket_path=os.environ.get("EXECUTOR_SOCKET") or os.path.join(SOCKET_DIR, SOCKET_NAME),
        workspace=os.path.abspath(os.environ.get("EXECUTOR_WORKSPACE") or WORKSPACE_DIR),
        state_dir=os.path.abspath(os.environ.get("EXECUTOR_STATE") or STATE_DIR),
        exec_timeout_s=_positive("SANDBOX_EXEC_TIMEOUT_S", 60.0),
        output_limit=int(_positive("EXECUTOR_OUTPUT_LIMIT", 100_000)),
        chat_id=chat_id,
        secret=secret,
        warm_imports=os.environ.pop("EXECUTOR_WARM_IMPORTS", "") == "1",
    )
