"""`GET /metrics`: the Prometheus scrape, for Prometheus (METRICS_TOKEN) and for admins.

Anyone else gets the 404 of a path that does not exist, as for the admin routes, and the route is
left out of the OpenAPI document: it is for operators, and its body is not JSON.
"""

import asyncio
import hmac
import logging

from fastapi import APIRouter, Request, Response

from gateway import metrics
from gateway.api.deps import AuthDep, SandboxesDep, SettingsDep, get_admin
from gateway.sandbox.manager import SandboxManager
from gateway.sandbox.pool import SandboxPool
from gateway.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def scrape(
    request: Request, settings: SettingsDep, auth: AuthDep, sandboxes: SandboxesDep
) -> Response:
    """Every metric in the Prometheus text format (OpenMetrics when the Accept header asks)."""
    if not _is_metrics_token(request, settings):
        await get_admin(request, auth)  # 404 for anyone but an admin
    counts = await _sandbox_counts(sandboxes, request.app.state.pool, settings)
    accept = request.headers.get("accept", "")
    body, content_type = await asyncio.to_thread(metrics.scrape, counts, accept)
    return Response(body, headers={"Content-Type": content_type})


def _is_metrics_token(request: Request, settings: Settings) -> bool:
    expected = settings.metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    # Constant time: how much of a guess matched must not show in how long the answer took.
    return hmac.compare_digest(given.strip().encode(), expected.encode())


async def _sandbox_counts(
    sandboxes: SandboxManager, pool: SandboxPool, settings: Settings
) -> metrics.SandboxCounts:
    """From Docker and Redis, at scrape time; a source that does not answer leaves its gauge
    out of this scrape (the scrape still answers, with everything else)."""
    running: int | None = None
    pooled: int | None = None
    try:
        running = len(await sandboxes.running_chats())
    except Exception as e:
        log.warning("metrics: Docker did not list the running sandboxes: %s", e)
    try:
        pooled = (await pool.status()).ready if settings.sandbox_pool_size else 0
    except Exception as e:
        log.warning("metrics: Redis did not tell the warm pool's size: %s", e)
    return metrics.SandboxCounts(running=running, pooled=pooled)
