"""The user's rights over their data: export (P11.1), number change (P11.2), erasure (P11.3)."""

from __future__ import annotations

from typing import Any

from fastapi import Response, status
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.background import BackgroundTask

from payam.api.deps import CallerDep, IpDep, ServicesDep
from payam.api.responses import EXACT, ErasureReceiptOut, PrivacyMapOut, binary
from payam.api.routing import api_router
from payam.api.schemas import CodeRequest, CodeResponse, Strict, UserOut
from payam.domain.events import iso
from payam.services import privacy_map as privacy_map_service

router = api_router(tags=["privacy"])


@router.get("/privacy/map", response_model=PrivacyMapOut, **EXACT)
async def privacy_map() -> dict[str, Any]:
    """The data map (P7.1): every stored personal field with its category, the promises
    (P-ids) it serves and its retention, read off the schema. Public: it describes the
    server, not anyone's data. ``files``: the same for personal data kept in files of the data
    directory (the SMS outbox)."""
    return {
        "fields": privacy_map_service.personal_fields(),
        "files": privacy_map_service.personal_files(),
    }


class PhoneChange(Strict):
    phone: str = Field(max_length=64, description="The new number")
    code: str = Field(max_length=16, description="The code sent to the new number")


class Erasure(Strict):
    code: str = Field(
        max_length=16,
        description="A fresh code sent to the account's own number (POST /v1/auth/code)",
    )


@router.get(
    "/me/export",
    response_class=Response,
    responses={200: {"content": binary("application/zip"), "description": "export.zip"}},
)
async def export(caller: CallerDep, services: ServicesDep) -> Response:
    """Everything the server holds about the caller (P11.1): a zip with ``export.json`` (layout
    in docs/privacy.md), ``export.html`` and the files they uploaded under ``media/``."""
    export = await services.export.export_file(caller)
    # Built in a temporary file off the event loop, streamed from it in chunks (issue 9 #12).
    return StreamingResponse(
        export.chunks(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="payam-export-{caller.user_id}.zip"',
            "Content-Length": str(export.size),
            "Cache-Control": "no-store",
        },
        background=BackgroundTask(export.close),
    )


@router.post("/me/phone/code", status_code=status.HTTP_202_ACCEPTED, response_model=CodeResponse)
async def phone_code(
    body: CodeRequest, caller: CallerDep, services: ServicesDep, ip: IpDep
) -> CodeResponse:
    """Text a code to the new number (the same code and limits as sign-in, P1.2). A number
    that has another account, or was erased recently, is texted nothing, with the same answer
    as any other number: who is registered is not told (docs/api.md)."""
    sent = await services.auth.request_phone_change_code(caller, body.phone, ip=ip)
    now = services.clock.now()
    return CodeResponse(
        expires_in=round(sent.expires_at - now),
        expires_at=iso(sent.expires_at) or "",
        retry_after=max(0, round(sent.next_code_at - now)),
        next_code_at=iso(sent.next_code_at) or "",
    )


@router.post("/me/phone", response_model=UserOut)
async def change_phone(
    body: PhoneChange, caller: CallerDep, services: ServicesDep, ip: IpDep
) -> UserOut:
    """Switch the account to the new number once its code is shown (P11.2). 409
    ``phone_taken`` when the number already has an account."""
    user = await services.auth.change_phone(caller, body.phone, body.code, ip=ip)
    return UserOut.of(user)


@router.delete("/me", status_code=status.HTTP_200_OK, response_model=ErasureReceiptOut, **EXACT)
async def erase_account(
    body: Erasure, caller: CallerDep, services: ServicesDep, ip: IpDep
) -> dict[str, Any]:
    """Delete the account for good (P11.3, P5.3), after a fresh code to its number. Answers a
    receipt to keep: what was removed (counts per kind), when, and what is kept and why."""
    receipt = await services.erasure.erase_account(caller, body.code, ip=ip)
    return receipt.to_json()
