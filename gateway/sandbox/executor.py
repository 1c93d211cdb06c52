"""Adapter for one sandbox's executor: HTTP over the unix socket bind-mounted from the sandbox.

What can go wrong is told apart, because what the caller may do next differs:
- unreachable (`ExecutorUnavailable`): the connection failed. `accepted` says whether the
  executor may have acted on the request; only one that it certainly did not may be sent again
  to a sandbox started anew.
- answered with an error: the executor's own 4xx (about the user's input) become the matching
  typed errors with its detail; anything else, and answers outside the protocol, `SandboxFailed`
  (502). Never retried.
- timeouts: the executor did not answer in time, `SandboxTimeout` (504). Never retried.
All of them are AppErrors, so none reaches a client as anything but a JSON error.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ValidationError

from gateway import metrics
from gateway.sandbox.executor_http import (
    ConnectFailed,
    ExecutorHTTP,
    HTTPFailure,
    Response,
    Timeout,
)
from gateway.sandbox.executor_socket import SandboxSocket
from shared.errors import (
    AppError,
    Conflict,
    ErrorCode,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SandboxError,
    SandboxFailed,
    SandboxTimeout,
    Unprocessable,
)
from shared.protocol import (
    CELL_OUTPUT_BUDGET_BYTES,
    CHAT_HEADER,
    EVENT_ADAPTER,
    GATEWAY_OUTPUT_SLACK_BYTES,
    MAX_REPLY_BYTES,
    ClaimRequest,
    Event,
    ExecuteRequest,
    Health,
    InterruptResult,
    LoadCsvRequest,
    LoadCsvResult,
    LoadRequest,
    LoadResult,
    ResetResult,
    VariableList,
    VariableValue,
)

log = logging.getLogger(__name__)

# The executor's own 4xx answers become the gateway's typed errors, detail passed through: they
# are about the user's input (an unknown variable, a CSV that does not parse, a busy kernel).
_ERRORS: dict[int, type[AppError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
}
# What the gateway reads of an executor's error answer: its detail, a sentence or a traceback line.
MAX_ERROR_BYTES = 64 * 1024
# How long the executor may take to answer a request that is not a cell, unless said otherwise.
_DEFAULT_TIMEOUT_S = 10.0

M = TypeVar("M", bound=BaseModel)


class ExecutorUnavailable(SandboxError):
    """The executor's socket does not answer: the container is stopped, starting or gone.

    `accepted` tells whether the executor may have acted on the request: False only when the
    connection failed before the request was sent, or (for a cell) before the executor took it
    with its 200, which it sends before running anything. Only a request it did not accept may
    be sent again to a restarted sandbox without running user code twice.
    `tampered` says that what answered (or lay at the socket's name) was not this chat's
    executor: user code replaced the socket, and only a restart of the container mends that.
    Callers retry or report it in their own words; one that reaches a route is a 503.
    """

    def __init__(self, message: str, accepted: bool = False, tampered: bool = False) -> None:
        super().__init__(message)
        self.accepted = accepted
        self.tampered = tampered


class OutputLimitExceeded(Exception):
    """A cell's stream passed its output budget (and the slack above it): the rest was not read.
    An honest executor cuts its own stream before that; this one may not be ours any more."""


class ExecutorClient:
    """One chat's executor. Each new connection is made by `SandboxSocket` (the right socket,
    never a link), each request carries the chat's secret, and each answer must name the chat;
    anything else is `ExecutorUnavailable(tampered=True)`."""

    def __init__(self, sandbox_socket: SandboxSocket, chat_id: str, secret: str) -> None:
        self.chat_id = chat_id
        self.secret = secret
        self._socket = sandbox_socket
        # Kept-alive connections per sandbox keep a warm round trip to a few milliseconds.
        self._http = ExecutorHTTP(
            sandbox_socket.connect, headers={"Authorization": f"Bearer {secret}"}
        )

    def _failed(
        self,
        error: HTTPFailure,
        what: str,
        timeout_s: float | None,
        accepted: bool,
        probe: bool = False,
    ) -> AppError:
        """The typed error for a request that got no answer: SandboxTimeout when the executor
        was too slow; else unreachable, `accepted` as the caller knows it unless the connection
        was never made. Counted in the metrics unless it was a readiness `probe`, which a
        starting sandbox fails many times before it answers."""
        never_connected = isinstance(error, ConnectFailed)
        tampered = self._socket.refused is not None
        if not probe:
            timed_out = isinstance(error, Timeout)
            metrics.executor_failed(
                "timeout" if timed_out else "tampered" if tampered else "unavailable"
            )
        if isinstance(error, Timeout):
            within = f" within {timeout_s:g} s" if timeout_s is not None else ""
            return SandboxTimeout(f"the sandbox did not answer {what}{within}")
        return ExecutorUnavailable(
            str(error) or type(error).__name__,
            accepted=accepted and not never_connected,
            tampered=tampered,
        )

    def _check_identity(self, response: Response) -> None:
        answered_for = response.headers.get(CHAT_HEADER.lower())
        if answered_for != self.chat_id:
            metrics.executor_failed("tampered")
            raise ExecutorUnavailable(
                f"the socket of {self.chat_id} answered as {answered_for or 'no executor'}",
                tampered=True,
            )
        if response.status == 401:
            # Our executor, another secret: its container was made anew since we read it.
            raise ExecutorUnavailable(f"the executor of {self.chat_id} holds another secret")

    async def health(self) -> Health:
        """The executor's health. Not answering in time is ExecutorUnavailable here: this is
        the readiness probe, and an executor that does not answer it is not ready."""
        try:
            body = await self._request("GET", "/health", timeout_s=2.0, probe=True)
        except SandboxTimeout as e:
            raise ExecutorUnavailable(e.detail) from e
        health = _parse(Health, body, "/health")
        if health.chat_id != self.chat_id:
            raise ExecutorUnavailable(
                f"the socket of {self.chat_id} answered as {health.chat_id}", tampered=True
            )
        return health

    async def claim(self) -> None:
        """Make a pooled sandbox's executor this chat's: it answers as this chat from then on
        (and refuses, answering as another, if it serves one already)."""
        request = ClaimRequest(chat_id=self.chat_id)
        await self._request("POST", "/claim", request.model_dump_json().encode(), timeout_s=5.0)

    async def execute(
        self, request: ExecuteRequest, read_timeout_s: float
    ) -> AsyncGenerator[Event, None]:
        """Stream the executor's events. Raises ExecutorUnavailable when the connection fails
        before or during the cell (the container was stopped or killed underneath us),
        SandboxTimeout when the executor sends nothing for `read_timeout_s`, the typed error of
        an error answer (SandboxFailed for an event outside the protocol), and
        OutputLimitExceeded, the connection closed, when the stream passes the cell's budget."""
        accepted = False
        try:
            async with self._http.request(
                "POST",
                "/execute",
                request.model_dump_json().encode(),
                content_type="application/json",
                timeout=_DEFAULT_TIMEOUT_S,
                read_timeout=read_timeout_s,
            ) as response:
                self._check_identity(response)
                if response.status != 200:
                    _raise_for(response.status, await _read_capped(response), "/execute")
                accepted = True
                budget = CELL_OUTPUT_BUDGET_BYTES + GATEWAY_OUTPUT_SLACK_BYTES
                async for line in _lines(response, budget):
                    yield _event(line)
        except HTTPFailure as e:
            raise self._failed(e, "POST /execute", read_timeout_s, accepted) from e

    async def retire(self) -> bool:
        """Ask the executor to take no more work, before its container is stopped as idle: a
        request that comes after is refused untouched (ExecutorUnavailable, not accepted) and
        sent again by its caller to the sandbox started anew. False when something holds its
        kernel (the sandbox is in use after all). One that cannot be asked (gone, or from an
        image without this) is taken as retired: a stop loses nothing it would have done."""
        try:
            await self._request("POST", "/retire", timeout_s=2.0)
        except Conflict:
            return False
        except AppError as e:
            log.info("the executor could not be retired (%s); stopping it anyway", e.detail)
        return True

    async def interrupt(self) -> bool:
        """Interrupt the running cell, if any; False when there was none or the executor could
        not be asked. Never raises: it is called while a run already ends, for whatever reason,
        and that reason is what the caller reports."""
        try:
            body = await self._request("POST", "/interrupt", timeout_s=2.0)
            return _parse(InterruptResult, body, "/interrupt").interrupted
        except AppError as e:
            log.info("the cell of %s could not be interrupted: %s", self.chat_id, e.detail)
            return False

    async def interrupt_and_settle(self, within_s: float = 5.0) -> None:
        """Interrupt the running cell and wait, up to `within_s`, until the executor has ended
        it, so that what the user sends next does not find the chat busy with the code they
        just stopped (ending a cell takes a moment, longer under gVisor). Never raises."""
        if not await self.interrupt():
            return
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if not (await self.health()).busy:
                    return
            except AppError:
                return  # whatever stops the executor answering, the next request finds out
            await asyncio.sleep(0.05)

    async def variables(self) -> VariableList:
        return _parse(VariableList, await self._request("GET", "/variables"), "/variables")

    async def variable(self, name: str, offset: int, limit: int) -> VariableValue:
        path = f"/variables/{quote(name, safe='')}"
        target = f"{path}?{urlencode({'offset': offset, 'limit': limit})}"
        body = await self._request("GET", target, timeout_s=60.0)
        return _parse(VariableValue, body, path)

    async def variable_csv(self, name: str) -> AsyncIterator[bytes]:
        """The variable (a DataFrame or Series) as CSV, streamed from the sandbox."""
        path = f"/variables/{quote(name, safe='')}"
        accepted = False
        try:
            async with self._http.request(
                "GET", f"{path}?format=csv", timeout=_DEFAULT_TIMEOUT_S, read_timeout=None
            ) as response:
                self._check_identity(response)
                if response.status != 200:
                    _raise_for(response.status, await _read_capped(response), path)
                accepted = True
                async for chunk in response.chunks():
                    yield chunk
        except HTTPFailure as e:
            raise self._failed(e, f"GET {path}", None, accepted) from e

    async def reset(self) -> ResetResult:
        body = await self._request("POST", "/reset", timeout_s=30.0)
        return _parse(ResetResult, body, "/reset")

    async def load_csv(self, request: LoadCsvRequest) -> LoadCsvResult:
        body = await self._request(
            "POST", "/load_csv", request.model_dump_json().encode(), timeout_s=300.0
        )
        return _parse(LoadCsvResult, body, "/load_csv")

    async def load(self, request: LoadRequest) -> LoadResult:
        """Load a workspace data file as DataFrames; one that does not load says why."""
        body = await self._request(
            "POST", "/load", request.model_dump_json().encode(), timeout_s=300.0
        )
        return _parse(LoadResult, body, "/load")

    async def _request(
        self,
        method: str,
        target: str,
        content: bytes = b"",
        *,
        timeout_s: float = _DEFAULT_TIMEOUT_S,
        probe: bool = False,
    ) -> bytes:
        """The body of a JSON answer, read up to MAX_REPLY_BYTES: a longer one is SandboxFailed,
        never buffered. Error statuses become the errors `_raise_for` gives. Once sent, the
        request counts as accepted: a connection lost after that may have left it done."""
        path = target.partition("?")[0]
        try:
            async with self._http.request(
                method,
                target,
                content,
                content_type="application/json" if content else None,
                timeout=timeout_s,
            ) as response:
                self._check_identity(response)
                body = await _read_capped(response)
                status = response.status
        except HTTPFailure as e:
            raise self._failed(e, f"{method} {path}", timeout_s, True, probe) from e
        _raise_for(status, body, path)
        return body

    async def aclose(self) -> None:
        await self._http.aclose()


