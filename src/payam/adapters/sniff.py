"""What an upload is, told from its first bytes, never from its name (P9.2).

The signatures are the ``filetype`` library's (pure Python, no native libmagic, a fixed table
of magic numbers read from the first 8 KB). Its answer is sorted into the four kinds payam
knows; anything it cannot name is an ``application/octet-stream`` file. The declared type of a
multipart part (which browsers take from the file name) is only compared with the finding:
it never decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import filetype

HEAD_BYTES = 8192
OCTET_STREAM = "application/octet-stream"

Kind = Literal["image", "video", "audio", "file"]


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: Kind
    mime: str
    suffix: str  # for the blob's name; letters and digits only
    known: bool  # False: nothing recognised the bytes


UNKNOWN = Sniffed("file", OCTET_STREAM, "bin", known=False)


def sniff(head: bytes) -> Sniffed:
    """The kind and type of content starting with ``head`` (its first ``HEAD_BYTES``)."""
    found = filetype.guess(head) if head else None
    if found is None:
        return UNKNOWN
    mime = str(found.mime).lower()
    suffix = str(found.extension).lower()
    if not (suffix.isascii() and suffix.isalnum() and len(suffix) <= 8):
        suffix = "bin"
    return Sniffed(family(mime) or "file", mime, suffix, known=True)


def family(mime: str) -> Kind | None:
    """The kind a type names: image/*, video/*, audio/*, or another specific type ("file");
    None for a type that claims nothing (absent, octet-stream, unparseable)."""
    main, slash, sub = mime.partition(";")[0].strip().lower().partition("/")
    if not slash or not main or not sub or f"{main}/{sub}" == OCTET_STREAM:
        return None
    if main in {"image", "video", "audio"}:
        return main  # type: ignore[return-value]
    return "file"


def contradicts(declared: str | None, found: Sniffed) -> bool:
    """Whether the declared type names another kind than the content is: a part sent as
    image/png that holds a PDF, as video/mp4 that holds text. Within a kind it does not (a
    PNG sent as image/jpeg is still an image; audio in an MP4 box is often sent as video/mp4),
    and a type that claims nothing never contradicts."""
    claimed = family(declared or "")
    if claimed is None:
        return False
    media = {"video", "audio"}
    if claimed in media:
        return found.kind not in media
    if claimed == "file":
        return found.known and found.kind != "file"
    return found.kind != claimed


def settle(declared: str | None, found: Sniffed) -> Sniffed:
    """The finding, with one use of the declared type: WebM, MP4 and Ogg hold sound or
    pictures, and their first bytes do not say which. A voice note recorded as audio/webm is
    kind audio (``audio/webm``), not video, when it was declared so. Only the kind and the
    top-level type change: the subtype is still the one found in the bytes."""
    claimed = family(declared or "")
    media = {"video", "audio"}
    if found.kind not in media or claimed not in media or claimed == found.kind:
        return found
    subtype = found.mime.partition("/")[2]
    return Sniffed(claimed, f"{claimed}/{subtype}", found.suffix, known=True)
