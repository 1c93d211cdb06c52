"""FastAPI dependencies: the clients made in the lifespan, and the caller."""

from typing import Annotated, cast

from fastapi import Depends, Request

from gateway import logs
from gateway.admin.service import AdminService
from gateway.agent.loop import Agent
from gateway.audit import AuditLog
from gateway.auth.authenticator import Authenticator, Identity
from gateway.auth.github import GitHub
from gateway.auth.tokens import TokenStore
from gateway.auth.users import User
from gateway.chats.store import Chat, ChatStore
from gateway.quotas import Quotas
from gateway.runs.background import BackgroundRuns
from gateway.runs.code import QueryService
from gateway.runs.feed import RunFeed
from gateway.runs.stops import RunStops
from gateway.sandbox.manager import SandboxManager
from gateway.sandbox.packages import PackageService
from gateway.sandbox.state import SessionService
from gateway.settings import Settings
from gateway.usage import UsageStore
from shared.errors import AppError, NotFound

# The lifespan (gateway/main.py) puts each client on app.state; these say which type each is.
# All async, though none awaits: FastAPI runs a plain `def` dependency on its thread pool, a hop
# per dependency per request for what is an attribute read.


async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_chats(request: Request) -> ChatStore:
    return cast(ChatStore, request.app.state.chats)


async def get_sandboxes(request: Request) -> SandboxManager:
    return cast(SandboxManager, request.app.state.sandboxes)


async def get_queries(request: Request) -> QueryService:
    return cast(QueryService, request.app.state.queries)


async def get_agent(request: Request) -> Agent:
    return cast(Agent, request.app.state.agent)


async def get_sessions(request: Request) -> SessionService:
    return cast(SessionService, request.app.state.sessions)


async def get_packages(request: Request) -> PackageService:
    return cast(PackageService, request.app.state.packages)


async def get_stops(request: Request) -> RunStops:
    return cast(RunStops, request.app.state.stops)


async def get_runs(request: Request) -> BackgroundRuns:
    return cast(BackgroundRuns, request.app.state.runs)


async def get_run_feed(request: Request) -> RunFeed:
    return cast(RunFeed, request.app.state.run_feed)


async def get_auth(request: Request) -> Authenticator:
    return cast(Authenticator, request.app.state.auth)


async def get_tokens(request: Request) -> TokenStore:
    return cast(TokenStore, request.app.state.auth.tokens)


async def get_audit(request: Request) -> AuditLog:
    return cast(AuditLog, request.app.state.audit)


async def get_quotas(request: Request) -> Quotas:
    return cast(Quotas, request.app.state.quotas)


async def get_admin_service(request: Request) -> AdminService:
    return cast(AdminService, request.app.state.admin)


async def get_github(request: Request) -> GitHub | None:
    """The GitHub client; None in AUTH_MODE=local."""
    return cast("GitHub | None", request.app.state.auth.github)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatStoreDep = Annotated[ChatStore, Depends(get_chats)]
SandboxesDep = Annotated[SandboxManager, Depends(get_sandboxes)]
QueriesDep = Annotated[QueryService, Depends(get_queries)]
AgentDep = Annotated[Agent, Depends(get_agent)]
SessionsDep = Annotated[SessionService, Depends(get_sessions)]
PackagesDep = Annotated[PackageService, Depends(get_packages)]
StopsDep = Annotated[RunStops, Depends(get_stops)]
RunsDep = Annotated[BackgroundRuns, Depends(get_runs)]
RunFeedDep = Annotated[RunFeed, Depends(get_run_feed)]
AuthDep = Annotated[Authenticator, Depends(get_auth)]
TokensDep = Annotated[TokenStore, Depends(get_tokens)]
GitHubDep = Annotated[GitHub | None, Depends(get_github)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
QuotasDep = Annotated[Quotas, Depends(get_quotas)]
AdminServiceDep = Annotated[AdminService, Depends(get_admin_service)]


async def get_identity(request: Request, auth: AuthDep) -> Identity:
    """The caller and how it signed in, or 401 (403 when no longer allowed). FastAPI resolves
    it once per request however many dependencies ask."""
    identity = await auth.identify(request)
    logs.bind(user_id=identity.user.id)
    await cast(UsageStore, request.app.state.usage).seen(identity.user.id)
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def get_user(identity: IdentityDep) -> User:
    return identity.user


UserDep = Annotated[User, Depends(get_user)]


async def get_admin(request: Request, auth: AuthDep) -> User:
    """The caller when an admin; anyone else, signed in or not, gets the 404 of a path that does
    not exist, so the admin routes are not even seen to exist."""
    try:
        identity = await auth.identify(request)
    except AppError:
        identity = None
    if identity is None or not auth.admins.includes(identity.user):
        raise NotFound("Not Found")
    logs.bind(user_id=identity.user.id)
    return identity.user


AdminDep = Annotated[User, Depends(get_admin)]


async def get_chat(chat_id: str, user: UserDep, chats: ChatStoreDep) -> Chat:
    chat = await chats.get(user.id, chat_id)
    logs.bind(chat_id=chat.chat_id)
    return chat


ChatDep = Annotated[Chat, Depends(get_chat)]
