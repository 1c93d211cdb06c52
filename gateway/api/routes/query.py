"""Queries: a natural-language question for the AI data scientist, or code to run directly."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, model_validator

from gateway.agent.loop import AgentReply, Emit
from gateway.api.deps import (
    AgentDep,
    ChatDep,
    ChatStoreDep,
    QueriesDep,
    SettingsDep,
    StopsDep,
)
from gateway.api.errors import describe
from gateway.api.openapi import errors
from gateway.chats.store import CHAT_BUSY
from gateway.runs.code import CodeResult
from shared.errors import AppError, Conflict, ErrorCode, PayloadTooLarge
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
    model_config = ConfigDict(json_schema_extra=_exactly_one)

    query: str | None = None
    code: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "QueryRequest":
        if (self.query is None) == (self.code is None):
            raise ValueError('send exactly one of "query" (a question) or "code" (Python to run)')
        if self.query is not None and not self.query.strip():
            raise ValueError('"query" is empty')
        return self


router = APIRouter(tags=["query"])

# Runs cancelled by a client that went away, kept referenced until their cleanup is done.
_winding_down: set[asyncio.Task[None]] = set()


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
    chats: ChatStoreDep,
    settings: SettingsDep,
    stream: bool = False,
) -> Response:
    """Answer `query` with the AI data scientist, or run `code` directly in the sandbox. Either
    streams as Server-Sent Events with `Accept: text/event-stream` or `?stream=true`; closing
    the stream interrupts the running code."""
    streamed = stream or "text/event-stream" in request.headers.get("accept", "")
    if body.code is not None:
        code = body.code
        if len(code.encode()) > settings.max_code_bytes:
            raise PayloadTooLarge(
                f"the code is larger than MAX_CODE_BYTES allows ({settings.max_code_bytes} bytes)"
            )
        if not streamed:
            return _json(await queries.run_code(chat, code))

        async def run(emit: Emit) -> CodeResult | AgentReply:
            async def on_event(event: StreamEvent | DisplayEvent | ErrorEvent) -> None:
                await emit("output", {"step": 1, **event.model_dump(mode="json")})

            return await queries.run_code(chat, code, on_event)

    else:
        question = body.query or ""
        if not streamed:
            return _json(await agent.answer(chat, question, _ignore))

        async def run(emit: Emit) -> CodeResult | AgentReply:
            return await agent.answer(chat, question, emit)

    if await chats.query_running(chat.chat_id):
        # Checked before the stream starts, so a busy chat is a plain 409, not a 200 whose
        # first event is an error. The lock taken inside still settles any race.
        raise Conflict(CHAT_BUSY, ErrorCode.CHAT_BUSY)
    return StreamingResponse(
        _server_sent_events(run),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


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
    await stops.request(chat.chat_id, running.lock)
    deadline = time.monotonic() + _STOP_WAIT_S
    while (now := await chats.running_query(chat.chat_id)) is not None and now.lock == running.lock:
        if time.monotonic() > deadline:
            return StopResult(stopped=False)
        await asyncio.sleep(0.05)
    return StopResult(stopped=True)


def _json(reply: BaseModel) -> Response:
    """The reply as JSON, serialized once by its own model. FastAPI would first validate it
    again against the route's response model (a union), which cost a fifth of the gateway's
    CPU per `1+1`; the model still documents the reply in the OpenAPI schema."""
    return Response(reply.model_dump_json(), media_type="application/json")


async def _ignore(event: str, data: dict[str, Any]) -> None:
    return None


async def _server_sent_events(run: Callable[[Emit], Awaitable[BaseModel]]) -> AsyncIterator[str]:
    """Events as they happen, then `done` with the whole reply, or `error`. When the client
    goes away Starlette cancels this generator, which cancels the run: its code is interrupted."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    async def emit(event: str, data: dict[str, Any]) -> None:
        await queue.put((event, data))

    async def work() -> None:
        try:
            reply = await run(emit)
            await queue.put(("done", reply.model_dump(mode="json")))
        except Exception as e:
            if not isinstance(e, AppError):
                log.exception("query failed")
            status, code, detail = describe(e)
            await queue.put(("error", {"status": status, "detail": detail, "code": code}))
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    try:
        while (item := await queue.get()) is not None:
            event, data = item
            yield f"event: {event}\ndata: {json.dumps(data)}\n\n"
    finally:
        if not task.done():
            # Cancel once and let the run wind down on its own (interrupt its code, journal,
            # release the chat). Awaiting it here would pass on every further cancellation of
            # this generator, which Starlette's cancel scope repeats, and cut that cleanup short.
            task.cancel()
            _winding_down.add(task)
            task.add_done_callback(_winding_down.discard)
