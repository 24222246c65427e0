"""The display size of an MP4 or QuickTime video, read from its boxes (no decoder involved).

Clients lay a video out before they download it, so an upload reports ``width`` and ``height``
like an image does. They are in the track header (``moov/trak/tkhd``) of the first video
track (``mdia/hdlr`` of type ``vide``), in 16.16 fixed point; a phone filming upright stores
a landscape frame and a 90 or 270 degree matrix, so the size is swapped then.

The file is untrusted: every length is checked against what is left, the number of boxes
read is bounded, ``moov`` is read only when it is at most ``MAX_MOOV`` bytes, and anything
unexpected answers None (the size is a courtesy, never a reason to refuse an upload).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO

MAX_MOOV = 32 * 1024 * 1024
MAX_BOXES = 4096
_HEADER = struct.Struct(">I4s")


def video_size(source: BinaryIO) -> tuple[int, int] | None:
    """(width, height) of the first video track, or None; ``source`` is left where it was."""
    start = source.tell()
    try:
        moov = _read_moov(source)
        return _size_in(moov) if moov is not None else None
    except (struct.error, ValueError, OSError):
        return None
    finally:
        source.seek(start)


def _boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each box in ``data``, at most MAX_BOXES, stopping at a bad length."""
    offset = 0
    for _ in range(MAX_BOXES):
        if offset + 8 > len(data):
            return
        size, kind = _HEADER.unpack_from(data, offset)
        head = 8
        if size == 1:
            if offset + 16 > len(data):
                return
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            head = 16
        elif size == 0:
            size = len(data) - offset
        if size < head or offset + size > len(data):
            return
        yield kind, data[offset + head : offset + size]
        offset += size


def _read_moov(source: BinaryIO) -> bytes | None:
    """The body of the top-level ``moov`` box, found by skipping the others."""
    source.seek(0, io.SEEK_END)
    end = source.tell()
    offset = 0
    for _ in range(MAX_BOXES):
        if offset + 8 > end:
            return None
        source.seek(offset)
        size, kind = _HEADER.unpack(source.read(8))
        head = 8
        if size == 1:
            (size,) = struct.unpack(">Q", source.read(8))
            head = 16
        elif size == 0:
            size = end - offset
        if size < head or offset + size > end:
            return None
        if kind == b"moov":
            if size - head > MAX_MOOV:
                return None
            return source.read(size - head)
        offset += size
    return None


def _size_in(moov: bytes) -> tuple[int, int] | None:
    for kind, trak in _boxes(moov):
        if kind != b"trak":
            continue
        children = dict(_boxes(trak))
        if _handler(children.get(b"mdia", b"")) != b"vide" or b"tkhd" not in children:
            continue
        size = _track_size(children[b"tkhd"])
        if size is not None:
            return size
    return None


def _handler(mdia: bytes) -> bytes | None:
    hdlr = dict(_boxes(mdia)).get(b"hdlr")
    # The handler type follows four bytes of version and flags and four reserved ones.
    return hdlr[8:12] if hdlr is not None and len(hdlr) >= 12 else None


def _track_size(tkhd: bytes) -> tuple[int, int] | None:
    version = tkhd[0] if tkhd else None
    # After version/flags: times, track id, reserved and duration (32 bytes in version 1, 20
    # in version 0), then reserved (8), layer, group, volume, reserved (8), the 3x3 matrix
    # (36), width and height.
    times = {0: 20, 1: 32}.get(version) if version is not None else None
    if times is None:
        return None
    matrix_at = 4 + times + 16
    size_at = matrix_at + 36
    if len(tkhd) < size_at + 8:
        return None
    a, b, _u, c, d = struct.unpack_from(">iiiii", tkhd, matrix_at)
    width, height = struct.unpack_from(">II", tkhd, size_at)
    width, height = round(width / 65536), round(height / 65536)
    if not (0 < width <= 65535 and 0 < height <= 65535):
        return None
    if a == 0 and d == 0 and b != 0 and c != 0:  # turned by 90 or 270 degrees
        width, height = height, width
    return width, height
