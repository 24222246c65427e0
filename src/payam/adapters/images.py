"""Image intake with Pillow (P3.3, P9.2): decide the type from the bytes, refuse bombs and fakes,
re-encode (which drops EXIF, GPS, XMP, ICC and every other metadata block) and make a thumbnail.

What comes in, and what goes out:

- JPEG (including the multi-picture "MPO" JPEGs many phones write), PNG and WebP are accepted,
  told apart by their bytes, never by file name or declared type. Anything else answers 415.
- Only Pillow's JPEG, PNG and WebP parsers ever see the bytes: no other decoder is reachable.
- The pixel count is checked from the header before anything is decoded (decompression bombs).
- Animated PNG and WebP, and MPO, keep their first frame: a profile photo is a still image.
- The EXIF orientation is applied to the pixels, then dropped with the rest of the metadata.
- An embedded ICC profile (Display P3 from phones, CMYK from print workflows) is applied, so
  colours survive its removal; the output is always 8-bit sRGB, RGBA where the input had
  transparency (alpha channel, or a transparent palette or key colour), RGB otherwise.
- 16-bit PNGs are scaled to 8 bits (greyscale would otherwise clip to white). A 16-bit grey
  PNG's single transparent key colour is not kept.
- Both outputs are WebP, the full image at most ``max_side`` and the thumbnail at most
  ``thumb_side`` pixels on its longer side, aspect ratio kept.

Bounded memory (issue 9 #13). ``read_header`` reads only the header: the type, the declared
size, and the size decoding will really produce (a JPEG is decoded at 1/2, 1/4 or 1/8 scale
when it is far larger than what is kept; PNG and WebP are decoded whole). An image is refused
(422 ``image_too_many_pixels``) when either is over its limit, before a single pixel is
decoded: a 154 KB all-zero 6300x6300 PNG would cost about 400 MB, and is refused for the cost.
``process_image`` runs the same checks and then decodes; after it, ``release_memory`` hands
the freed pixel buffers back to the system (glibc keeps them in its arenas otherwise).

``process_image`` is CPU-bound, and Pillow releases the GIL while it decodes and resizes:
callers run it off the event loop, a bounded number at a time (``services/files.py``). Pillow's
warnings are silenced for the duration through the process-wide filter, entered and left under
a lock shared by every concurrent call.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import math
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageCms

from payam.domain.errors import InvalidInput, PayamError, PayloadTooLarge, UnsupportedMedia

# Pillow plugin ids; the JPEG plugin also opens MPO files.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")

# Types we can name when refusing them (sniffed by magic bytes, never decoded).
_ACCEPTED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_REFUSED_MAGIC = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"\x00\x00\x01\x00": "ICO",
    b"8BPS": "PSD",
    b"\xff\x0a": "JPEG XL",
    b"\x00\x00\x00\x0cJXL ": "JPEG XL",
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}

# EXIF orientation -> the transposition that makes the pixels upright (as ImageOps does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT_GREY = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_WORKING_MODES = {"RGB", "RGBA", "L", "LA", "CMYK"}
# (mode, has a transparent colour or None for either) -> the mode to work in, when it differs.
_WORKING_MODE: dict[tuple[str, bool | None], str] = {
    ("P", False): "RGB",
    ("P", True): "RGBA",
    ("1", False): "RGB",
    ("1", True): "RGBA",
    ("RGB", True): "RGBA",
    ("L", True): "LA",
    ("PA", None): "RGBA",
    ("RGBa", None): "RGBA",
    ("La", None): "RGBA",
}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

MIME = "image/webp"
SUFFIX = "webp"


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    full: bytes
    thumbnail: bytes
    width: int
    height: int
    mime: str = MIME
    suffix: str = SUFFIX


@dataclass(frozen=True, slots=True)
class ImageHeader:
    format: str
    width: int
    height: int
    decode_pixels: int  # what decoding will produce (after a JPEG's reduced decoding)


def read_header(
    data: bytes, *, max_bytes: int, max_pixels: int, max_decode_pixels: int, max_side: int
) -> ImageHeader:
    """The checks that need no decoding (size, type, declared and decoded pixel counts); a
    ``PayamError`` for anything refused."""
    _check_bytes(data, max_bytes)
    with _quiet_pillow():
        image = _opened(data, max_pixels, max_decode_pixels, max_side)
        with image:
            return ImageHeader(image.format or "", *image.size, image.width * image.height)


def process_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    max_side: int,
    thumb_side: int,
    max_decode_pixels: int | None = None,
) -> ProcessedImage:
    """Validate and re-encode an uploaded photo; raise a ``PayamError`` for anything refused."""
    _check_bytes(data, max_bytes)
    decode_limit = max_pixels if max_decode_pixels is None else max_decode_pixels
    with _quiet_pillow():
        image = _open(data, max_pixels, decode_limit, max_side)
        alpha = _has_alpha(image)
        orientation = _orientation(image)
        work = _eight_bit(image)
        work.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        if orientation in _UPRIGHT:
            work = _keep_info(work.transpose(_UPRIGHT[orientation]), work)
        full = _to_srgb(work, alpha)
        thumb = full.copy()
        thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
        return ProcessedImage(
            full=_encode(full, quality=85),
            thumbnail=_encode(thumb, quality=80),
            width=full.width,
            height=full.height,
        )


def _check_bytes(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The image is larger than {max_bytes} bytes.", code="image_too_large"
        )
    if not data:
        raise InvalidInput("The upload is empty.", code="empty_upload")


_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_saved: contextlib.AbstractContextManager[object] | None = None


@contextlib.contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Pillow warns about large images (we enforce our own, lower, limits) and about damaged
    EXIF blocks (which are dropped anyway); neither should reach the log as noise. The filter
    is process-wide: the first of overlapping calls silences it, the last one restores it."""
    global _quiet_users, _quiet_saved  # noqa: PLW0603 (one filter for the whole process)
    with _quiet_lock:
        if _quiet_users == 0:
            _quiet_saved = warnings.catch_warnings()
            _quiet_saved.__enter__()
            warnings.simplefilter("ignore")
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0 and _quiet_saved is not None:
                _quiet_saved.__exit__(None, None, None)
                _quiet_saved = None


