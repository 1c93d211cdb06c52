"""Liveness of the gateway and the services it needs."""

import asyncio
import dataclasses
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.errors import ErrorCode

router = APIRouter(tags=["health"])


class PoolReport(BaseModel):
    """The warm pool (SANDBOX_POOL_SIZE): how many sandboxes it keeps, how many wait now, and
    why filling it fails, while it does."""

    size: int
    ready: int
    error: str | None


class Health(BaseModel):
    """Each service: "ok", or "down: " and why; and the OCI runtime sandboxes run under."""

    status: Literal["ok", "degraded"]
    redis: str
    docker: str
    sandbox_runtime: Literal["runsc", "runc"]
    # Whether the sandboxes' folders come from a noexec,nosuid,nodev mount (see the README).
    sandbox_folders_noexec: bool
    # GATEWAY_WORKERS as this deployment runs it, and which of them answered (its owner id in
    # the running-queries journal and the log).
    workers: int
    process: str
    pool: PoolReport


class HealthDown(Health):
    """The same, as an error body too: `code` names the culprit (Redis first)."""

    detail: str
    code: Literal[ErrorCode.STORE_UNAVAILABLE, ErrorCode.SANDBOX_UNAVAILABLE]


@router.get("/health", response_model=Health, responses={503: {"model": HealthDown}})
async def health(request: Request) -> JSONResponse:
    """200 when Redis and the Docker engine answer, else 503 naming what is down."""
    app = request.app.state
    checks: dict[str, str] = {}
    pool = PoolReport(size=app.pool.size, ready=0, error=None)
    try:
        await app.redis.ping()
        checks["redis"] = "ok"
        pool = PoolReport(**dataclasses.asdict(await app.pool.status()))
    except Exception as e:  # any failure means "down"; the message tells which
        checks["redis"] = f"down: {e}"
    try:
        await asyncio.to_thread(app.docker.ping)
        checks["docker"] = "ok"
    except Exception as e:
        checks["docker"] = f"down: {e}"
    report = Health(
        status="ok" if checks["redis"] == checks["docker"] == "ok" else "degraded",
        redis=checks["redis"],
        docker=checks["docker"],
        sandbox_runtime=app.sandboxes.runtime,
        sandbox_folders_noexec=app.sandbox_folders_noexec,
        workers=app.settings.effective_gateway_workers,
        process=app.owners.id,
        pool=pool,
    )
    if report.status == "ok":
        return JSONResponse(report.model_dump())
    down = HealthDown(
        **report.model_dump(),
        detail="; ".join(f"{name} is {how}" for name, how in checks.items() if how != "ok"),
        code=ErrorCode.STORE_UNAVAILABLE
        if checks["redis"] != "ok"
        else ErrorCode.SANDBOX_UNAVAILABLE,
    )
    return JSONResponse(down.model_dump(mode="json"), 503)
