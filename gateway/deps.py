"""FastAPI dependencies: the clients made in the lifespan, and the caller."""

from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import User, authenticate
from gateway.chats import Chat, ChatStore
from gateway.queries import QueryService
from gateway.sandboxes import SandboxManager
from gateway.sessions import SessionService
from gateway.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_chats(request: Request) -> ChatStore:
    return request.app.state.chats


def get_sandboxes(request: Request) -> SandboxManager:
    return request.app.state.sandboxes


def get_queries(request: Request) -> QueryService:
    return request.app.state.queries


def get_sessions(request: Request) -> SessionService:
    return request.app.state.sessions


def get_user(request: Request) -> User:
    return authenticate(request, request.app.state.local_token)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatStoreDep = Annotated[ChatStore, Depends(get_chats)]
SandboxesDep = Annotated[SandboxManager, Depends(get_sandboxes)]
QueriesDep = Annotated[QueryService, Depends(get_queries)]
SessionsDep = Annotated[SessionService, Depends(get_sessions)]
UserDep = Annotated[User, Depends(get_user)]


async def get_chat(chat_id: str, user: UserDep, chats: ChatStoreDep) -> Chat:
    return await chats.get(user.id, chat_id)


ChatDep = Annotated[Chat, Depends(get_chat)]
