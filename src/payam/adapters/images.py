"""Image intake with Pillow (P3.3, P9.2): decide the type from the bytes, refuse bombs and fakes,
re-encode (which drops EXIF, GPS and every other metadata block) and make a thumbnail.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from payam.domain.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    full: bytes
    thumbnail: bytes
    width: int
    height: int
    mime: str = "image/webp"
    suffix: str = "webp"


def process_image(
    data: bytes, *, max_bytes: int, max_pixels: int, max_side: int, thumb_side: int
) -> ProcessedImage:
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The image is larger than {max_bytes} bytes.", code="image_too_large"
        )
    if not data:
        raise InvalidInput("The upload is empty.", code="empty_upload")
    with warnings.catch_warnings():
        # Pillow warns, then errors, on huge images; we check the size ourselves before decoding.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
            raise UnsupportedMedia(
                "The upload is not a JPEG, PNG or WebP image.", code="not_an_image"
            ) from exc
        if image.format not in ACCEPTED_FORMATS:
            raise UnsupportedMedia(
                f"Images must be JPEG, PNG or WebP, not {image.format}.",
                code="unsupported_image_type",
            )
        width, height = image.size
        if width * height > max_pixels or width <= 0 or height <= 0:
            raise InvalidInput(
                f"The image has {width}x{height} pixels; at most {max_pixels} are accepted.",
                code="image_too_many_pixels",
            )
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidInput("The image is damaged or truncated.", code="corrupt_image") from exc
    # Apply the orientation tag to the pixels before metadata is dropped.
    upright: Image.Image = ImageOps.exif_transpose(image)
    mode = (
        "RGBA" if upright.mode in {"RGBA", "LA", "PA"} or "transparency" in upright.info else "RGB"
    )
    pixels = upright.convert(mode)
    full = pixels.copy()
    full.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    thumb = pixels.copy()
    thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return ProcessedImage(
        full=_encode(full), thumbnail=_encode(thumb), width=full.width, height=full.height
    )


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # A fresh encode writes only pixels: no exif=, no icc_profile=, no xmp= is passed on.
    image.save(out, format="WEBP", quality=85, method=4)
    return out.getvalue()
