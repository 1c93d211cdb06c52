"""Adapter for the LLM: any OpenAI-compatible chat-completions API, through the `openai` package.

Completions are streamed so the answer can reach the user as it is written; tool calls arrive
in pieces and are put back together here. Retries with backoff (connection errors, 408, 429,
5xx) are the openai client's own; what still fails becomes a typed error naming what to fix.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolUnionParam

from gateway import metrics
from gateway.settings import Settings
from shared.errors import AppError, ErrorCode, ServiceUnavailable

log = logging.getLogger(__name__)


class LLMFailed(AppError):
    """The LLM answered, but not usefully (bad key, unknown model, a malformed reply)."""

    status = 502
    code = ErrorCode.LLM_ERROR


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)

    def as_message(self) -> dict[str, Any]:
        """The assistant message to send back in the next request's history."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        return message


OnText = Callable[[str], Awaitable[None]]


class LLM:
    def __init__(self, settings: Settings) -> None:
        self.model = settings.llm_model or ""
        self._base_url = settings.openai_base_url or "https://api.openai.com/v1"
        self._timeout_s = settings.llm_timeout_s
        self._client = AsyncOpenAI(
            # Local servers (Ollama, vLLM) accept any key; the client insists on one.
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url or None,
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_text: OnText
    ) -> Completion:
        """One model turn. `on_text` receives the answer's text as it streams in."""
        completion = Completion()
        parts: dict[int, dict[str, str]] = {}
        began = time.perf_counter()
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                # The agent builds both in the chat-completions wire format; these are the openai
                # package's TypedDicts for that same JSON.
                messages=cast(list[ChatCompletionMessageParam], messages),
                tools=cast(list[ChatCompletionToolUnionParam], tools),
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if chunk.usage is not None:
                    completion.usage = {
                        "prompt_tokens": chunk.usage.prompt_tokens,
                        "completion_tokens": chunk.usage.completion_tokens,
                        "total_tokens": chunk.usage.total_tokens,
                    }
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        completion.content += delta.content
                        await on_text(delta.content)
                    for piece in delta.tool_calls or []:
                        part = parts.setdefault(
                            piece.index, {"id": "", "name": "", "arguments": ""}
                        )
                        if piece.id:
                            part["id"] = piece.id
                        if piece.function and piece.function.name:
                            part["name"] += piece.function.name
                        if piece.function and piece.function.arguments:
                            part["arguments"] += piece.function.arguments
        except openai.APIError as e:
            error = self._explain(e)
            metrics.llm_called(error.code.value, time.perf_counter() - began, {})
            raise error from e
        metrics.llm_called("ok", time.perf_counter() - began, completion.usage)
        completion.tool_calls = [
            ToolCall(id=p["id"] or f"call_{i}", name=p["name"], arguments=p["arguments"])
            for i, p in sorted(parts.items())
        ]
        return completion

    def _explain(self, error: openai.APIError) -> AppError:
        where = f"the LLM at {self._base_url} (model {self.model})"
        log.warning("LLM request failed: %r", error)
        match error:
            case openai.RateLimitError():
                return ServiceUnavailable(
                    f"{where} is rate-limiting requests (429) even after retries; try again in a "
                    "minute, or raise the provider's limits",
                    ErrorCode.LLM_UNAVAILABLE,
                )
            case openai.APITimeoutError():
                return ServiceUnavailable(
                    f"{where} did not answer within {self._timeout_s:.0f} s (LLM_TIMEOUT_S)",
                    ErrorCode.LLM_UNAVAILABLE,
                )
            case openai.APIConnectionError():
                return LLMFailed(
                    f"could not reach {where}; check OPENAI_BASE_URL and the network",
                    ErrorCode.LLM_UNAVAILABLE,
                )
            case openai.AuthenticationError() | openai.PermissionDeniedError():
                return LLMFailed(f"{where} refused the credentials; check OPENAI_API_KEY")
            case openai.NotFoundError():
                return LLMFailed(f"{where} does not know this model or path; check LLM_MODEL")
            case openai.APIStatusError(status_code=status) if status >= 500:
                return ServiceUnavailable(
                    f"{where} is failing ({status}) even after retries", ErrorCode.LLM_UNAVAILABLE
                )
            case openai.APIStatusError(status_code=status):
                return LLMFailed(f"{where} rejected the request ({status}): {_message(error)}")
        return LLMFailed(f"{where} sent a reply that could not be read: {error}")

    async def aclose(self) -> None:
        await self._client.close()


def _message(error: openai.APIError) -> str:
    body = error.body
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or json.dumps(body))[:300]
    return str(error)[:300]