async def _read_capped(response: Response) -> bytes:
    """The whole body, up to MAX_REPLY_BYTES (MAX_ERROR_BYTES for an error status); past that
    SandboxFailed, the rest unread. Raw bytes: an executor never compresses, and decompressing
    is how a small answer turns into a huge one."""
    limit = MAX_REPLY_BYTES if response.status < 400 else MAX_ERROR_BYTES
    body = bytearray()
    async for chunk in response.chunks():
        body += chunk
        if len(body) > limit:
            raise _sandbox_failed(
                f"the sandbox's answer to {response.path} passed {limit} bytes; it was dropped"
            )
    return bytes(body)


async def _lines(response: Response, budget: int) -> AsyncIterator[bytes]:
    """The body's non-empty lines, as long as the whole body stays within `budget` bytes: no
    line, however long, is buffered past it (OutputLimitExceeded)."""
    pending = bytearray()
    received = 0
    async for chunk in response.chunks():
        received += len(chunk)
        if received > budget:
            metrics.executor_failed("output_limit")
            raise OutputLimitExceeded(f"the sandbox sent more than {budget} bytes for one cell")
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, rest = pending.split(b"\n")
        pending = bytearray(rest)
        for line in lines:
            if line:
                yield bytes(line)
    if pending:
        yield bytes(pending)


