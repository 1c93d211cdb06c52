"""Adapter for one sandbox's executor: HTTP over the unix socket bind-mounted from the sandbox."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from shared.errors import Conflict
from shared.protocol import EVENT_ADAPTER, Event, ExecuteRequest, Health, InterruptResult


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
                if response.status_code == 409:
                    raise Conflict("code is still running in this chat's sandbox; wait for it")
                if response.status_code != 200:
                    await response.aread()
                    raise ExecutorUnavailable(
                        f"executor answered {response.status_code}: {response.text}"
                    )
                accepted = True
                async for line in response.aiter_lines():
                    if line:
                        yield EVENT_ADAPTER.validate_json(line)
        except (httpx.TransportError, OSError) as e:
            raise ExecutorUnavailable(str(e) or type(e).__name__, accepted) from e

    async def interrupt(self) -> bool:
        try:
            response = await self._http.post("/interrupt", timeout=2.0)
        except (httpx.TransportError, OSError) as e:
            raise ExecutorUnavailable(str(e)) from e
        return InterruptResult.model_validate_json(response.content).interrupted

    async def aclose(self) -> None:
        await self._http.aclose()
