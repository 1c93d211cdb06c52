"""The FastAPI application: clients made in the lifespan, routers, and error mapping."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import docker
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match

from gateway.admin.service import AdminService
from gateway.agent.llm import LLM
from gateway.agent.loop import Agent
from gateway.api import openapi
from gateway.api.csrf import SameOriginStateChanges
from gateway.api.errors import describe, error_response, explain
from gateway.api.http_metrics import HTTPMetrics
from gateway.api.limits import ENVELOPE_BYTES, BodyLimit, Limit
from gateway.api.request_ids import RequestIds
from gateway.api.routes import (
    admin,
    admin_audit,
    auth,
    chats,
    export,
    files,
    health,
    packages,
    query,
    state,
    tokens,
    web,
)
from gateway.api.routes.metrics import router as metrics_router
from gateway.audit import AuditAction, AuditLog, AuditOutcome
from gateway.auth.authenticator import Authenticator, local_token, log_sign_in
from gateway.auth.github import SIGN_IN_WINDOW_S
from gateway.chats.store import ChatStore
from gateway.metrics import process_ended
from gateway.quotas import Quotas
from gateway.runs import orphans
from gateway.runs.background import BackgroundRuns
from gateway.runs.code import QueryService
from gateway.runs.events import RunEvents
from gateway.runs.feed import RunFeed
from gateway.runs.owners import Owners
from gateway.runs.stops import RunStops
from gateway.sandbox import data_mount
from gateway.sandbox import runtime as sandbox_runtime
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.manager import SandboxManager
from gateway.sandbox.packages import PackageService
from gateway.sandbox.pool import SandboxPool
from gateway.sandbox.state import SessionService
from gateway.settings import Settings
from gateway.usage import UsageStore
from shared import env
from shared.errors import AppError, ErrorCode

log = logging.getLogger("gateway")

# How often idle sandboxes are looked for: often enough that one is stopped within a quarter of
# SANDBOX_IDLE_TIMEOUT_S past its time, and never more than every 30 s.
_IDLE_CHECK_MAX_INTERVAL_S = 30.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.raise_if_unusable()
    github_mode = settings.effective_auth_mode == "github"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            # Rides out a Redis restart (a few hundred ms) instead of failing the requests that
            # meet its closed connections: up to ~5 s of retries with growing pauses.
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=10),
        )
        docker_client = await asyncio.to_thread(docker.from_env)
        owners = Owners(redis, settings.data_dir / "gateways", settings.gateway_heartbeat_ttl_s)
        await owners.start()
        chat_store = ChatStore(redis, owner=owners.id)
        runtime = sandbox_runtime.choose(
            settings.sandbox_runtime,
            await asyncio.to_thread(sandbox_runtime.registered_runtimes, docker_client),
        )
        log.info("sandboxes run under %s", runtime)
        noexec = await asyncio.to_thread(data_mount.ensure, settings.data_dir / "chats")
        coordination = SandboxCoordination(
            redis, settings.sandbox_idle_timeout_s, settings.sandbox_start_timeout_s
        )
        sandboxes = SandboxManager(
            docker_client,
            settings,
            runtime,
            coordination,
            is_deleted=chat_store.is_deleted,
            uid_of=chat_store.sandbox_uid,
            is_busy=chat_store.query_running,
        )
        pool = SandboxPool(
            redis,
            sandboxes,
            lambda: chat_store.new_sandbox_uid(settings.sandbox_uid_base),
            settings.sandbox_pool_size,
            settings.sandbox_start_timeout_s,
        )
        if settings.sandbox_pool_size:
            sandboxes.pool = pool
        app.state.pool = pool
        app.state.settings = settings
        app.state.redis = redis
        app.state.docker = docker_client
        app.state.chats = chat_store
        app.state.sandboxes = sandboxes
        app.state.sandbox_folders_noexec = noexec
        app.state.owners = owners
        stops = RunStops(redis)
        app.state.stops = stops
        run_events = RunEvents(redis, settings.run_events_max, settings.run_events_ttl_s)
        app.state.run_events = run_events
        runs = BackgroundRuns(run_events, describe)
        app.state.runs = runs
        app.state.run_feed = RunFeed(run_events, chat_store)
        audit = AuditLog(redis, settings.audit_retention_days)
        app.state.audit = audit
        usage = UsageStore(redis)
        app.state.usage = usage

        async def audit_refusal(quota: str, user_id: str, detail: str) -> None:
            await audit.record(
                AuditAction.QUOTA_REFUSED,
                target=user_id,
                outcome=AuditOutcome.REFUSED,
                details={"quota": quota, "detail": detail},
            )

        quotas = Quotas(settings, chat_store, usage, sandboxes, coordination, audit_refusal)
        app.state.quotas = quotas
        if settings.user_max_running_sandboxes:
            sandboxes.make_room = quotas.make_room
        app.state.queries = QueryService(chat_store, sandboxes, settings, stops, quotas)
        app.state.sessions = SessionService(chat_store, sandboxes, settings, quotas)
        app.state.packages = PackageService(chat_store, sandboxes, settings, quotas)
        llm = LLM(settings) if settings.llm_configured else None
        app.state.agent = Agent(
            llm,
            chat_store,
            app.state.queries,
            app.state.sessions,
            settings,
            stops,
            app.state.packages,
            quotas,
        )
        app.state.local_token = local_token(settings)
        auth = Authenticator.create(settings, redis, app.state.local_token)
        app.state.auth = auth
        app.state.admin = AdminService(
            settings,
            chat_store,
            sandboxes,
            coordination,
            usage,
            auth,
            stops,
        )
        adopted = await sandboxes.adopt()
        log.info("gateway process %s: %d sandbox(es) found running", owners.id, len(adopted))
        await orphans.end_orphans(chat_store, owners, sandboxes, run_events)
        log_sign_in(settings, app.state.local_token)
        interval = min(_IDLE_CHECK_MAX_INTERVAL_S, settings.sandbox_idle_timeout_s / 4)
        background = [
            asyncio.create_task(sandboxes.stop_old_builds()),
            asyncio.create_task(_stop_idle_sandboxes(sandboxes, coordination, interval)),
            asyncio.create_task(orphans.keep_alive(chat_store, owners, sandboxes, run_events)),
            asyncio.create_task(stops.listen()),
        ]
        if settings.sandbox_pool_size:
            background.append(asyncio.create_task(pool.run()))
        try:
            yield
        finally:
            # The runs still going are journaled interrupted while Redis and Docker are here.
            await runs.close()
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await owners.close()
            await sandboxes.aclose()
            if llm is not None:
                await llm.aclose()
            await redis.aclose()
            docker_client.close()
            process_ended()

    app = FastAPI(title="AI Data Scientist", version="0.1.0", lifespan=lifespan)
    # Room for the largest env, JSON-escaped (twice its size covers all but control characters).
    env_slack = ENVELOPE_BYTES + 2 * env.MAX_TOTAL_BYTES
    with_env = Limit(settings.max_code_bytes, "MAX_CODE_BYTES", env_slack)
    app.add_middleware(
        BodyLimit,
        default_limit=Limit(settings.max_code_bytes, "MAX_CODE_BYTES"),
        limits={
            # A run's env, or a new chat's, comes on top of its code.
            "/query/": with_env,
            "/create_chat": with_env,
            "/upload_csv/": Limit(settings.max_upload_bytes, "MAX_UPLOAD_BYTES"),
            "/upload/": Limit(settings.max_upload_bytes, "MAX_UPLOAD_BYTES"),
        },
    )
    # Outside the body limit: a forged request is refused before its body is read.
    app.add_middleware(SameOriginStateChanges, public_url=settings.public_url)
    if github_mode:
        # authlib keeps the marker of a sign-in in progress in Starlette's session: a cookie of
        # its own, signed, living only as long as a sign-in may take. It never holds the
        # github_session.
        app.add_middleware(
            SessionMiddleware,
            secret_key=settings.session_secret or "",
            session_cookie="ads_oauth_state",
            max_age=SIGN_IN_WINDOW_S,
            same_site="lax",
            https_only=settings.base_url.startswith("https://"),
        )
    # Outside the limits, the origin check and the session: every answer, a refused one too,
    # carries its request id, and every request gets its access line (README: Logs).
    app.add_middleware(RequestIds)
    # Outermost: every request counts, those the others refuse too.
    app.add_middleware(HTTPMetrics)

    _answer_errors_as_json(app)
    for router in (
        admin.router,
        admin_audit.router,
        auth.router,
        chats.router,
        export.router,
        query.router,
        files.router,
        state.router,
        packages.router,
        health.router,
        tokens.router,
        web.router,
    ):
        app.include_router(router)
    app.include_router(auth.local_router, include_in_schema=not github_mode)
    app.include_router(auth.github_router, include_in_schema=github_mode)
    app.include_router(metrics_router)
    app.mount("/static", web.static_files(), name="static")
    openapi.install(app)
    return app


# Starlette's own errors (unknown path, wrong method, a body that does not parse, the body
# limit) by status; anything else they raise is a client error of no more specific kind.
_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


def _answer_errors_as_json(app: FastAPI) -> None:
    """Every error leaves as `{"detail", "code"}` (README: Errors), decided here and only here:
    typed errors, FastAPI's validation, Starlette's 404/405/413, Redis failing, and bugs."""

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> JSONResponse:
        return error_response(*describe(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        route = request.scope.get("route")
        body_field = route.body_field if isinstance(route, APIRoute) else None
        body = body_field.field_info.annotation if body_field is not None else None
        issues = explain(exc.errors(), body)
        return error_response(422, ErrorCode.INVALID_REQUEST, jsonable_encoder(issues))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(app, request)):
            headers.pop("Allow", None)
            headers["allow"] = allowed
        code = _HTTP_CODES.get(exc.status_code)
        if code is None:
            code = ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.INVALID_REQUEST
        return error_response(exc.status_code, code, exc.detail, headers)

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, exc: RedisError) -> JSONResponse:
        log.warning("Redis failed: %s", exc)
        return error_response(*describe(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        # The exception goes on to the server, which logs its traceback; the client learns only
        # that the request failed.
        return error_response(*describe(exc))


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """Every method some route serves at this path. Starlette names only those of the first
    route that matched the path, and GET and POST of one path are often two routes."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _stop_idle_sandboxes(
    sandboxes: SandboxManager, coordination: SandboxCoordination, interval_s: float
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with coordination.reaping() as my_turn:
                if my_turn:
                    await sandboxes.stop_idle()
        except Exception:
            # A Docker hiccup must not end the reaper; the next round tries again.
            log.exception("stopping idle sandboxes failed")


app = create_app()