def _event(line: bytes) -> Event:
    try:
        return EVENT_ADAPTER.validate_json(line)
    except ValidationError as e:
        raise _sandbox_failed(
            f"the sandbox sent a cell event outside the protocol: {_first_problem(e)}"
        ) from e


def _parse(model: type[M], body: bytes, path: str) -> M:
    """The answer as `model`; SandboxFailed when it is not one."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise _sandbox_failed(
            f"the sandbox's answer to {path} is outside the protocol: {_first_problem(e)}"
        ) from e


def _first_problem(error: ValidationError) -> str:
    # Where and what only: the input itself is the sandbox's, and may be anything.
    first = error.errors(include_input=False, include_url=False)[0]
    return f"{'.'.join(map(str, first['loc'])) or 'the body'}: {first['msg']}"


def _raise_for(status: int, body: bytes, path: str) -> None:
    """The typed error an executor's error answer stands for (see the module's docstring)."""
    if status < 400:
        return
    try:
        answer = json.loads(body)
        detail = str(answer["detail"])
        retired = answer.get("retired") is True
    except (ValueError, KeyError, TypeError, AttributeError):
        detail, retired = body.decode("utf-8", "replace"), False
    if status == 409:
        # The executor refuses only because its kernel is busy: to the user, the chat is.
        raise Conflict(detail, ErrorCode.CHAT_BUSY)
    if status == 503 and retired:
        # Retired (its container is being stopped): it took nothing, so what was asked may be
        # sent again to the sandbox started anew.
        raise ExecutorUnavailable(f"the sandbox is stopping: {detail}")
    error = _ERRORS.get(status)
    if error is not None:
        raise error(detail)
    raise _sandbox_failed(f"the sandbox failed at {path} ({status}): {detail}")


def _sandbox_failed(message: str) -> SandboxFailed:
    """SandboxFailed, counted in the metrics: the executor answered, but not as it should."""
    metrics.executor_failed("failed")
    return SandboxFailed(message)
