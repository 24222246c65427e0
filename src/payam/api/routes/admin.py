"""The admin API (P9): operators look users up, suspend them and handle reports.

To anyone who is not an admin, every route here answers exactly what an unknown route does
(404 ``not_found``), so the API does not reveal that it exists. Every read of a user's data is
recorded and shown to that user in their export (P11.1).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response, status

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, AdminAuditOut, AdminReportOut, AdminUserOut
from payam.api.routing import api_router
from payam.api.schemas import Strict
from payam.domain.limits import AUDIT_PAGE_MAX
from payam.domain.models import Caller

router = api_router(prefix="/v1/admin", tags=["admin"])


async def admin_caller(caller: CallerDep, services: ServicesDep) -> Caller:
    await services.admin.check_admin(caller)
    return caller


AdminDep = Annotated[Caller, Depends(admin_caller)]


class ReportResolution(Strict):
    status: Literal["resolved", "dismissed", "open"]


@router.get("/users", response_model=AdminUserOut, **EXACT)
async def look_up_user(
    caller: AdminDep,
    services: ServicesDep,
    user_id: Annotated[int | None, Query(ge=1)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Look a user up by ``user_id`` or ``phone`` (recorded for that user)."""
    return await services.admin.look_up(caller, user_id=user_id, phone=phone)


@router.post("/users/{user_id}/suspend", status_code=status.HTTP_204_NO_CONTENT)
async def suspend(user_id: int, caller: AdminDep, services: ServicesDep) -> Response:
    """Suspend: the user's sessions answer 403 ``account_suspended`` and sign-in is refused."""
    await services.admin.set_suspended(caller, user_id, suspended=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/users/{user_id}/suspend", status_code=status.HTTP_204_NO_CONTENT)
async def unsuspend(user_id: int, caller: AdminDep, services: ServicesDep) -> Response:
    """Lift a suspension."""
    await services.admin.set_suspended(caller, user_id, suspended=False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/reports", response_model=list[AdminReportOut], **EXACT)
async def list_reports(
    caller: AdminDep,
    services: ServicesDep,
    report_status: Annotated[
        Literal["open", "resolved", "dismissed"], Query(alias="status")
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Reports in a status, oldest first, with the reported message's text if it still exists."""
    return await services.admin.reports(caller, report_status, limit)


@router.post("/reports/{report_id}", status_code=status.HTTP_204_NO_CONTENT)
async def resolve_report(
    report_id: int, body: ReportResolution, caller: AdminDep, services: ServicesDep
) -> Response:
    """Set a report's status (resolved, dismissed, or open again)."""
    await services.admin.resolve_report(caller, report_id, body.status)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit", response_model=AdminAuditOut, **EXACT)
async def audit_trail(
    caller: AdminDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=AUDIT_PAGE_MAX)] = 50,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The audit trail of operator reads and actions, newest first, that each user sees in
    their export (P11.1). Reading it is not recorded as a read of anyone."""
    return await services.admin.audit(caller, limit=limit, before=before)
