"""Liveness of the gateway and the services it needs."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when Redis and the Docker engine answer, else 503 naming what is down."""
    checks: dict[str, str] = {}
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
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", **checks}, 200 if healthy else 503
    )
