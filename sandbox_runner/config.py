"""The executor's settings, read once from the environment at start-up."""

import os
from dataclasses import dataclass

from shared.protocol import SOCKET_DIR, SOCKET_NAME, STATE_DIR, WORKSPACE_DIR


@dataclass(frozen=True)
class Config:
    socket_path: str
    workspace: str
    # Variable checkpoints; bind-mounted from the host, never shown to users as files.
    state_dir: str
    exec_timeout_s: float
    output_limit: int


def _positive(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def load_config() -> Config:
    return Config(
        socket_path=os.environ.get("EXECUTOR_SOCKET") or os.path.join(SOCKET_DIR, SOCKET_NAME),
        workspace=os.path.abspath(os.environ.get("EXECUTOR_WORKSPACE") or WORKSPACE_DIR),
        state_dir=os.path.abspath(os.environ.get("EXECUTOR_STATE") or STATE_DIR),
        exec_timeout_s=_positive("SANDBOX_EXEC_TIMEOUT_S", 60.0),
        output_limit=int(_positive("EXECUTOR_OUTPUT_LIMIT", 100_000)),
    )
