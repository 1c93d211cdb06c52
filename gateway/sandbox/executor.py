"""Adapter for one sandbox's executor: HTTP over the unix socket bind-mounted from the sandbox."""

import json
from collections.abc import AsyncIterator

import httpcore
import httpx

from gateway.sandbox.executor_socket import SandboxSocketBackend
from shared.errors import AppError, BadGateway, Conflict, InvalidInput, NotFound, Unprocessable
from shared.protocol import (
    CELL_OUTPUT_BUDGET_BYTES,
    CHAT_HEADER,
    EVENT_ADAPTER,
    GATEWAY_OUTPUT_SLACK_BYTES,
    MAX_REPLY_BYTES,
    SOCKET_NAME,
    Event,
    ExecuteRequest,
    Health,
    InterruptResult,
    LoadCsvRequest,
    LoadCsvResult,
    ResetResult,
    VariableList,
    VariableValue,
)

# The executor's own 4xx answers become the gateway's typed errors, detail passed through: they
# are about the user's input (an unknown variable, a CSV that does not parse, a busy kernel).
_ERRORS: dict[int, type[AppError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
}
# What the gateway reads of an executor's error answer: its detail, a sentence or a traceback line.
MAX_ERROR_BYTES = 64 * 1024


class ExecutorUnavailable(Exception):
    """The executor's socket does not answer: the container is stopped, starting or gone.

    `accepted` tells whether the executor had already taken the cell: only a cell that was never
    accepted may be sent again to a restarted sandbox without running user code twice.
    `tampered` says that what answered (or lay at the socket's name) was not this chat's
    executor: user code replaced the socket, and only a restart of the container mends that.
    """

    def __init__(self, message: str, accepted: bool = False, tampered: bool = False) -> None:
        super().__init__(message)
        self.accepted = accepted
        self.tampered = tampered


class OutputLimitExceeded(Exception):
    """A cell's stream passed its output budget (and the slack above it): the rest was not read.
    An honest executor cuts its own stream before that; this one may not be ours any more."""


class ExecutorClient:
    """One chat's executor. Each new connection is made by `SandboxSocketBackend` (the right
    socket, never a link), each request carries the chat's secret, and each answer must name the
    chat; anything else is `ExecutorUnavailable(tampered=True)`."""

    def __init__(self, backend: SandboxSocketBackend, chat_id: str, secret: str) -> None:
        self.chat_id = chat_id
        self.secret = secret
        self._backend = backend
        # One keep-alive connection per sandbox keeps a warm round trip to a few milliseconds.
        self._http = httpx.AsyncClient(
            transport=_ExecutorTransport(backend),
            base_url="http://executor",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=httpx.Timeout(10.0),
            event_hooks={"response": [self._check_identity]},
        )

    def _unavailable(self, error: Exception, accepted: bool = False) -> ExecutorUnavailable:
        """The connection failed; tampered when the socket's name held something not ours."""
        return ExecutorUnavailable(
            str(error) or type(error).__name__, accepted, tampered=self._backend.refused is not None
        )

    async def _check_identity(self, response: httpx.Response) -> None:
        answered_for = response.headers.get(CHAT_HEADER)
        if answered_for != self.chat_id:
            await response.aclose()
            raise ExecutorUnavailable(
                f"the socket of {self.chat_id} answered as {answered_for or 'no executor'}",
                tampered=True,
            )
        if response.status_code == 401:
            # Our executor, another secret: its container was made anew since we read it.
            await response.aclose()
            raise ExecutorUnavailable(f"the executor of {self.chat_id} holds another secret")

    async def health(self) -> Health:
        health = Health.model_validate_json(await self._request("GET", "/health", timeout=2.0))
        if health.chat_id != self.chat_id:
            raise ExecutorUnavailable(
                f"the socket of {self.chat_id} answered as {health.chat_id}", tampered=True
            )
        return health

    async def execute(self, request: ExecuteRequest, read_timeout_s: float) -> AsyncIterator[Event]:
        """Stream the executor's events. Raises ExecutorUnavailable when the connection fails
        before or during the cell (the container was stopped or killed underneath us), and
        OutputLimitExceeded, the connection closed, when the stream passes the cell's budget."""
        accepted = False
        try:
            async with self._http.stream(
                "POST",
                "/execute",
                content=request.model_dump_json(),
                headers={"content-type": "application/json"},
                timeout=httpx.Timeout(10.0, read=read_timeout_s),
            ) as response:
                if response.status_code != 200:
                    _raise_for(response.status_code, await _read_capped(response))
                accepted = True
                budget = CELL_OUTPUT_BUDGET_BYTES + GATEWAY_OUTPUT_SLACK_BYTES
                async for line in _lines(response, budget):
                    yield EVENT_ADAPTER.validate_json(line)
        except (httpx.TransportError, OSError) as e:
            raise self._unavailable(e, accepted) from e

    async def interrupt(self) -> bool:
        body = await self._request("POST", "/interrupt", timeout=2.0)
        return InterruptResult.model_validate_json(body).interrupted

    async def variables(self) -> VariableList:
        return VariableList.model_validate_json(await self._request("GET", "/variables"))

    async def variable(self, name: str, offset: int, limit: int) -> VariableValue:
        body = await self._request(
            "GET", f"/variables/{name}", params={"offset": offset, "limit": limit}, timeout=60.0
        )
        return VariableValue.model_validate_json(body)

    async def variable_csv(self, name: str) -> AsyncIterator[bytes]:
        """The variable (a DataFrame or Series) as CSV, streamed from the sandbox."""
        try:
            async with self._http.stream(
                "GET", f"/variables/{name}", params={"format": "csv"}, timeout=None
            ) as response:
                if response.status_code != 200:
                    _raise_for(response.status_code, await _read_capped(response))
                async for chunk in response.aiter_bytes():
                    yield chunk
        except (httpx.TransportError, OSError) as e:
            raise self._unavailable(e) from e

    async def reset(self) -> ResetResult:
        return ResetResult.model_validate_json(await self._request("POST", "/reset", timeout=30.0))

    async def load_csv(self, request: LoadCsvRequest) -> LoadCsvResult:
        body = await self._request(
            "POST", "/load_csv", content=request.model_dump_json(), timeout=300.0
        )
        return LoadCsvResult.model_validate_json(body)

    async def _request(self, method: str, path: str, **kwargs: object) -> bytes:
        """The body of a JSON answer, read up to MAX_REPLY_BYTES: a longer one is BadGateway,
        never buffered. Error statuses become the errors `_raise_for` gives."""
        try:
            async with self._http.stream(method, path, **kwargs) as response:  # type: ignore[arg-type]
                body = await _read_capped(response)
        except (httpx.TransportError, OSError) as e:
            raise self._unavailable(e) from e
        _raise_for(response.status_code, body)
        return body

    async def aclose(self) -> None:
        await self._http.aclose()


class _ExecutorTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a pool whose connections `SandboxSocketBackend` makes. httpx takes no
    network backend itself, so its pool is replaced by an equal one that uses ours."""

    def __init__(self, backend: SandboxSocketBackend) -> None:
        super().__init__()
        limits = httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            # Only says "a unix socket" to the pool; the backend decides which, safely.
            uds=SOCKET_NAME,
            network_backend=backend,
        )


async def _read_capped(response: httpx.Response) -> bytes:
    """The whole body, up to MAX_REPLY_BYTES (MAX_ERROR_BYTES for an error status); past that
    BadGateway, the rest unread. Raw bytes: an executor never compresses, and decompressing is
    how a small answer turns into a huge one."""
    limit = MAX_REPLY_BYTES if response.status_code < 400 else MAX_ERROR_BYTES
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > limit:
            raise BadGateway(
                f"the sandbox's answer to {response.request.url.path} passed {limit} bytes; "
                "it was dropped"
            )
    return bytes(body)


async def _lines(response: httpx.Response, budget: int) -> AsyncIterator[bytes]:
    """The body's non-empty lines, as long as the whole body stays within `budget` bytes: no
    line, however long, is buffered past it (OutputLimitExceeded)."""
    pending = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > budget:
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


def _raise_for(status: int, body: bytes) -> None:
    if status < 400:
        return
    try:
        detail = str(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError):
        detail = body.decode("utf-8", "replace")
    error = _ERRORS.get(status)
    if error is not None:
        raise error(detail)
    raise ExecutorUnavailable(f"the executor answered {status}: {detail}")
