"""Image decoding cannot stall the server (issue 9 #13, P9.2): a decompression bomb is refused
from its header before any pixel is decoded, decoding runs off the event loop a bounded number
at a time, and a small upload never waits behind large ones."""

from __future__ import annotations

import asyncio
import functools
import io
import struct
import threading
import zlib
from typing import Any

import pytest
from PIL import Image, ImageFile

from payam.adapters import images
from payam.services import files
from tests.api.message_helpers import people
from tests.api.test_media import blob_count, code_of, upload
from tests.api.test_photos import encode
from tests.conftest import Harness

# Generous bounds for a thread to reach a point, so a deadlock fails instead of hanging.
WAIT = 30.0


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def all_zero_png(side: int = 6300) -> bytes:
    """The issue's bomb: an all-zero RGB PNG of side x side, written row by row (never whole
    in memory): about 120 MB of pixels in about 120 KB."""
    squeeze = zlib.compressobj(9)
    row = bytes(1 + 3 * side)  # filter byte 0, then black pixels
    body = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


async def test_the_all_zero_6300_square_png_is_refused_before_decoding(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> Any:
        decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    [sara] = await people(harness, "Sara")
    bomb = all_zero_png()
    assert len(bomb) < 200_000
    assert harness.settings.image_max_pixels >= 6300 * 6300  # under the declared-size limit
    response = await upload(harness, sara, bomb, filename="bomb.png", content_type="image/png")
    assert response.status_code == 422
    assert code_of(response) == "image_too_many_pixels"
    assert decoded == []
    assert blob_count(harness) == 0
    # The same bytes as a profile photo: the same refusal, through the same door.
    photo = await harness.http.put(
        "/v1/me/photo", files={"file": ("p.png", bomb, "image/png")}, headers=sara.headers
    )
    assert photo.status_code == 422
    assert decoded == []


async def test_a_large_jpeg_is_decoded_reduced_and_accepted(harness: Harness) -> None:
    """The decoded-pixel limit counts what a JPEG really decodes to (1/2, 1/4, 1/8 scale)."""
    [sara] = await people(harness, "Sara")
    big = encode(Image.new("RGB", (6000, 4000), (20, 120, 220)), "JPEG", quality=50)
    assert harness.settings.image_max_decode_pixels < 6000 * 4000
    response = await upload(harness, sara, big, filename="big.jpg", content_type="image/jpeg")
    assert response.status_code == 201, response.text
    assert max(response.json()["width"], response.json()["height"]) == 2560


async def test_a_small_upload_does_not_wait_behind_large_decodes(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness: Harness = await make_harness(image_decode_workers=1)
    gate = threading.Event()  # holds every large decode until the small upload is done
    entered = threading.Event()
    lock = threading.Lock()
    running = {"now": 0, "most": 0}
    real = images.process_image

    def gated(data: bytes, **limits: Any) -> images.ProcessedImage:
        with Image.open(io.BytesIO(data)) as peek:
            large = peek.width * peek.height > files.SMALL_IMAGE_PIXELS
        if large:
            with lock:
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
            entered.set()
            try:
                assert gate.wait(WAIT), "the test never opened the gate"
                return real(data, **limits)
            finally:
                with lock:
                    running["now"] -= 1
        return real(data, **limits)

    monkeypatch.setattr(files, "process_image", gated)
    [sara] = await people(harness, "Sara")
    large = encode(Image.new("RGB", (1500, 1500), (200, 30, 30)), "PNG")
    small = encode(Image.new("RGB", (50, 50), (30, 200, 30)), "PNG")
    try:
        big_ones = [
            asyncio.create_task(upload(harness, sara, large, content_type="image/png"))
            for _ in range(3)
        ]
        assert await asyncio.to_thread(entered.wait, WAIT)
        # Three large decodes are waiting or running; the small one goes through now.
        response = await asyncio.wait_for(
            upload(harness, sara, small, content_type="image/png"), WAIT
        )
        assert response.status_code == 201, response.text
        assert not any(task.done() for task in big_ones)
    finally:
        gate.set()
    answers = await asyncio.gather(*big_ones)
    assert [a.status_code for a in answers] == [201, 201, 201]
    # One large decode at a time with image_decode_workers=1: the pool is bounded.
    assert running["most"] == 1
