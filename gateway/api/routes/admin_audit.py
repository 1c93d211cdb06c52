"""The audit log for admins (README: Audit log): a page at a time as JSON, or all of it as JSON
Lines. Like every admin route, 404 to anyone but an admin."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from gateway.api.deps import AdminDep, AuditDep
from gateway.api.openapi import errors
from gateway.audit import CURSOR_PATTERN, AuditAction, AuditLog, AuditPage, parse_cursor

router = APIRouter(prefix="/admin", tags=["admin"])

_ACTION = "only entries of this action"
_USER = "only entries whose actor (id or login) or target is this"
_JSONL = {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}


@router.get("/audit", responses=errors(400, 404))
async def audit_entries(
    admin: AdminDep,
    audit: AuditDep,
    limit: Annotated[int, Query(ge=1, le=500, description="entries per page")] = 100,
    before: Annotated[
        str | None,
        Query(
            max_length=50,
            description="`next_before` of the previous page: older entries",
            # Checked by the route, which says what is wrong (400), not only that it is.
            json_schema_extra={"pattern": CURSOR_PATTERN},
        ),
    ] = None,
    action: Annotated[AuditAction | None, Query(description=_ACTION)] = None,
    user: Annotated[str | None, Query(max_length=200, description=_USER)] = None,
) -> AuditPage:
    """Audit log entries, newest first, a page at a time; `next_before` gets the next page."""
    return await audit.entries(limit, parse_cursor(before), action, user or None)


@router.get(
    "/audit.jsonl", response_class=StreamingResponse, responses={200: _JSONL, **errors(404)}
)
async def export_audit(
    request: Request,
    admin: AdminDep,
    audit: AuditDep,
    action: Annotated[AuditAction | None, Query(description=_ACTION)] = None,
    user: Annotated[str | None, Query(max_length=200, description=_USER)] = None,
) -> StreamingResponse:
    """The whole retained audit log (or the entries matching the filters) as JSON Lines, oldest
    first, as a file to save."""
    # Taking the log away is itself worth a line in it.
    await audit.record(
        AuditAction.ADMIN_AUDIT_EXPORTED,
        request=request,
        actor=admin,
        details={"action": action, "user": user},
    )
    return StreamingResponse(
        _lines(audit, action, user or None),
        media_type="application/x-ndjson",
        headers={
            "content-disposition": 'attachment; filename="audit.jsonl"',
            "cache-control": "no-store",
        },
    )


async def _lines(
    audit: AuditLog, action: AuditAction | None, user: str | None
) -> AsyncIterator[str]:
    async for entry in audit.export(action, user):
        yield entry.model_dump_json() + "\n"
