"""Receiving one file as multipart/form-data, with its size limit held while it arrives (P9.2).

``BodyLimitMiddleware`` leaves multipart bodies to their routes; every upload route (profile
and group photos, media) receives its file here. The limit holds while the body arrives, not
after it was spooled to disk: a declared ``Content-Length`` over the cap is refused before
reading, and a body that streams past it (chunked, or lying about its length) is cut off there.
Exactly one field, ``file``, is accepted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect
from starlette.types import Message

from payam.domain.errors import InvalidInput, PayloadTooLarge

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 16 * 1024


class _StreamOverCap(MultiPartException):
    """The request body went past its cap while it was being received. A MultiPartException
    so that Starlette's parser closes the temporary file it was writing."""

    def __init__(self) -> None:
        super().__init__("The request body is over its size limit.")


@asynccontextmanager
async def received_file(
    request: Request, *, limit: int, too_large: PayloadTooLarge, what: str
) -> AsyncIterator[UploadFile]:
    """The multipart field ``file`` of at most about ``limit`` bytes, spooled by Starlette
    (in memory, then a temporary file) and closed when the block ends. ``what`` names the
    expected file in the error for a missing field. The caller checks the exact size."""
    cap = limit + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise too_large
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise _StreamOverCap
        return message

    try:
        async with Request(request.scope, capped_receive).form(max_files=1, max_fields=1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput(
                    f"Send {what} as a multipart/form-data file in the field 'file'.",
                    code="file_required",
                )
            if any(name != "file" for name in form):
                raise InvalidInput("Only the field 'file' is accepted.", code="unexpected_field")
            yield upload
    except HTTPException:
        # Starlette turns every parser error, ours included, into a 400 HTTPException.
        if received > cap:
            raise too_large from None
        raise
    except ClientDisconnect as exc:
        # Nobody is left to read the answer; this only keeps it out of the log as a 500.
        raise InvalidInput("The upload was interrupted.", code="upload_interrupted") from exc


def upload_body(description: str) -> dict[str, Any]:
    """The OpenAPI request body of an upload route: one binary field ``file``."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": description,
                            }
                        },
                        "additionalProperties": False,
                    }
                }
            },
        }
    }