def _opened(data: bytes, max_pixels: int, max_decode_pixels: int, max_side: int) -> Image.Image:
    """The image with its header read and its decoding size set, nothing decoded yet."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(None, max_pixels) from exc
    except Exception as exc:
        # UnidentifiedImageError when no accepted parser claims the bytes; a parser that
        # claimed them may also fail on a damaged header (OSError, ValueError, ...).
        raise _unidentified(data) from exc
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(image.size, max_pixels)
    if image.format in {"JPEG", "MPO"}:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than what
        # we keep: less memory and time, same result after the resize below. The image's
        # size becomes the size decoding will produce.
        ratio = min(1.0, max_side / width, max_side / height)
        image.draft(None, (math.ceil(width * ratio), math.ceil(height * ratio)))
    if image.width * image.height > max_decode_pixels:
        raise InvalidInput(
            f"The image has {width}x{height} pixels; a PNG or WebP is decoded whole, and at "
            f"most {max_decode_pixels} decoded pixels are accepted.",
            code="image_too_many_pixels",
        )
    return image


def _open(data: bytes, max_pixels: int, max_decode_pixels: int, max_side: int) -> Image.Image:
    """The decoded first frame, after the type and the declared size were checked."""
    image = _opened(data, max_pixels, max_decode_pixels, max_side)
    try:
        image.load()
    except Exception as exc:
        # Decoders of untrusted bytes fail in many ways (OSError for truncation, SyntaxError,
        # ValueError, struct.error, ...): every one of them means the file is damaged.
        raise InvalidInput("The image is damaged or truncated.", code="corrupt_image") from exc
    return image


def _load_malloc_trim() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


_malloc_trim = _load_malloc_trim()


def release_memory() -> None:
    """Give freed memory back to the system. A decode's buffers are tens of megabytes, and
    glibc keeps freed ones in its (per-thread) arenas: without this, a server that decoded a
    few large images keeps their peak for good."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> InvalidInput:
    found = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
    return InvalidInput(
        f"The image has {found}; at most {max_pixels} pixels are accepted.",
        code="image_too_many_pixels",
    )


def _unidentified(data: bytes) -> PayamError:
    head = data[:16]
    if head.startswith(_ACCEPTED_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return InvalidInput("The image is damaged or truncated.", code="corrupt_image")
    name = next((n for magic, n in _REFUSED_MAGIC.items() if head.startswith(magic)), None)
    if name is None and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        name = "HEIF/AVIF"
    if name is not None:
        return UnsupportedMedia(
            f"Images must be JPEG, PNG or WebP, not {name}.", code="unsupported_image_type"
        )
    return UnsupportedMedia("The upload is not a JPEG, PNG or WebP image.", code="not_an_image")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(ExifTags.Base.Orientation)
    except Exception:  # a damaged EXIF block: treat the photo as upright
        return None
    return value if isinstance(value, int) else None


def _eight_bit(image: Image.Image) -> Image.Image:
    """Pixels in a mode that resizes smoothly and that ImageCms understands, ICC profile kept."""
    if image.mode in _SIXTEEN_BIT_GREY:
        # Scale 0..65535 to 0..255: convert("L") alone would clip every value above 255.
        scaled = image.convert("I").point(lambda value: value / 256).convert("L")
        return _keep_info(scaled, image)
    transparent = "transparency" in image.info
    target = _WORKING_MODE.get((image.mode, transparent)) or _WORKING_MODE.get((image.mode, None))
    if target is None:
        if image.mode in _WORKING_MODES:
            return image
        target = "RGB"
    return _keep_info(image.convert(target), image)


def _keep_info(derived: Image.Image, source: Image.Image) -> Image.Image:
    # The ICC profile must reach _to_srgb; everything else in info is dropped there anyway.
    if "icc_profile" in source.info:
        derived.info["icc_profile"] = source.info["icc_profile"]
    derived.info.pop("transparency", None)
    return derived


def _to_srgb(image: Image.Image, alpha: bool) -> Image.Image:
    """8-bit sRGB, RGB or RGBA: an embedded ICC profile is applied rather than just dropped."""
    target = "RGBA" if alpha else "RGB"
    profile = image.info.get("icc_profile")
    if profile and (image.mode == target or (image.mode in {"CMYK", "L"} and not alpha)):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=target)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a damaged profile, or one for another colour space: plain conversion
        else:
            if converted is not None:
                return converted
    return image.convert(target)


def _encode(image: Image.Image, *, quality: int) -> bytes:
    # A fresh encode writes only pixels: Pillow's WebP writer takes exif, icc_profile and xmp
    # from save() arguments alone, and we pass none. Clearing info guards against a writer
    # that would fall back to it.
    image.info = {}
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=4)
    return out.getvalue()
