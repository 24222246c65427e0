"""Profile photos over HTTP: re-encoded without metadata (P3.3), validated with nothing
half-written (P9.2), erased from disk when removed or replaced (P5.2, P5.3), and shown only
under the profile visibility rule (P3.2)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from PIL import ExifTags, Image

from tests.conftest import Account, Harness

SARA = "+989120000001"
BITA = "+989121110001"
CYRUS = "+989121110002"
GPS_MARKER = b"PAYAM-GPS-MARKER"


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def jpeg_with_gps(colour: tuple[int, int, int] = (200, 40, 40), size: int = 400) -> bytes:
    """A photo as a phone sends it: camera make, orientation, GPS position, XMP."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Orientation] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)  # tag 0x8825
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (35.0, 41.0, 22.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (51.0, 23.0, 23.0)
    gps[ExifTags.GPS.GPSMapDatum] = GPS_MARKER.decode()
    image = Image.new("RGB", (size, size * 3 // 4), colour)
    data = encode(image, "JPEG", exif=exif, xmp=b"<x:xmpmeta>PAYAM-XMP</x:xmpmeta>")
    assert GPS_MARKER in data and b"SpyCam" in data
    return data


def png_with_alpha() -> bytes:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((0, 128, 255, 255), (0, 0, 32, 64))
    return encode(image, "PNG")


async def put_photo(
    harness: Harness,
    account: Account,
    data: bytes,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await harness.http.put(
        "/v1/me/photo",
        files={"file": (filename, data, content_type)},
        headers=account.headers,
    )


async def get_photo(
    harness: Harness, viewer: Account, user_id: int, size: str | None = None
) -> httpx.Response:
    params = {"size": size} if size else None
    return await harness.http.get(
        f"/v1/users/{user_id}/photo", params=params, headers=viewer.headers
    )


async def uploaded(harness: Harness, account: Account, data: bytes) -> dict[str, Any]:
    response = await put_photo(harness, account, data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def blob_files(harness: Harness) -> dict[Path, bytes]:
    root = harness.settings.data_dir / "blobs"
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def everything_on_disk(harness: Harness) -> bytes:
    return b"".join(
        p.read_bytes() for p in sorted(harness.settings.data_dir.rglob("*")) if p.is_file()
    )


async def served(harness: Harness, *accounts: Account) -> set[bytes]:
    """The full photo and thumbnail of each account, as its owner fetches them."""
    found: set[bytes] = set()
    for account in accounts:
        for size in ("full", "thumb"):
            response = await get_photo(harness, account, account.user_id, size)
            assert response.status_code == 200, response.text
            found.add(response.content)
    return found


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def holds(harness: Harness, holder: Account, phones: list[str]) -> None:
    response = await harness.http.put(
        "/v1/contacts", json={"phones": phones}, headers=holder.headers
    )
    assert response.status_code == 200, response.text


# --- re-encoding (P3.3) --------------------------------------------------------------------


async def test_jpeg_with_gps_is_served_without_any_metadata(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    body = await uploaded(harness, sara, jpeg_with_gps())
    assert body["has_photo"] is True
    assert body["photo_url"] == f"/v1/users/{sara.user_id}/photo"
    for size in (None, "thumb"):
        response = await get_photo(harness, sara, sara.user_id, size)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert GPS_MARKER not in response.content
        assert b"SpyCam" not in response.content
        assert b"PAYAM-XMP" not in response.content
        image = decode(response.content)
        assert image.format == "WEBP"
        assert len(image.getexif()) == 0
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)
    # Nor is anything of it kept on disk, where a backup would copy it.
    on_disk = everything_on_disk(harness)
    assert GPS_MARKER not in on_disk
    assert b"SpyCam" not in on_disk


async def test_served_photo_keeps_the_picture(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, jpeg_with_gps(colour=(200, 40, 40), size=400))
    image = decode((await get_photo(harness, sara, sara.user_id)).content).convert("RGB")
    assert image.size == (400, 300)
    red, green, blue = image.getpixel((200, 150))
    assert abs(red - 200) < 12 and abs(green - 40) < 12 and abs(blue - 40) < 12


async def test_png_with_alpha_keeps_its_transparency(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await put_photo(harness, sara, png_with_alpha(), "me.png", "image/png")
    assert response.status_code == 200, response.text
    image = decode((await get_photo(harness, sara, sara.user_id)).content)
    assert image.mode == "RGBA"
    assert image.getpixel((48, 32))[3] == 0
    assert image.getpixel((16, 32))[3] == 255


async def test_webp_is_accepted(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    data = encode(Image.new("RGB", (50, 50), "green"), "WEBP")
    response = await put_photo(harness, sara, data, "me.webp", "image/webp")
    assert response.status_code == 200, response.text
    assert decode((await get_photo(harness, sara, sara.user_id)).content).size == (50, 50)


async def test_type_comes_from_the_bytes_not_the_name_or_declared_type(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    png = encode(Image.new("RGB", (20, 20), "blue"), "PNG")
    response = await put_photo(harness, sara, png, "x.gif", "application/octet-stream")
    assert response.status_code == 200, response.text


async def test_thumbnail_is_small_and_full_size_is_limited(make_harness: Any) -> None:
    harness: Harness = await make_harness(thumbnail_side=64, photo_max_side=300)
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, encode(Image.new("RGB", (1600, 1200), "orange"), "JPEG"))
    full = await get_photo(harness, sara, sara.user_id)
    thumb = await get_photo(harness, sara, sara.user_id, "thumb")
    assert thumb.status_code == 200
    assert decode(full.content).size == (300, 225)
    assert max(decode(thumb.content).size) <= 64
    assert len(thumb.content) < len(full.content)
    explicit_full = await get_photo(harness, sara, sara.user_id, "full")
    assert explicit_full.content == full.content


async def test_unknown_size_is_422(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, png_with_alpha())
    response = await get_photo(harness, sara, sara.user_id, "huge")
    assert response.status_code == 422
    assert code_of(response) == "invalid_request"


# --- refusals: clear codes, nothing half-written (P9.2) --------------------------------------


async def test_gif_is_415_unsupported_image_type(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    gif = encode(Image.new("RGB", (10, 10), "red"), "GIF")
    response = await put_photo(harness, sara, gif, "anim.gif", "image/gif")
    assert response.status_code == 415
    assert code_of(response) == "unsupported_image_type"


async def test_text_named_photo_jpg_is_415_not_an_image(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await put_photo(harness, sara, b"just some text, honest\n" * 20)
    assert response.status_code == 415
    assert code_of(response) == "not_an_image"


async def test_truncated_jpeg_is_422_corrupt_image(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    data = encode(Image.effect_noise((300, 300), 64).convert("RGB"), "JPEG")
    response = await put_photo(harness, sara, data[: len(data) // 2])
    assert response.status_code == 422
    assert code_of(response) == "corrupt_image"


async def test_decompression_bomb_is_refused_without_a_500(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bomb = encode(Image.new("1", (20000, 20000)), "PNG", optimize=True)  # ~50 KB, 400 Mpx
    response = await put_photo(harness, sara, bomb, "bomb.png", "image/png")
    assert response.status_code == 422
    assert code_of(response) == "image_too_many_pixels"


async def test_pixel_budget_is_configurable(make_harness: Any) -> None:
    harness: Harness = await make_harness(image_max_pixels=100 * 100)
    sara = await harness.sign_in(SARA, "Sara")
    response = await put_photo(harness, sara, encode(Image.new("RGB", (101, 100)), "PNG"))
    assert response.status_code == 422
    assert code_of(response) == "image_too_many_pixels"
    response = await put_photo(harness, sara, encode(Image.new("RGB", (100, 100)), "PNG"))
    assert response.status_code == 200


async def test_oversize_upload_is_413(make_harness: Any) -> None:
    harness: Harness = await make_harness(photo_max_bytes=2000)
    sara = await harness.sign_in(SARA, "Sara")
    data = encode(Image.effect_noise((200, 200), 64).convert("RGB"), "PNG")
    assert len(data) > 2000
    response = await put_photo(harness, sara, data, "big.png", "image/png")
    assert response.status_code == 413
    assert code_of(response) == "image_too_large"
    fits = encode(Image.new("RGB", (10, 10), "red"), "PNG")
    assert (await put_photo(harness, sara, fits, "ok.png", "image/png")).status_code == 200


async def test_a_body_far_over_the_limit_is_refused_by_its_declared_length(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(photo_max_bytes=1000)
    sara = await harness.sign_in(SARA, "Sara")
    response = await put_photo(harness, sara, b"\xff\xd8\xff" + b"\x00" * 200_000)
    assert response.status_code == 413
    assert code_of(response) == "image_too_large"


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(make_harness: Any) -> None:
    harness: Harness = await make_harness(photo_max_bytes=1000)
    sara = await harness.sign_in(SARA, "Sara")
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(1000):  # 8 MB if it were all read
            sent += 1
            yield b"\x00" * 8192
        yield b"\r\n--xx--\r\n"

    response = await harness.http.put(
        "/v1/me/photo",
        content=body(),
        headers={**sara.headers, "content-type": "multipart/form-data; boundary=xx"},
    )
    assert response.status_code == 413
    assert code_of(response) == "image_too_large"
    assert sent < 10  # reading stopped near the cap, not at the end of the stream


async def test_empty_file_is_422_empty_upload(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await put_photo(harness, sara, b"")
    assert response.status_code == 422
    assert code_of(response) == "empty_upload"


async def test_missing_file_field_is_422(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    attempts: list[dict[str, Any]] = [
        {"files": {"photo": ("a.png", png_with_alpha(), "image/png")}},
        {"data": {"file": "not a file"}},
        {"json": {"file": "aGVsbG8="}},
        {},
    ]
    for attempt in attempts:
        response = await harness.http.put("/v1/me/photo", headers=sara.headers, **attempt)
        assert response.status_code == 422, (attempt, response.text)
        assert code_of(response) == "file_required"


async def test_extra_form_fields_are_refused(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("a.png", png_with_alpha(), "image/png")},
        data={"caption": "hi"},
        headers=sara.headers,
    )
    assert response.status_code == 422
    assert code_of(response) == "unexpected_field"
    assert (await harness.http.get("/v1/me", headers=sara.headers)).json()["has_photo"] is False


async def test_upload_needs_a_session(harness: Harness) -> None:
    response = await harness.http.put(
        "/v1/me/photo", files={"file": ("a.png", png_with_alpha(), "image/png")}
    )
    assert response.status_code == 401
    assert not blob_files(harness)


async def test_refused_uploads_leave_the_previous_photo_and_files_untouched(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(photo_max_bytes=60_000, image_max_pixels=1_000_000)
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, jpeg_with_gps(size=200))
    before_photo = (await get_photo(harness, sara, sara.user_id)).content
    before_files = blob_files(harness)
    noisy = encode(Image.effect_noise((400, 400), 64).convert("RGB"), "PNG")
    bad_uploads = [
        encode(Image.new("RGB", (10, 10)), "GIF"),
        b"not an image",
        noisy[: len(noisy) // 3],
        noisy,  # over photo_max_bytes
        encode(Image.new("1", (2000, 2000)), "PNG"),  # over image_max_pixels
        b"",
    ]
    for data in bad_uploads:
        response = await put_photo(harness, sara, data)
        assert 400 <= response.status_code < 500, response.text
        assert (await get_photo(harness, sara, sara.user_id)).content == before_photo
        assert blob_files(harness) == before_files
    me = (await harness.http.get("/v1/me", headers=sara.headers)).json()
    assert me["has_photo"] is True


async def test_uploads_are_rate_limited_with_retry_after(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"photo_upload_per_user": "2/3600"})
    sara = await harness.sign_in(SARA, "Sara")
    for colour in ("red", "blue"):
        await uploaded(harness, sara, encode(Image.new("RGB", (8, 8), colour), "PNG"))
    response = await put_photo(harness, sara, png_with_alpha())
    assert response.status_code == 429
    assert code_of(response) == "too_many_uploads"
    assert int(response.headers["retry-after"]) > 0
    harness.clock.advance(1800)
    assert (await put_photo(harness, sara, png_with_alpha())).status_code == 200


# --- removal is erasure (P5.2, P5.3) --------------------------------------------------------


async def test_deleting_the_photo_erases_both_files_from_disk(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, jpeg_with_gps())
    full = (await get_photo(harness, sara, sara.user_id)).content
    thumb = (await get_photo(harness, sara, sara.user_id, "thumb")).content
    files = blob_files(harness)
    assert sorted(files.values()) == sorted([full, thumb])
    response = await harness.http.delete("/v1/me/photo", headers=sara.headers)
    assert response.status_code == 200
    assert response.json()["has_photo"] is False
    assert response.json()["photo_url"] is None
    for path in files:
        assert not path.exists()
    on_disk = everything_on_disk(harness)
    assert full[-64:] not in on_disk
    assert thumb[-64:] not in on_disk
    for size in (None, "thumb"):
        response = await get_photo(harness, sara, sara.user_id, size)
        assert response.status_code == 404
        assert code_of(response) == "photo_not_found"


async def test_deleting_without_a_photo_is_harmless(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await harness.http.delete("/v1/me/photo", headers=sara.headers)
    assert response.status_code == 200
    assert response.json()["has_photo"] is False


async def test_replacing_the_photo_erases_the_old_files(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, jpeg_with_gps(colour=(255, 0, 0)))
    old_files = blob_files(harness)
    old_full = (await get_photo(harness, sara, sara.user_id)).content
    await uploaded(harness, sara, jpeg_with_gps(colour=(0, 0, 255)))
    new_full = (await get_photo(harness, sara, sara.user_id)).content
    assert new_full != old_full
    for path in old_files:
        assert not path.exists()
    assert set(blob_files(harness).values()) == await served(harness, sara)
    assert old_full[-64:] not in everything_on_disk(harness)


async def test_uploading_the_same_photo_again_keeps_it(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    data = jpeg_with_gps()
    await uploaded(harness, sara, data)
    first = (await get_photo(harness, sara, sara.user_id)).content
    await uploaded(harness, sara, data)
    assert (await get_photo(harness, sara, sara.user_id)).content == first
    assert set(blob_files(harness).values()) == await served(harness, sara)


async def test_identical_photos_share_files_until_the_last_user_removes_theirs(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    data = jpeg_with_gps()
    await uploaded(harness, sara, data)
    await uploaded(harness, bita, data)
    files = blob_files(harness)
    # One full photo and one thumbnail, stored once for both.
    assert set(files.values()) == await served(harness, sara) == await served(harness, bita)
    assert len(files) == 2
    await harness.http.delete("/v1/me/photo", headers=sara.headers)
    assert blob_files(harness) == files
    assert (await get_photo(harness, bita, bita.user_id)).status_code == 200
    await harness.http.delete("/v1/me/photo", headers=bita.headers)
    assert blob_files(harness) == {}


async def test_replacing_a_shared_photo_keeps_the_other_users_copy(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    shared = jpeg_with_gps()
    await uploaded(harness, sara, shared)
    await uploaded(harness, bita, shared)
    bita_photo = (await get_photo(harness, bita, bita.user_id)).content
    await uploaded(harness, sara, png_with_alpha())
    assert (await get_photo(harness, bita, bita.user_id)).content == bita_photo
    assert set(blob_files(harness).values()) == await served(harness, sara, bita)


async def test_concurrent_uploads_leave_no_orphaned_files(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    photos = [
        encode(Image.new("RGB", (64, 64), (40 * i, 255 - 40 * i, 90)), "PNG") for i in range(4)
    ]
    responses = await asyncio.gather(*(put_photo(harness, sara, p) for p in photos))
    assert all(r.status_code == 200 for r in responses)
    assert set(blob_files(harness).values()) == await served(harness, sara)


async def test_a_shared_file_survives_a_delete_racing_an_identical_upload(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    data = jpeg_with_gps()
    await uploaded(harness, sara, data)
    deleted, put = await asyncio.gather(
        harness.http.delete("/v1/me/photo", headers=sara.headers), put_photo(harness, bita, data)
    )
    assert (deleted.status_code, put.status_code) == (200, 200)
    assert (await get_photo(harness, bita, bita.user_id)).status_code == 200
    assert (await get_photo(harness, bita, bita.user_id, "thumb")).status_code == 200


# --- who may fetch a photo (P3.2) -----------------------------------------------------------


async def test_photo_is_404_to_a_stranger_and_200_to_a_holder_until_contacts_are_wiped(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await uploaded(harness, sara, jpeg_with_gps())
    own = (await get_photo(harness, sara, sara.user_id)).content

    stranger = await get_photo(harness, bita, sara.user_id)
    assert stranger.status_code == 404
    assert code_of(stranger) == "photo_not_found"
    assert (await get_photo(harness, bita, sara.user_id, "thumb")).status_code == 404
    profile = (await harness.http.get(f"/v1/users/{sara.user_id}", headers=bita.headers)).json()
    assert "photo_url" not in profile

    await holds(harness, bita, [SARA])
    response = await get_photo(harness, bita, sara.user_id)
    assert response.status_code == 200
    assert response.content == own
    profile = (await harness.http.get(f"/v1/users/{sara.user_id}", headers=bita.headers)).json()
    assert profile["photo_url"] == f"/v1/users/{sara.user_id}/photo"
    assert (await harness.http.get(profile["photo_url"], headers=bita.headers)).status_code == 200

    await harness.http.delete("/v1/contacts", headers=bita.headers)
    assert (await get_photo(harness, bita, sara.user_id)).status_code == 404


async def test_a_refused_photo_looks_like_no_photo_and_no_user(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    await uploaded(harness, sara, jpeg_with_gps())
    hidden = await get_photo(harness, bita, sara.user_id)
    no_photo = await get_photo(harness, bita, cyrus.user_id)
    no_user = await get_photo(harness, bita, cyrus.user_id + 1000)
    await holds(harness, bita, [CYRUS])
    held_no_photo = await get_photo(harness, bita, cyrus.user_id)
    for response in (hidden, no_photo, no_user, held_no_photo):
        assert response.status_code == 404
        assert response.json() == hidden.json()


async def test_contact_results_point_at_a_photo_the_holder_can_fetch(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await uploaded(harness, sara, jpeg_with_gps())
    response = await harness.http.put("/v1/contacts", json={"phones": [SARA]}, headers=bita.headers)
    [found] = response.json()["registered"]
    assert found["profile"]["has_photo"] is True
    fetched = await harness.http.get(found["profile"]["photo_url"], headers=bita.headers)
    assert fetched.status_code == 200
    assert GPS_MARKER not in fetched.content


async def test_photo_needs_a_session(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, png_with_alpha())
    assert (await harness.http.get(f"/v1/users/{sara.user_id}/photo")).status_code == 401


async def test_clients_revalidate_so_a_replaced_photo_is_never_served_stale(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await uploaded(harness, sara, jpeg_with_gps(colour=(255, 0, 0)))
    first = await get_photo(harness, sara, sara.user_id)
    assert "no-cache" in first.headers["cache-control"]
    assert "private" in first.headers["cache-control"]
    assert first.headers["x-content-type-options"] == "nosniff"
    etag = first.headers["etag"]
    again = await harness.http.get(
        f"/v1/users/{sara.user_id}/photo", headers={**sara.headers, "if-none-match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    await uploaded(harness, sara, jpeg_with_gps(colour=(0, 0, 255)))
    changed = await harness.http.get(
        f"/v1/users/{sara.user_id}/photo", headers={**sara.headers, "if-none-match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.content != first.content
