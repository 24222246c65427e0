"""Image intake (P3.3, P9.2): what a photo looks like after payam re-encoded it, and what is
refused. Every output is decoded again with Pillow and checked as a client would see it."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from payam.adapters.images import process_image
from payam.domain.errors import InvalidInput, PayamError, PayloadTooLarge, UnsupportedMedia

LIMITS: dict[str, Any] = {
    "max_bytes": 10 * 1024 * 1024,
    "max_pixels": 40_000_000,
    "max_side": 1280,
    "thumb_side": 160,
}
GPS_MARKER = b"PAYAM-GPS-MARKER"
XMP_MARKER = b"PAYAM-XMP-MARKER"


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def spy_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: camera, orientation and where the photo was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (35.0, 41.0, 22.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (51.0, 23.0, 23.0)
    gps[ExifTags.GPS.GPSMapDatum] = GPS_MARKER.decode()
    return exif


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def swapped_primaries_icc() -> bytes:
    """An RGB profile whose red channel means sRGB's green and the reverse: applied, it turns
    pure red into green; ignored, red stays red."""
    profile = bytearray(srgb_icc())
    count = struct.unpack_from(">I", profile, 128)[0]
    entries = {}
    for i in range(count):
        signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
        entries[signature] = (i, offset, size)
    (red, red_offset, red_size), (green, green_offset, green_size) = (
        entries[b"rXYZ"],
        entries[b"gXYZ"],
    )
    struct.pack_into(">4sII", profile, 132 + 12 * red, b"rXYZ", green_offset, green_size)
    struct.pack_into(">4sII", profile, 132 + 12 * green, b"gXYZ", red_offset, red_size)
    return bytes(profile)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, depth: int, colour_type: int, row: bytes) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (16 bits per channel)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + row for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def close(pixel: Any, expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def refused(data: bytes, **limits: Any) -> PayamError:
    with pytest.raises(PayamError) as caught:
        process_image(data, **{**LIMITS, **limits})
    return caught.value


# --- metadata (P3.3) ---------------------------------------------------------------------


def test_jpeg_exif_gps_xmp_icc_and_comment_are_gone_from_both_outputs() -> None:
    upload = encode(
        Image.new("RGB", (64, 48), (200, 30, 30)),
        "JPEG",
        exif=spy_exif(),
        xmp=b"<x:xmpmeta>" + XMP_MARKER + b"</x:xmpmeta>",
        icc_profile=srgb_icc(),
        comment=b"PAYAM-COMMENT-MARKER",
    )
    assert GPS_MARKER in upload and b"SpyCam" in upload  # the test image really carries them
    result = process_image(upload, **LIMITS)
    for data in (result.full, result.thumbnail):
        for marker in (GPS_MARKER, b"SpyCam", XMP_MARKER, b"PAYAM-COMMENT-MARKER", b"Exif"):
            assert marker not in data
        image = decode(data)
        assert image.format == "WEBP"
        assert len(image.getexif()) == 0
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)


def test_png_text_and_exif_chunks_are_gone() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "PAYAM-PNG-TEXT-MARKER")
    upload = encode(Image.new("RGB", (20, 20), "blue"), "PNG", pnginfo=text, exif=spy_exif())
    assert GPS_MARKER in upload
    result = process_image(upload, **LIMITS)
    assert GPS_MARKER not in result.full
    assert b"PAYAM-PNG-TEXT-MARKER" not in result.full
    assert len(decode(result.full).getexif()) == 0


def test_exif_orientation_is_applied_to_the_pixels_before_it_is_dropped() -> None:
    # Stored landscape with the left half red; orientation 6 means "rotate 90 clockwise".
    image = Image.new("RGB", (80, 40), "blue")
    image.paste((255, 0, 0), (0, 0, 40, 40))
    result = process_image(encode(image, "JPEG", exif=spy_exif(orientation=6)), **LIMITS)
    upright = decode(result.full).convert("RGB")
    assert upright.size == (40, 80)
    assert close(upright.getpixel((20, 10)), (255, 0, 0), 40)  # red is now on top
    assert close(upright.getpixel((20, 70)), (0, 0, 255), 40)
    assert decode(result.thumbnail).size == (40, 80)


def test_a_damaged_exif_block_does_not_refuse_the_photo() -> None:
    clean = encode(Image.new("RGB", (16, 16), "green"), "JPEG")
    broken = b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\x08"
    app1 = b"\xff\xe1" + (len(broken) + 2).to_bytes(2, "big") + broken
    result = process_image(clean[:2] + app1 + clean[2:], **LIMITS)
    assert decode(result.full).size == (16, 16)


# --- formats, modes and colour -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_come_out_as_webp_with_their_colours(fmt: str) -> None:
    result = process_image(encode(Image.new("RGB", (30, 20), (20, 120, 220)), fmt), **LIMITS)
    image = decode(result.full)
    assert image.format == "WEBP"
    assert image.size == (30, 20)
    assert close(image.convert("RGB").getpixel((15, 10)), (20, 120, 220))
    assert (result.width, result.height) == (30, 20)


def test_png_alpha_is_kept() -> None:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 10, 20))
    out = decode(process_image(encode(image, "PNG"), **LIMITS).full)
    assert out.mode == "RGBA"
    assert out.getpixel((15, 10))[3] == 0
    assert out.getpixel((5, 10))[3] == 255


def test_palette_png_with_a_transparent_index_keeps_its_transparency() -> None:
    image = Image.new("P", (10, 10), 1)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    image.paste(0, (0, 0, 5, 10))
    out = decode(process_image(encode(image, "PNG", transparency=0), **LIMITS).full)
    assert out.mode == "RGBA"
    assert out.getpixel((2, 5))[3] == 0
    assert close(out.getpixel((7, 5)), (0, 0, 255, 255))


def test_palette_png_without_transparency_is_plain_rgb() -> None:
    image = Image.new("RGB", (10, 10), (0, 200, 0)).convert("P")
    out = decode(process_image(encode(image, "PNG"), **LIMITS).full)
    assert out.mode == "RGB"
    assert close(out.getpixel((5, 5)), (0, 200, 0))


def test_greyscale_with_alpha_becomes_rgba() -> None:
    out = decode(process_image(encode(Image.new("LA", (8, 8), (90, 40)), "PNG"), **LIMITS).full)
    assert out.mode == "RGBA"
    assert close(out.getpixel((4, 4)), (90, 90, 90, 40))


def test_cmyk_jpeg_comes_out_rgb_with_the_right_colour() -> None:
    cyan_free_red = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    out = decode(process_image(encode(cyan_free_red, "JPEG"), **LIMITS).full)
    assert out.mode == "RGB"
    assert close(out.getpixel((8, 8)), (255, 0, 0), 20)


def test_sixteen_bit_grey_png_keeps_its_grey_instead_of_turning_white() -> None:
    mid_grey = raw_png(4, 4, 16, 0, struct.pack(">H", 30000) * 4)  # 30000/65535 = 46%
    assert decode(mid_grey).mode.startswith("I;16")
    out = decode(process_image(mid_grey, **LIMITS).full).convert("RGB")
    assert close(out.getpixel((2, 2)), (117, 117, 117), 4)


def test_sixteen_bit_rgba_png_is_accepted_with_its_alpha() -> None:
    pixel = struct.pack(">HHHH", 65535, 0, 0, 32768)
    out = decode(process_image(raw_png(4, 4, 16, 6, pixel * 4), **LIMITS).full)
    assert out.mode == "RGBA"
    assert close(out.getpixel((2, 2)), (255, 0, 0, 128), 4)


def test_embedded_icc_profile_is_applied_not_just_dropped() -> None:
    upload = encode(
        Image.new("RGB", (8, 8), (255, 0, 0)), "PNG", icc_profile=swapped_primaries_icc()
    )
    out = decode(process_image(upload, **LIMITS).full)
    assert "icc_profile" not in out.info
    assert close(out.getpixel((4, 4)), (0, 255, 0), 40)


def test_a_broken_icc_profile_falls_back_to_the_plain_pixels() -> None:
    upload = encode(Image.new("RGB", (8, 8), (255, 0, 0)), "PNG", icc_profile=b"not a profile")
    out = decode(process_image(upload, **LIMITS).full)
    assert close(out.getpixel((4, 4)), (255, 0, 0))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_keep_their_first_frame(fmt: str) -> None:
    frames = [Image.new("RGBA", (30, 20), colour) for colour in ("red", "lime", "blue")]
    upload = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(decode(upload), "n_frames", 1) == 3
    out = decode(process_image(upload, **LIMITS).full)
    assert getattr(out, "n_frames", 1) == 1
    assert close(out.convert("RGB").getpixel((15, 10)), (255, 0, 0))


def test_multi_picture_jpeg_from_a_phone_is_accepted_as_jpeg() -> None:
    first, second = Image.new("RGB", (20, 10), "red"), Image.new("RGB", (20, 10), "blue")
    upload = encode(first, "MPO", save_all=True, append_images=[second])
    assert decode(upload).format == "MPO"
    out = decode(process_image(upload, **LIMITS).full)
    assert close(out.getpixel((10, 5)), (255, 0, 0), 20)


# --- sizes -------------------------------------------------------------------------------


def test_large_photo_is_scaled_to_max_side_and_thumbnail_to_thumb_side() -> None:
    result = process_image(encode(Image.new("RGB", (4000, 3000), "orange"), "JPEG"), **LIMITS)
    assert decode(result.full).size == (1280, 960)
    assert decode(result.thumbnail).size == (160, 120)
    assert len(result.thumbnail) < len(result.full)


def test_tall_photo_is_limited_on_its_longer_side() -> None:
    result = process_image(encode(Image.new("RGB", (300, 3000), "teal"), "PNG"), **LIMITS)
    assert decode(result.full).size == (128, 1280)
    assert max(decode(result.thumbnail).size) == 160


# --- refusals (P9.2) ---------------------------------------------------------------------


def test_gif_is_refused_as_unsupported_type() -> None:
    error = refused(encode(Image.new("RGB", (10, 10)), "GIF"))
    assert isinstance(error, UnsupportedMedia)
    assert error.code == "unsupported_image_type"
    assert "GIF" in error.message


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_are_refused_by_name(fmt: str) -> None:
    error = refused(encode(Image.new("RGB", (16, 16)), fmt))
    assert isinstance(error, UnsupportedMedia)
    assert error.code == "unsupported_image_type"


def test_heic_is_refused_as_unsupported_type() -> None:
    error = refused(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    assert error.code == "unsupported_image_type"


def test_text_is_not_an_image() -> None:
    error = refused(b"hello, this is not a photo at all\n" * 10)
    assert isinstance(error, UnsupportedMedia)
    assert error.code == "not_an_image"


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG")
    error = refused(data[: len(data) // 2])
    assert type(error) is InvalidInput
    assert error.code == "corrupt_image"


def test_jpeg_cut_inside_its_header_is_corrupt_not_unknown() -> None:
    error = refused(encode(Image.new("RGB", (10, 10)), "JPEG")[:40])
    assert error.code == "corrupt_image"


def test_truncated_png_is_corrupt() -> None:
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "PNG")
    assert refused(data[: len(data) // 2]).code == "corrupt_image"


def test_empty_upload_is_refused() -> None:
    assert refused(b"").code == "empty_upload"


def test_upload_over_max_bytes_is_payload_too_large() -> None:
    data = encode(Image.new("RGB", (100, 100), "red"), "PNG")
    error = refused(data, max_bytes=len(data) - 1)
    assert isinstance(error, PayloadTooLarge)
    assert error.code == "image_too_large"


def test_decompression_bomb_far_over_pillows_own_limit_is_refused_before_decoding() -> None:
    # 20000 x 20000 one-bit pixels compress to a few dozen KB but would need 1.2 GB as RGB.
    bomb = encode(Image.new("1", (20000, 20000)), "PNG", optimize=True)
    assert len(bomb) < 100_000
    error = refused(bomb)
    assert error.code == "image_too_many_pixels"


def test_image_over_the_configured_pixel_budget_is_refused() -> None:
    data = encode(Image.new("RGB", (200, 100)), "PNG")
    error = refused(data, max_pixels=200 * 100 - 1)
    assert error.code == "image_too_many_pixels"
    assert process_image(data, **{**LIMITS, "max_pixels": 200 * 100}).width == 200


def test_jpeg_declaring_huge_dimensions_is_refused_without_decoding() -> None:
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 60000, 60000)  # height, width in the frame header
    assert refused(bytes(data)).code == "image_too_many_pixels"
