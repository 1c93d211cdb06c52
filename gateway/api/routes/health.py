"""Liveness of the gateway and the services it needs."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.errors import ErrorCode

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Each service: "ok", or "down: " and why; and the OCI runtime sandboxes run under."""

    status: Literal["ok", "degraded"]
    redis: str
    docker: str
    sandbox_runtime: Literal["runsc", "runc"]
    # Whether the sandboxes' folders come from a noexec,nosuid,nodev mount (see the README).
    sandbox_folders_noexec: bool


class HealthDown(Health):
    """The same, as an error body too: `code` names the culprit (Redis first)."""

    detail: str
    code: Literal[ErrorCode.STORE_UNAVAILABLE, ErrorCode.SANDBOX_UNAVAILABLE]


@router.get("/health", response_model=Health, responses={503: {"model": HealthDown}})
async def health(request: Request) -> JSONResponse:
    """200 when Redis and the Docker engine answer, else 503 naming what is down."""
    checks: dict[str, str] = {}
    runtime = request.app.state.sandboxes.runtime
    noexec = request.app.state.sandbox_folders_noexec
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception as e:  # any failure means "down"; the message tells which
        checks["redis"] = f"down: {e}"
    try:
        await asyncio.to_thread(request.app.state.docker.ping)
        checks["docker"] = "ok"
    except Exception as e:
        checks["docker"] = f"down: {e}"
    if checks["redis"] == "ok" and checks["docker"] == "ok":
        return JSONResponse(
            Health(
                status="ok", sandbox_runtime=runtime, sandbox_folders_noexec=noexec, **checks
            ).model_dump()
        )
    down = HealthDown(
        status="degraded",
        sandbox_runtime=runtime,
        sandbox_folders_noexec=noexec,
        **checks,
        detail="; ".join(f"{name} is {state}" for name, state in checks.items() if state != "ok"),
        code=ErrorCode.STORE_UNAVAILABLE
        if checks["redis"] != "ok"
        else ErrorCode.SANDBOX_UNAVAILABLE,
    )
    return JSONResponse(down.model_dump(mode="json"), 503)
