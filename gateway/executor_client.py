"""Adapter for one sandbox's executor: HTTP over the unix socket bind-mounted from the sandbox."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from shared.errors import AppError, Conflict, InvalidInput, NotFound, Unprocessable
from shared.protocol import (
    EVENT_ADAPTER,
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


class ExecutorUnavailable(Exception):
    """The executor's socket does not answer: the container is stopped, starting or gone.

    `accepted` tells whether the executor had already taken the cell: only a cell that was never
    accepted may be sent again to a restarted sandbox without running user code twice.
    """

    def __init__(self, message: str, accepted: bool = False) -> None:
        super().__init__(message)
        self.accepted = accepted


class ExecutorClient:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        # One keep-alive connection per sandbox keeps a warm round trip to a few milliseconds.
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket_path)),
            base_url="http://executor",
            timeout=httpx.Timeout(10.0),
        )

    async def health(self) -> Health:
        try:
            response = await self._http.get("/health", timeout=2.0)
        except (httpx.TransportError, OSError) as e:
            raise ExecutorUnavailable(str(e)) from e
        response.raise_for_status()
        return Health.model_validate_json(response.content)

    async def execute(self, request: ExecuteRequest, read_timeout_s: float) -> AsyncIterator[Event]:
        """Stream the executor's events. Raises ExecutorUnavailable when the connection fails
        before or during the cell (the container was stopped or killed underneath us)."""
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
                    await response.aread()
                    _raise_for(response)
                accepted = True
                async for line in response.aiter_lines():
                    if line:
                        yield EVENT_ADAPTER.validate_json(line)
        except (httpx.TransportError, OSError) as e:
            raise ExecutorUnavailable(str(e) or type(e).__name__, accepted) from e

    async def interrupt(self) -> bool:
        response = await self._request("POST", "/interrupt", timeout=2.0)
        return InterruptResult.model_validate_json(response.content).interrupted

    async def variables(self) -> VariableList:
        return VariableList.model_validate_json((await self._request("GET", "/variables")).content)

    async def variable(self, name: str, offset: int, limit: int) -> VariableValue:
        response = await self._request(
            "GET", f"/variables/{name}", params={"offset": offset, "limit": limit}, timeout=60.0
        )
        return VariableValue.model_validate_json(response.content)

    async def variable_csv(self, name: str) -> AsyncIterator[bytes]:
        """The variable (a DataFrame or Series) as CSV, streamed from the sandbox."""
        try:
            async with self._http.stream(
                "GET", f"/variables/{name}", params={"format": "csv"}, timeout=None
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    _raise_for(response)
                async for chunk in response.aiter_bytes():
                    yield chunk
        except (httpx.TransportError, OSError) as e:
            raise ExecutorUnavailable(str(e)) from e

    async def reset(self) -> ResetResult:
        return ResetResult.model_validate_json(
            (await self._request("POST", "/reset", timeout=30.0)).content
        )

    async def load_csv(self, request: LoadCsvRequest) -> LoadCsvResult:
        response = await self._request(
            "POST", "/load_csv", content=request.model_dump_json(), timeout=300.0
        )
        return LoadCsvResult.model_validate_json(response.content)

    async def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except (httpx.TransportError, OSError) as e:
            raise ExecutorUnavailable(str(e) or type(e).__name__) from e
        _raise_for(response)
        return response

    async def aclose(self) -> None:
        await self._http.aclose()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        detail = response.text
    error = _ERRORS.get(response.status_code)
    if error is not None:
        raise error(detail)
    raise ExecutorUnavailable(f"the executor answered {response.status_code}: {detail}")
