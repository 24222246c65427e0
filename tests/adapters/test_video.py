"""The display size of an MP4 video from its boxes, and nothing at all from damaged ones."""

from __future__ import annotations

import io
import struct

from payam.adapters.video import video_size

IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
TURNED = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)  # 90 degrees


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body) + 8, kind) + body


def tkhd(width: int, height: int, matrix: tuple[int, ...], version: int = 0) -> bytes:
    times = b"\x00" * (32 if version else 20)
    body = bytes([version, 0, 0, 7]) + times + b"\x00" * 16 + struct.pack(">9i", *matrix)
    return box(b"tkhd", body + struct.pack(">II", width << 16, height << 16))


def track(handler: bytes, header: bytes) -> bytes:
    hdlr = box(b"hdlr", b"\x00" * 8 + handler + b"\x00" * 12)
    return box(b"trak", header + box(b"mdia", box(b"mdhd", b"\x00" * 24) + hdlr))


def mp4(*tracks: bytes, moov_last: bool = False) -> bytes:
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    moov = box(b"moov", box(b"mvhd", b"\x00" * 100) + b"".join(tracks))
    mdat = box(b"mdat", b"\x00" * 5000)
    return ftyp + (mdat + moov if moov_last else moov + mdat)


def size_of(data: bytes) -> tuple[int, int] | None:
    return video_size(io.BytesIO(data))


def test_the_first_video_tracks_size_is_read_wherever_moov_is() -> None:
    sound = track(b"soun", tkhd(0, 0, IDENTITY))
    picture = track(b"vide", tkhd(1920, 1080, IDENTITY))
    assert size_of(mp4(sound, picture)) == (1920, 1080)
    assert size_of(mp4(sound, picture, moov_last=True)) == (1920, 1080)
    assert size_of(mp4(track(b"vide", tkhd(640, 480, IDENTITY, version=1)))) == (640, 480)


def test_a_video_filmed_upright_is_taller_than_wide() -> None:
    assert size_of(mp4(track(b"vide", tkhd(1920, 1080, TURNED)))) == (1080, 1920)


def test_damaged_or_foreign_files_give_no_size_and_no_error() -> None:
    good = mp4(track(b"vide", tkhd(1920, 1080, IDENTITY)), moov_last=True)
    for bad in (
        b"",
        b"\x00" * 7,
        good[: len(good) - 40],  # moov cut short
        mp4(track(b"soun", tkhd(0, 0, IDENTITY))),
        struct.pack(">I4s", 1, b"moov") + b"\xff" * 8,  # a 64-bit length past the end
        struct.pack(">I4s", 4, b"free") + good,  # a length shorter than its header
        b"\x1aE\xdf\xa3" + b"\x00" * 300,  # WebM
    ):
        assert size_of(bad) is None, bad[:16]


def test_the_reading_position_is_left_where_it_was() -> None:
    source = io.BytesIO(mp4(track(b"vide", tkhd(320, 240, IDENTITY))))
    source.seek(5)
    assert video_size(source) == (320, 240)
    assert source.tell() == 5
