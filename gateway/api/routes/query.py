"""Queries: a natural-language question for the AI data scientist, or code to run directly, as
runs the gateway owns (gateway.runs.background): followed, resumed and stopped here."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.agent.loop import AgentReply, Emit
from gateway.api.deps import (
    AgentDep,
    ChatDep,
    ChatStoreDep,
    QueriesDep,
    RunFeedDep,
    RunsDep,
    SettingsDep,
    StopsDep,
)
from gateway.api.openapi import errors
from gateway.chats.store import ChatStore, RunningEntry
from gateway.runs.code import CodeResult, RunOptions
from gateway.runs.events import EVENT_ID_PATTERN, START, parse_event_id
from gateway.runs.stops import RunStops
from shared.env import Env
from shared.errors import PayloadTooLarge
from shared.protocol import DisplayEvent, ErrorEvent, StreamEvent

log = logging.getLogger(__name__)


def _exactly_one(schema: dict[str, Any]) -> None:
    # The validator below, said in the schema: a non-blank `query`, or `code`, never both.
    schema["oneOf"] = [
        {
            "required": ["query"],
            "properties": {"query": {"type": "string", "pattern": r"\S"}, "code": {"type": "null"}},
        },
        {
            "required": ["code"],
            "properties": {"code": {"type": "string"}, "query": {"type": "null"}},
        },
    ]


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one)

    query: str | None = None
    code: str | None = None
    env: Env = Field(
        default={},
        description="environment variables for this run only (every cell the AI data "
        "scientist runs in it), on top of the chat's: a name in both gets this value",
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        strict=True,  # a number: not "5", not true
        description="the longest a cell of this run may run, in seconds, at most "
        "SANDBOX_EXEC_TIMEOUT_S (its default)",
    )

    @model_validator(mode="after")
    def _one_of(self) -> "QueryRequest":
        if (self.query is None) == (self.code is None):
            raise ValueError('send exactly one of "query" (a question) or "code" (Python to run)')
        if self.query is not None and not self.query.strip():
            raise ValueError('"query" is empty')
        return self


router = APIRouter(tags=["query"])

# One Server-Sent Event (in OpenAPI 3.1 the schema of an event stream describes each event).
_EVENT = {
    "type": "object",
    "properties": {
        "event": {
            "enum": ["step_started", "code", "output", "file", "answer", "done", "error"],
        },
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
    "required": ["event", "data"],
}
_STREAMED = {
    "description": "The reply as JSON, or streamed as Server-Sent Events (`step_started`, `code`, "
    "`output`, `file`, `answer`, then `done` with the reply or `error` with `status`, `detail` "
    "and `code`)",
    "content": {"text/event-stream": {"schema": _EVENT}},
}


@router.post(
    "/query/{chat_id}",
    response_model=AgentReply | CodeResult,
    responses={200: _STREAMED, **errors(409, 502, 503, 504)},
)
async def query(
    chat: ChatDep,
    body: QueryRequest,
    request: Request,
    queries: QueriesDep,
    agent: AgentDep,
    settings: SettingsDep,
    runs: RunsDep,
    feed: RunFeedDep,
    stream: bool = False,
) -> Response:
    """Answer `query` with the AI data scientist, or run `code` directly in the sandbox. Either
    streams as Server-Sent Events with `Accept: text/event-stream` or `?stream=true`, each with
    an `id:` and the run's `run_id`. The run belongs to the gateway: closing the stream (or
    the connection) stops nothing; GET /chat/{chat_id}/runs/{run_id}/events resumes it, and
    POST /chat/{chat_id}/stop stops it."""
    streamed = stream or "text/event-stream" in request.headers.get("accept", "")
    _check_timeout(body, settings.sandbox_exec_timeout_s)
    options = RunOptions(env=body.env, timeout_s=body.timeout_s)
    if body.code is not None:
        code = body.code
        if len(code.encode()) > settings.max_code_bytes:
            raise PayloadTooLarge(
                f"the code is larger than MAX_CODE_BYTES allows ({settings.max_code_bytes} bytes)"
            )

        async def work(emit: Emit) -> CodeResult | AgentReply:
            async def on_event(event: StreamEvent | DisplayEvent | ErrorEvent) -> None:
                await emit("output", {"step": 1, **event.model_dump(mode="json")})

            return await queries.run_code(chat, code, on_event, options)

    else:
        question = body.query or ""

        async def work(emit: Emit) -> CodeResult | AgentReply:
            return await agent.answer(chat, question, emit, options)

    # Answers once the run is journaled: a busy chat is a plain 409, not a stream's error.
    run = await runs.start(chat.chat_id, work)
    if not streamed:
        return _json(await run.reply())
    return _event_stream(feed.follow(chat.chat_id, run.run_id, START))


def _check_timeout(body: QueryRequest, most_s: float) -> None:
    """A run's time limit past SANDBOX_EXEC_TIMEOUT_S is refused as the request's other
    problems are (422, FastAPI's issues)."""
    if body.timeout_s is not None and body.timeout_s > most_s:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "timeout_s"),
                    "msg": f"timeout_s is at most {most_s:g} seconds here "
                    "(SANDBOX_EXEC_TIMEOUT_S); send less, or leave it out for that",
                    "input": body.timeout_s,
                    "ctx": {"le": most_s},
                }
            ]
        )


