"""Queries: run code in a chat's sandbox (natural-language queries arrive with the LLM)."""

from fastapi import APIRouter
from pydantic import BaseModel, model_validator

from gateway.deps import ChatDep, QueriesDep, SettingsDep
from gateway.queries import CodeResult
from shared.errors import PayloadTooLarge, ServiceUnavailable


class QueryRequest(BaseModel):
    query: str | None = None
    code: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "QueryRequest":
        if (self.query is None) == (self.code is None):
            raise ValueError('send exactly one of "query" (a question) or "code" (Python to run)')
        return self


router = APIRouter(tags=["query"])


@router.post("/query/{chat_id}")
async def query(
    chat: ChatDep, body: QueryRequest, queries: QueriesDep, settings: SettingsDep
) -> CodeResult:
    """Run `code` in the chat's sandbox, or answer a natural-language `query`."""
    if body.code is None:
        raise ServiceUnavailable(
            "natural-language queries need an LLM, which this version of the gateway does not "
            "have yet; set OPENAI_API_KEY, OPENAI_BASE_URL and LLM_MODEL once it does, and "
            'meanwhile send {"code": "..."} to run Python directly'
        )
    if len(body.code.encode()) > settings.max_code_bytes:
        raise PayloadTooLarge(f"code is larger than {settings.max_code_bytes} bytes")
    return await queries.run_code(chat, body.code)
