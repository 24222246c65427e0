"""The caller's profile and other users' profiles under the visibility rule (P3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import Answer, binary
from payam.api.routing import api_router
from payam.api.schemas import MeOut, ProfilePatch, ProfileView, UserOut
from payam.api.uploads import received_file, upload_body
from payam.domain.errors import PayloadTooLarge
from payam.domain.models import Caller
from payam.services.container import Services
from payam.services.photos import Photo

router = api_router(tags=["profiles"])


async def photo_upload(request: Request, services: ServicesDep) -> bytes:
    """The bytes of the multipart field ``file``, at most ``photo_max_bytes`` (P9.2)."""
    limit = services.settings.photo_max_bytes
    too_large = PayloadTooLarge(f"The image is larger than {limit} bytes.", code="image_too_large")
    async with received_file(request, limit=limit, too_large=too_large, what="the photo") as upload:
        data = await upload.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data


PhotoUpload = Annotated[bytes, Depends(photo_upload)]

PHOTO_UPLOAD_BODY = upload_body("A JPEG, PNG or WebP image, at most photo_max_bytes")


def photo_response(photo: Photo, request: Request) -> Response:
    """A profile or group photo as served: revalidated by its ETag (304 when unchanged), so a
    replaced, removed or no longer visible photo is not shown from a cache."""
    headers = {
        "ETag": photo.etag,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if photo.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(photo.data, media_type=photo.mime, headers=headers)


async def me_out(caller: Caller, services: Services) -> MeOut:
    user, group_adds = await services.profiles.me_with_group_adds(caller)
    return MeOut(**UserOut.of(user).model_dump(), group_adds=group_adds)


@router.get("/me", response_model=MeOut)
async def get_me(caller: CallerDep, services: ServicesDep) -> Answer:
    """The caller's own profile, with their number (P1.5, P11.1) and settings: ``group_adds``,
    who may add them to groups (P3.2), and ``default_message_ttl`` (P5.3)."""
    return Answer((await me_out(caller, services)).model_dump())


@router.patch("/me", response_model=MeOut)
async def patch_me(body: ProfilePatch, caller: CallerDep, services: ServicesDep) -> MeOut:
    """Change name and/or status; ``"status": null`` clears the status (P11.2).
    ``"group_adds": "everyone" | "contacts"`` says who may add the caller to groups (P3.2).
    ``default_message_ttl`` (seconds, null for off) is the disappearing-messages timer of the
    chats the caller creates from now on (P5.3)."""
    changes = body.model_dump(include=body.model_fields_set)
    if "default_message_ttl" in changes:
        await services.ttl.set_default(caller, changes.pop("default_message_ttl"))
    await services.profiles.update(caller, changes)
    return await me_out(caller, services)


@router.put("/me/photo", response_model=UserOut, openapi_extra=PHOTO_UPLOAD_BODY)
async def put_photo(caller: CallerDep, data: PhotoUpload, services: ServicesDep) -> UserOut:
    """Upload a JPEG, PNG or WebP photo; it is re-encoded as WebP without metadata (P3.3).

    413 ``image_too_large``, 415 ``not_an_image`` / ``unsupported_image_type``, 422
    ``empty_upload``, ``corrupt_image``, ``image_too_many_pixels``, ``file_required``.
    A refused upload leaves the previous photo in place.
    """
    return UserOut.of(await services.profiles.set_photo(caller, data))


@router.delete("/me/photo", response_model=UserOut)
async def delete_photo(caller: CallerDep, services: ServicesDep) -> UserOut:
    """Remove the photo; its files are erased from disk (P5.2, P5.3)."""
    return UserOut.of(await services.profiles.delete_photo(caller))


@router.get("/users/{user_id}", response_model=ProfileView, response_model_exclude_unset=True)
async def get_user(user_id: int, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """A profile as the caller may see it: name, status and photo only to those who hold the
    number or share a chat; the number only to those who hold it (P1.5, P3.2)."""
    return await services.profiles.view_user(caller, user_id)


@router.get(
    "/users/{user_id}/photo",
    response_class=Response,
    responses={
        200: {"content": binary("image/webp"), "description": "The photo"},
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
        404: {"description": "No photo, or not one the caller may see (P3.2)"},
    },
)
async def get_user_photo(
    user_id: int,
    caller: CallerDep,
    services: ServicesDep,
    request: Request,
    size: Literal["full", "thumb"] = "full",
) -> Response:
    """The profile photo (``?size=thumb`` for the thumbnail), under the same rule as the
    profile. Clients revalidate with the ETag, so a replaced, removed or no longer visible
    photo is not shown from a cache."""
    photo = await services.profiles.user_photo(caller, user_id, thumbnail=size == "thumb")
    return photo_response(photo, request)
