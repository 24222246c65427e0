"""Media: upload a file, fetch it (or its thumbnail) with range requests (P9.1, P9.2)."""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response, status
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import MediaOut, binary
from payam.api.routing import api_router
from payam.api.uploads import received_file, upload_body
from payam.domain.file_names import ascii_fallback
from payam.services.media import ServedMedia

router = api_router(tags=["media"])

_REFUSALS = {
    400: ("invalid_range", "The Range header is malformed."),
    416: ("range_not_satisfiable", "The requested range is outside the file."),
}


def _file_responses(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """A file's answers: the whole file, byte ranges of it (one range in the file's own type,
    several as multipart/byteranges), or the error envelope for a refused range."""
    return {
        200: {"content": binary(*media_types), "description": "The whole file"},
        206: {
            "content": binary(*media_types, "multipart/byteranges"),
            "description": "The requested byte range(s), with Content-Range",
        },
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
        404: {"description": "No such media, or none the caller may see (the same answer)"},
        416: {"description": "range_not_satisfiable: the range starts past the end of the file"},
    }


# An image is always stored as WebP (P3.3); any other file keeps the type its bytes have (or,
# when nothing recognises them, the type it was sent with, else application/octet-stream).
_FILE_RESPONSES = _file_responses("image/webp", "*/*")
_THUMBNAIL_RESPONSES = _file_responses("image/webp")


class _MediaFile(FileResponse):
    """Starlette's FileResponse, which answers Range requests (206, multipart/byteranges, 416
    with ``Content-Range: bytes */size``), with its two refusals in payam's error shape."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal: bytes | None = None

        async def shaped(message: Message) -> None:
            nonlocal refusal
            if message["type"] == "http.response.start" and message["status"] in _REFUSALS:
                code, text = _REFUSALS[message["status"]]
                refusal = json.dumps({"error": {"code": code, "message": text}}).encode()
                headers = MutableHeaders(raw=list(message["headers"]))  # keeps Content-Range
                headers["content-type"] = "application/json"
                headers["content-length"] = str(len(refusal))
                await send({**message, "headers": headers.raw})
            elif message["type"] == "http.response.body" and refusal is not None:
                await send({"type": "http.response.body", "body": refusal})
            else:
                await send(message)

        await super().__call__(scope, receive, shaped)


@router.post(
    "/media",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=upload_body("Any file, at most media_max_bytes; its type is read from its bytes"),
    response_model=MediaOut,
)
async def upload_media(request: Request, caller: CallerDep, services: ServicesDep) -> JSONResponse:
    """Upload a file for a message or channel post (``media_ids``). Its kind (image, video,
    audio, file) comes from its bytes. Images are re-encoded as WebP without metadata, at most
    ``media_image_max_side`` pixels, with a thumbnail (P3.3). Until a message carries it, only
    the uploader can fetch it, and it is deleted after ``media_unattached_hours``.

    413 ``payload_too_large``; 415 ``media_type_mismatch`` (the part's declared type names
    another kind than the content), ``unsupported_image_type``, ``not_an_image``; 422
    ``empty_upload``, ``corrupt_image``, ``image_too_many_pixels``, ``file_required``,
    ``unexpected_field``; 429 ``too_many_uploads``.
    """
    await services.media.spend_upload_budget(caller)
    async with received_file(
        request,
        limit=services.settings.media_max_bytes,
        too_large=services.media.too_large(),
        what="the file",
    ) as upload:
        stored = await services.media.upload(
            caller, upload.file, upload.content_type, upload.filename
        )
    return JSONResponse(stored, status_code=status.HTTP_201_CREATED)


@router.get("/media/{media_id}", response_class=Response, responses=_FILE_RESPONSES)
async def get_media(
    media_id: int, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    """The file, for its uploader and for whoever sees a message or channel post that carries
    it; 404 ``media_not_found`` for everyone else. Range requests are answered (206, 416)."""
    served = await services.media.open(caller, media_id, thumbnail=False)
    return _send(served, request, services)


@router.get("/media/{media_id}/thumbnail", response_class=Response, responses=_THUMBNAIL_RESPONSES)
async def get_media_thumbnail(
    media_id: int, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    """An image's thumbnail (WebP), under the same rule as the file; 404 for other kinds."""
    served = await services.media.open(caller, media_id, thumbnail=True)
    return _send(served, request, services)


def content_disposition(disposition: str, name: str) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients and the exact name, percent-encoded
    UTF-8, in ``filename*`` (RFC 5987). The name was cleaned when stored: no quotes, no
    separators, no control characters."""
    fallback = ascii_fallback(name, default="download")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _send(served: ServedMedia, request: Request, services: ServicesDep) -> Response:
    disposition = "inline" if served.inline else "attachment"
    headers = {
        "ETag": served.etag,
        # Revalidated on every use: a file whose message was deleted is not shown from a cache.
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        # Even opened directly in a browser, an upload runs nothing and loads nothing.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": content_disposition(disposition, served.filename),
        # This upload's time, not the shared file's: a file's own time would tell whoever
        # uploads the same bytes when someone first did.
        "Last-Modified": formatdate(served.uploaded_at, usegmt=True),
    }
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    blob = served.blob
    if blob.path is None:  # a store without local files: the whole file, streamed
        headers["Content-Length"] = str(blob.size)
        return StreamingResponse(
            services.blobs.read_range(blob.key, 0, blob.size),
            media_type=served.mime,
            headers=headers,
        )
    return _MediaFile(blob.path, media_type=served.mime, headers=headers)
