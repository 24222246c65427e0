"""Media uploads and downloads over HTTP: the type comes from the bytes, images are re-encoded
without metadata (P3.3), bad uploads are refused with clear codes and nothing stored (P9.2),
nobody but the uploader and those who see a message carrying a file can fetch it (P9.1), and
downloads answer range requests."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from tests.adapters.test_video import TURNED, tkhd, track
from tests.adapters.test_video import mp4 as video_file
from tests.api.message_helpers import direct_chat, group_chat, people, send
from tests.api.test_photos import GPS_MARKER, encode, jpeg_with_gps
from tests.conftest import Account, Harness

PDF = b"%PDF-1.7\n1 0 obj <</Type /Catalog>> endobj\nPAYAM-PDF-MARKER\n%%EOF\n"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"PAYAM-MP3-MARKER" * 64


def mp4(marker: bytes = b"PAYAM-MP4-MARKER") -> bytes:
    brand = b"ftypisom\x00\x00\x02\x00isomiso2mp41"
    return struct.pack(">I", len(brand) + 4) + brand + b"\x00\x00\x00\x08free" + marker * 100


async def upload(
    harness: Harness,
    account: Account,
    data: bytes,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await harness.http.post(
        "/v1/media", files={"file": (filename, data, content_type)}, headers=account.headers
    )


async def uploaded(harness: Harness, account: Account, data: bytes, **kw: Any) -> dict[str, Any]:
    response = await upload(harness, account, data, **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def fetch(
    harness: Harness, account: Account, media_id: int, suffix: str = "", **headers: str
) -> httpx.Response:
    return await harness.http.get(
        f"/v1/media/{media_id}{suffix}", headers={**account.headers, **headers}
    )


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def everything_on_disk(harness: Harness) -> bytes:
    root: Path = harness.settings.data_dir
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def blob_count(harness: Harness) -> int:
    root = harness.settings.data_dir / "blobs"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


# --- what is stored, and how it is served --------------------------------------------------


async def test_a_photo_is_re_encoded_without_metadata_and_gets_a_thumbnail(
    harness: Harness,
) -> None:
    [sara] = await people(harness, "Sara")
    body = await uploaded(harness, sara, jpeg_with_gps(size=800), content_type="image/jpeg")
    assert body["kind"] == "image"
    assert body["mime"] == "image/webp"
    assert (body["width"], body["height"]) == (800, 600)
    assert body["url"] == f"/v1/media/{body['id']}"
    assert body["thumbnail_url"] == f"/v1/media/{body['id']}/thumbnail"
    full = await fetch(harness, sara, body["id"])
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/webp"
    assert full.headers["content-disposition"].startswith("inline")
    assert len(full.content) == body["size"]
    thumb = await fetch(harness, sara, body["id"], "/thumbnail")
    assert thumb.status_code == 200
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= harness.settings.thumbnail_side
    for served in (full.content, thumb.content):
        assert GPS_MARKER not in served and b"SpyCam" not in served
    on_disk = everything_on_disk(harness)
    assert GPS_MARKER not in on_disk and b"SpyCam" not in on_disk


async def test_a_large_photo_is_scaled_to_the_configured_side(make_harness: Any) -> None:
    harness: Harness = await make_harness(media_image_max_side=300)
    [sara] = await people(harness, "Sara")
    body = await uploaded(harness, sara, jpeg_with_gps(size=1000))
    assert (body["width"], body["height"]) == (300, 225)


@pytest.mark.parametrize(
    ("data", "kind", "mime", "inline"),
    [
        (mp4(), "video", "video/mp4", True),
        (MP3, "audio", "audio/mpeg", True),
        (PDF, "file", "application/pdf", False),
    ],
    ids=["video", "audio", "document"],
)
async def test_other_kinds_are_stored_as_sent_and_told_apart_by_their_bytes(
    harness: Harness, data: bytes, kind: str, mime: str, inline: bool
) -> None:
    [sara] = await people(harness, "Sara")
    # The name says nothing true: the bytes decide.
    body = await uploaded(harness, sara, data, filename="holiday.txt")
    assert (body["kind"], body["mime"], body["size"]) == (kind, mime, len(data))
    assert body["width"] is None and body["thumbnail_url"] is None
    served = await fetch(harness, sara, body["id"])
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == mime
    assert served.headers["content-disposition"].startswith("inline" if inline else "attachment")
    assert served.headers["x-content-type-options"] == "nosniff"
    thumb = await fetch(harness, sara, body["id"], "/thumbnail")
    assert thumb.status_code == 404


async def test_unknown_content_is_a_download_never_a_page(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    page = b"<html><body><script>alert('PAYAM')</script></body></html>"
    body = await uploaded(harness, sara, page, filename="x.html", content_type="text/html")
    assert (body["kind"], body["mime"]) == ("file", "application/octet-stream")
    served = await fetch(harness, sara, body["id"])
    assert served.content == page
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment")
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["cache-control"].startswith("private")


async def test_a_png_sent_as_jpeg_is_still_an_image(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    png = encode(Image.new("RGB", (40, 30), "blue"), "PNG")
    body = await uploaded(harness, sara, png, filename="a.jpg", content_type="image/jpeg")
    assert (body["kind"], body["width"], body["height"]) == ("image", 40, 30)


# --- refusals (P9.2) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (PDF, "image/png"),
        (b"plain text pretending\n" * 10, "video/mp4"),
        (encode(Image.new("RGB", (8, 8)), "PNG"), "application/pdf"),
        (mp4(), "image/jpeg"),
    ],
    ids=["pdf-as-png", "text-as-video", "png-as-pdf", "video-as-jpeg"],
)
async def test_a_declared_type_that_contradicts_the_content_is_415(
    harness: Harness, data: bytes, declared: str
) -> None:
    [sara] = await people(harness, "Sara")
    response = await upload(harness, sara, data, content_type=declared)
    assert response.status_code == 415
    assert code_of(response) == "media_type_mismatch"
    assert blob_count(harness) == 0


async def test_truncated_jpeg_is_422_corrupt_image(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    data = encode(Image.effect_noise((300, 300), 64).convert("RGB"), "JPEG")
    response = await upload(harness, sara, data[: len(data) // 2], content_type="image/jpeg")
    assert response.status_code == 422
    assert code_of(response) == "corrupt_image"
    assert blob_count(harness) == 0


async def test_decompression_bomb_is_refused_without_a_500(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    bomb = encode(Image.new("1", (20000, 20000)), "PNG", optimize=True)  # ~50 KB, 400 Mpx
    response = await upload(harness, sara, bomb, content_type="image/png")
    assert response.status_code == 422
    assert code_of(response) == "image_too_many_pixels"
    assert blob_count(harness) == 0


async def test_an_image_type_we_cannot_clean_is_refused(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    gif = encode(Image.new("RGB", (10, 10), "red"), "GIF")
    response = await upload(harness, sara, gif, content_type="image/gif")
    assert response.status_code == 415
    assert code_of(response) == "unsupported_image_type"


async def test_a_file_over_the_limit_is_413_and_one_at_it_is_stored(make_harness: Any) -> None:
    harness: Harness = await make_harness(media_max_bytes=2000)
    [sara] = await people(harness, "Sara")
    response = await upload(harness, sara, b"\x00" * 2001)
    assert response.status_code == 413
    assert code_of(response) == "payload_too_large"
    assert blob_count(harness) == 0
    assert (await upload(harness, sara, b"\x01" * 2000)).status_code == 201


async def test_a_streamed_body_is_cut_off_at_the_limit(make_harness: Any) -> None:
    harness: Harness = await make_harness(media_max_bytes=1000)
    [sara] = await people(harness, "Sara")
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        for _ in range(1000):  # 8 MB if it were all read
            sent += 1
            yield b"\x00" * 8192
        yield b"\r\n--xx--\r\n"

    response = await harness.http.post(
        "/v1/media",
        content=body(),
        headers={**sara.headers, "content-type": "multipart/form-data; boundary=xx"},
    )
    assert response.status_code == 413
    assert code_of(response) == "payload_too_large"
    assert sent < 10


async def test_empty_and_missing_files_are_422(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    response = await upload(harness, sara, b"")
    assert response.status_code == 422
    assert code_of(response) == "empty_upload"
    response = await harness.http.post(
        "/v1/media", files={"photo": ("a.bin", b"abc")}, headers=sara.headers
    )
    assert response.status_code == 422
    assert code_of(response) == "file_required"
    response = await harness.http.post("/v1/media", json={"file": "abc"}, headers=sara.headers)
    assert response.status_code in {400, 415, 422}
    assert "error" in response.json()


async def test_uploads_are_rate_limited_with_retry_after(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"media_upload_per_user": "2/3600"})
    [sara] = await people(harness, "Sara")
    for n in range(2):
        assert (await upload(harness, sara, bytes([n]) * 10)).status_code == 201
    response = await upload(harness, sara, b"x" * 10)
    assert response.status_code == 429
    assert code_of(response) == "too_many_uploads"
    assert int(response.headers["retry-after"]) > 0


async def test_uploading_needs_a_session(harness: Harness) -> None:
    response = await harness.http.post("/v1/media", files={"file": ("a", b"abc")})
    assert response.status_code == 401


# --- who may fetch (P9.1) ------------------------------------------------------------------


async def test_an_unsent_upload_is_only_the_uploaders(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    body = await uploaded(harness, sara, PDF)
    assert (await fetch(harness, sara, body["id"])).status_code == 200
    stranger = await fetch(harness, omid, body["id"])
    missing = await fetch(harness, omid, body["id"] + 1000)
    assert stranger.status_code == missing.status_code == 404
    assert stranger.json() == missing.json()
    assert code_of(stranger) == "media_not_found"
    assert (await fetch(harness, omid, 0)).status_code == 404
    assert (await fetch(harness, omid, 2**70)).status_code == 404
    assert (await harness.http.get(f"/v1/media/{body['id']}")).status_code == 401


async def test_members_who_see_the_message_may_fetch_and_nobody_else(harness: Harness) -> None:
    sara, omid, leila, stranger = await people(harness, "Sara", "Omid", "Leila", "Stranger")
    chat = await group_chat(harness, sara, [omid, leila])
    body = await uploaded(harness, sara, jpeg_with_gps())
    sent = await send(harness, sara, chat, "look", media_ids=[body["id"]])
    assert sent.status_code == 201, sent.text
    for who in (sara, omid, leila):
        assert (await fetch(harness, who, body["id"])).status_code == 200
        assert (await fetch(harness, who, body["id"], "/thumbnail")).status_code == 200
    assert (await fetch(harness, stranger, body["id"])).status_code == 404
    assert (await fetch(harness, stranger, body["id"], "/thumbnail")).status_code == 404
    # Hidden for Omid alone: the file goes with it, for him.
    message_id = sent.json()["id"]
    hidden = await harness.http.delete(
        f"/v1/chats/{chat}/messages/{message_id}", params={"for": "me"}, headers=omid.headers
    )
    assert hidden.status_code == 204
    assert (await fetch(harness, omid, body["id"])).status_code == 404
    # Leila clears her history: the file is no longer hers to see either.
    cleared = await harness.http.post(f"/v1/chats/{chat}/clear", headers=leila.headers)
    assert cleared.status_code in {200, 204}, cleared.text
    assert (await fetch(harness, leila, body["id"])).status_code == 404
    assert (await fetch(harness, sara, body["id"])).status_code == 200


async def test_a_member_who_left_can_no_longer_fetch(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await group_chat(harness, sara, [omid])
    body = await uploaded(harness, sara, PDF)
    assert (await send(harness, sara, chat, None, media_ids=[body["id"]])).status_code == 201
    assert (await fetch(harness, omid, body["id"])).status_code == 200
    left = await harness.http.delete(f"/v1/chats/{chat}", headers=omid.headers)
    assert left.status_code == 204, left.text
    assert (await fetch(harness, omid, body["id"])).status_code == 404


# --- ranges --------------------------------------------------------------------------------


@pytest.fixture
async def video(harness: Harness) -> tuple[Account, int, bytes]:
    [sara] = await people(harness, "Sara")
    data = mp4(bytes(range(256)))
    body = await uploaded(harness, sara, data)
    return sara, body["id"], data


async def test_a_range_request_gets_206_with_those_bytes(
    harness: Harness, video: tuple[Account, int, bytes]
) -> None:
    sara, media_id, data = video
    whole = await fetch(harness, sara, media_id)
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    assert etag == f'"{hashlib.sha256(data).hexdigest()}"'
    part = await fetch(harness, sara, media_id, range="bytes=10-19")
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert part.headers["content-length"] == "10"
    assert part.headers["etag"] == etag
    tail = await fetch(harness, sara, media_id, range=f"bytes={len(data) - 7}-")
    assert tail.status_code == 206 and tail.content == data[-7:]
    suffix = await fetch(harness, sara, media_id, range="bytes=-5")
    assert suffix.status_code == 206 and suffix.content == data[-5:]
    assert suffix.headers["content-range"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}"


async def test_a_range_past_the_end_is_416_with_the_size(
    harness: Harness, video: tuple[Account, int, bytes]
) -> None:
    sara, media_id, data = video
    response = await fetch(harness, sara, media_id, range=f"bytes={len(data)}-")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"
    assert code_of(response) == "range_not_satisfiable"


async def test_an_unchanged_file_is_304_to_its_etag(
    harness: Harness, video: tuple[Account, int, bytes]
) -> None:
    sara, media_id, _ = video
    etag = (await fetch(harness, sara, media_id)).headers["etag"]
    again = await fetch(harness, sara, media_id, **{"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""


async def test_ranges_are_only_for_those_who_may_fetch(
    harness: Harness, video: tuple[Account, int, bytes]
) -> None:
    _, media_id, _ = video
    [omid] = await people(harness, "Omid")
    response = await fetch(harness, omid, media_id, range="bytes=0-9")
    assert response.status_code == 404


async def test_a_direct_chat_peer_may_fetch(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    body = await uploaded(harness, sara, MP3)
    assert (await send(harness, sara, chat, "song", media_ids=[body["id"]])).status_code == 201
    served = await fetch(harness, omid, body["id"])
    assert served.status_code == 200 and served.content == MP3


async def test_the_same_bytes_uploaded_later_do_not_tell_when_they_were_first_uploaded(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    first = await uploaded(harness, sara, PDF)
    harness.clock.advance(7 * 86400)
    second = await uploaded(harness, omid, PDF)
    mine = await fetch(harness, sara, first["id"])
    theirs = await fetch(harness, omid, second["id"])
    assert mine.headers["etag"] == theirs.headers["etag"]  # one file on disk
    assert mine.headers["last-modified"] != theirs.headers["last-modified"]


WEBM = (
    bytes.fromhex("1a45dfa3")
    + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"
    + b"\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02"
    + b"PAYAM-VOICE" * 40
)


async def test_a_voice_note_in_a_webm_box_is_audio_when_sent_as_audio(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    voice = await uploaded(harness, sara, WEBM, content_type="audio/webm;codecs=opus")
    assert (voice["kind"], voice["mime"]) == ("audio", "audio/webm")
    clip = await uploaded(harness, sara, WEBM, content_type="video/webm")
    assert (clip["kind"], clip["mime"]) == ("video", "video/webm")
    unsaid = await uploaded(harness, sara, WEBM)
    assert (unsaid["kind"], unsaid["mime"]) == ("video", "video/webm")
    # The declared type only chooses between sound and pictures: never another kind.
    response = await upload(harness, sara, WEBM, content_type="text/html")
    assert response.status_code == 415


async def test_a_videos_display_size_is_reported(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    upright = video_file(track(b"vide", tkhd(1920, 1080, TURNED)), moov_last=True)
    body = await uploaded(harness, sara, upright, content_type="video/mp4")
    assert (body["kind"], body["width"], body["height"]) == ("video", 1080, 1920)
    served = await fetch(harness, sara, body["id"])
    assert served.content == upright


# --- the name a file was sent with (issue 9 #16) ---------------------------------------------


async def test_a_download_keeps_its_unicode_name_in_content_disposition(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    name = "گزارش سالانه — notes.pdf"
    stored = await uploaded(harness, sara, PDF, filename=name, content_type="application/pdf")
    assert stored["name"] == name
    served = await fetch(harness, sara, stored["id"])
    assert served.status_code == 200
    disposition = served.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    assert disposition.isascii()


async def test_a_malicious_name_cannot_break_the_header_or_name_a_path(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    name = '../../x"; filename=evil.exe\\..\\run.pdf'
    stored = await uploaded(harness, sara, PDF, filename=name, content_type="application/pdf")
    assert stored["name"] == "run.pdf"
    disposition = (await fetch(harness, sara, stored["id"])).headers["content-disposition"]
    assert disposition == "attachment; filename=\"run.pdf\"; filename*=UTF-8''run.pdf"


async def test_an_image_is_named_for_what_is_served_and_nameless_uploads_keep_their_id(
    harness: Harness,
) -> None:
    [sara] = await people(harness, "Sara")
    jpeg = encode(Image.new("RGB", (40, 30), "blue"), "JPEG")
    stored = await uploaded(harness, sara, jpeg, filename="holiday.jpg", content_type="image/jpeg")
    full = await fetch(harness, sara, stored["id"])
    thumb = await fetch(harness, sara, stored["id"], "/thumbnail")
    assert 'filename="holiday.webp"' in full.headers["content-disposition"]
    assert 'filename="holiday-thumb.webp"' in thumb.headers["content-disposition"]
    nameless = await uploaded(harness, sara, PDF, filename="\u202e", content_type="application/pdf")
    assert nameless["name"] is None
    served = await fetch(harness, sara, nameless["id"])
    assert f'filename="{nameless["id"]}.pdf"' in served.headers["content-disposition"]


async def test_the_file_name_is_exported_and_erased_with_the_uploader(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    stored = await uploaded(
        harness, sara, PDF, filename="sara-passport.pdf", content_type="application/pdf"
    )
    export = await harness.http.get("/v1/me/export", headers=sara.headers)
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    data = json.loads(archive.read("export.json"))
    assert [row["name"] for row in data["other_records"]["media"]] == ["sara-passport.pdf"]
    # Sent to Omid, then Sara's account is erased: the forward keeps no trace of the name.
    chat = await direct_chat(harness, sara, omid)
    message = await send(harness, sara, chat, "my papers", media_ids=[stored["id"]])
    assert message.status_code == 201, message.text
    harness.clock.advance(3600)
    await harness.http.post("/v1/auth/code", json={"phone": sara.phone})
    erased = await harness.http.request(
        "DELETE", "/v1/me", json={"code": harness.last_code(sara.phone)}, headers=sara.headers
    )
    assert erased.status_code == 200, erased.text
    assert b"sara-passport" not in everything_on_disk(harness)
