"""A chat taken away: as a Jupyter notebook, a Python script or a Markdown report."""

from fastapi import APIRouter, Response

from gateway.api.deps import ChatDep, ChatStoreDep, SessionsDep
from gateway.api.routes.files import disposition, download_stem
from gateway.chats import export
from gateway.chats.store import Chat

router = APIRouter(tags=["chats"])


def _attachment(chat: Chat, body: str, suffix: str, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"content-disposition": disposition("attachment", download_stem(chat) + suffix)},
    )


@router.get(
    "/chat/{chat_id}/export.ipynb",
    response_class=Response,
    responses={200: {"content": {"application/x-ipynb+json": {}}}},
)
async def export_notebook(chat: ChatDep, chats: ChatStoreDep, sessions: SessionsDep) -> Response:
    """The chat as a Jupyter notebook (nbformat 4.5): questions and answers as Markdown, each
    step's code with its outputs, figures embedded; run beside the chat's files, it does the
    analysis again."""
    budget = export.FIGURES_BUDGET_BYTES

    async def figure(path: str) -> bytes | None:
        nonlocal budget
        png = await sessions.read_small_file(chat, path, budget)
        if png is not None:
            budget -= len(png)
        return png

    body = await export.notebook(chat, await chats.messages(chat.chat_id), figure)
    return _attachment(chat, body, ".ipynb", "application/x-ipynb+json")


@router.get(
    "/chat/{chat_id}/export.py",
    response_class=Response,
    responses={200: {"content": {"text/x-python": {}}}},
)
async def export_script(chat: ChatDep, chats: ChatStoreDep) -> Response:
    """The chat as a Python script: its code as it ran, questions and answers as comments."""
    body = export.script(chat, await chats.messages(chat.chat_id))
    return _attachment(chat, body, ".py", "text/x-python; charset=utf-8")


@router.get(
    "/chat/{chat_id}/export.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
async def export_report(chat: ChatDep, chats: ChatStoreDep) -> Response:
    """The chat as a Markdown report; figures are linked by file name."""
    body = export.report(chat, await chats.messages(chat.chat_id))
    return _attachment(chat, body, ".md", "text/markdown; charset=utf-8")
