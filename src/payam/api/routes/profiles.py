"""The caller's profile and other users' profiles under the visibility rule (P3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, UploadFile
from fastapi.responses import FileResponse

from payam.api.deps import CallerDep, ServicesDep
from payam.api.schemas import ProfilePatch, ProfileView, UserOut
from payam.domain.errors import NotFound, PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["profiles"])


@router.get("/me", response_model=UserOut)
async def get_me(caller: CallerDep, services: ServicesDep) -> UserOut:
    return UserOut.of(await services.profiles.me(caller))


@router.patch("/me", response_model=UserOut)
async def patch_me(body: ProfilePatch, caller: CallerDep, services: ServicesDep) -> UserOut:
    """Change name and/or status; ``"status": null`` clears the status (P11.2)."""
    user = await services.profiles.update(
        caller, name=body.name, status=body.status, set_status="status" in body.model_fields_set
    )
    return UserOut.of(user)


@router.put("/me/photo", response_model=UserOut)
async def put_photo(file: UploadFile, caller: CallerDep, services: ServicesDep) -> UserOut:
    """Upload a JPEG, PNG or WebP photo; it is re-encoded without metadata (P3.3)."""
    limit = services.settings.photo_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The image is larger than {limit} bytes.", code="image_too_large")
    return UserOut.of(await services.profiles.set_photo(caller, data))


@router.delete("/me/photo", response_model=UserOut)
async def delete_photo(caller: CallerDep, services: ServicesDep) -> UserOut:
    """Remove the photo; its files are deleted from disk (P5.2, P5.3)."""
    return UserOut.of(await services.profiles.delete_photo(caller))


@router.get("/users/{user_id}", response_model=ProfileView)
async def get_user(user_id: int, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """A profile as the caller may see it: name, status and photo only to those who hold the
    number or share a chat; the number only to those who hold it (P1.5, P3.2)."""
    return await services.profiles.view_user(caller, user_id)


@router.get(
    "/users/{user_id}/photo",
    response_class=FileResponse,
    responses={200: {"content": {"image/webp": {}}}, 404: {"description": "no photo visible"}},
)
async def get_user_photo(
    user_id: int, caller: CallerDep, services: ServicesDep, size: str = "full"
) -> Response:
    """The profile photo (``?size=thumb`` for the thumbnail), under the same rule as the profile."""
    photo = await services.profiles.user_photo(caller, user_id, thumbnail=size == "thumb")
    path = services.blobs.path(photo.key)
    if path is None:
        raise NotFound("No such photo.", code="photo_not_found")
    return FileResponse(
        path, media_type=photo.mime, headers={"Cache-Control": "private, max-age=3600"}
    )