@router.get(
    "/chat/{chat_id}/runs/{run_id}/events",
    responses={200: _STREAMED, **errors(400, 404)},
)
async def run_events(
    chat: ChatDep,
    run_id: str,
    feed: RunFeedDep,
    # The pattern is in the schema only: a value outside it is answered 400 with a message
    # (parse_event_id), not FastAPI's 422.
    last_event_id: Annotated[str, Header(json_schema_extra={"pattern": EVENT_ID_PATTERN})] = "",
) -> Response:
    """A run's events as Server-Sent Events, from any gateway process: from the start, or after
    `Last-Event-ID`, then live to its last one (`done` or `error`). A run whose events expired
    (RUN_EVENTS_TTL_S) answers with one `done` event holding its history record."""
    after = parse_event_id(last_event_id)
    await feed.check(chat.chat_id, run_id)
    return _event_stream(feed.follow(chat.chat_id, run_id, after))


class StopResult(BaseModel):
    # False when nothing ran in the chat, or the run did not end within the wait (its gateway
    # process is gone: its survivors end it within GATEWAY_HEARTBEAT_TTL_S).
    stopped: bool


# How long a stop waits for the run to end, so that the chat is free when it answers.
_STOP_WAIT_S = 10.0


@router.post("/chat/{chat_id}/stop", responses=errors(404))
async def stop(chat: ChatDep, chats: ChatStoreDep, stops: StopsDep) -> StopResult:
    """Stop the query or code run in progress in the chat, whichever gateway process runs it:
    its code is interrupted, it is journaled `interrupted` with what it did so far, and the
    request that started it gets `409 run_stopped`. Answers once the run has ended."""
    running = await chats.running_query(chat.chat_id)
    if running is None:
        return StopResult(stopped=False)
    return await _stop(chat.chat_id, running, chats, stops)


async def _stop(
    chat_id: str, running: RunningEntry, chats: ChatStore, stops: RunStops
) -> StopResult:
    await stops.request(chat_id, running.lock)
    deadline = time.monotonic() + _STOP_WAIT_S
    while (now := await chats.running_query(chat_id)) is not None and now.lock == running.lock:
        if time.monotonic() > deadline:
            return StopResult(stopped=False)
        await asyncio.sleep(0.05)
    return StopResult(stopped=True)


@router.delete("/chat/{chat_id}/runs/{run_id}", responses=errors(404))
async def stop_run(
    chat: ChatDep,
    run_id: str,
    chats: ChatStoreDep,
    stops: StopsDep,
    feed: RunFeedDep,
) -> StopResult:
    """Stop this run if it is still going, as POST /chat/{chat_id}/stop does; `stopped` is
    false for a run that had ended."""
    await feed.check(chat.chat_id, run_id)
    running = await chats.running_query(chat.chat_id)
    if running is None or running.run != run_id:
        return StopResult(stopped=False)
    return await _stop(chat.chat_id, running, chats, stops)


def _json(reply: BaseModel) -> Response:
    """The reply as JSON, serialized once by its own model. FastAPI would first validate it
    again against the route's response model (a union), which cost a fifth of the gateway's
    CPU per `1+1`; the model still documents the reply in the OpenAPI schema."""
    return Response(reply.model_dump_json(), media_type="application/json")


def _event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
