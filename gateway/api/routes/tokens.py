"""Personal API tokens: create (shown once), list, revoke."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import AuditDep, IdentityDep, TokensDep, UserDep
from gateway.api.openapi import errors
from gateway.audit import AuditAction
from gateway.auth.tokens import ApiToken, NewApiToken
from shared.errors import ErrorCode, Forbidden

router = APIRouter(tags=["tokens"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    # None: the token lasts until it is revoked.
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


@router.post("/tokens", status_code=201)
async def create_token(
    body: TokenRequest,
    request: Request,
    identity: IdentityDep,
    tokens: TokensDep,
    audit: AuditDep,
) -> NewApiToken:
    """Create an API token for `Authorization: Bearer`; its secret is in this answer only."""
    if identity.via == "token":
        raise Forbidden(
            "an API token cannot create tokens; sign in (github_session) to make one",
            ErrorCode.TOKEN_NOT_ALLOWED,
        )
    token = await tokens.create(identity.user.id, body.name, body.expires_in_days)
    await audit.record(
        AuditAction.TOKEN_CREATED,
        request=request,
        actor=identity.user,
        target=token.id,
        details={"name": token.name, "expires_at": token.expires_at},
    )
    return token


@router.get("/tokens")
async def list_tokens(user: UserDep, tokens: TokensDep) -> list[ApiToken]:
    """The caller's live API tokens, oldest first, without their secrets."""
    return await tokens.for_user(user.id)


@router.delete("/tokens/{token_id}", responses=errors(404))
async def revoke_token(
    token_id: str, request: Request, user: UserDep, tokens: TokensDep, audit: AuditDep
) -> dict[str, str]:
    """Revoke one of the caller's API tokens; requests with it get 401 from now on."""
    await tokens.revoke(user.id, token_id)
    await audit.record(AuditAction.TOKEN_REVOKED, request=request, actor=user, target=token_id)
    return {"deleted": token_id}
