"""The name a sent file keeps (issue 9 #16): what the uploader called it, made safe to store
and to hand to another person's device in a ``Content-Disposition`` header.

``clean_file_name`` keeps the last path component only (no ``/`` or ``\\``: a name is never
a path), in Unicode NFC, without control or format characters (no NUL, newline or tab, no
bidirectional overrides that show ``gpj.exe`` as ``exe.jpg``), without quotes, without
leading dots or spaces (no hidden files, no ``..``), at most ``MAX_BYTES`` bytes of UTF-8
(the end of the stem goes first, the extension stays). Nothing usable left: None.

``ascii_fallback`` is the plain ``filename=`` form for old clients; the exact name travels in
``filename*`` (RFC 6266, RFC 5987), percent-encoded UTF-8.
"""

from __future__ import annotations

import unicodedata

MAX_BYTES = 255
_REMOVED = frozenset("\"'`/\\")
_ASCII_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+()[] ")


def _kept(char: str) -> bool:
    return char not in _REMOVED and unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Co"}


def clean_file_name(raw: str | None) -> str | None:
    """The name to store for an upload sent as ``raw``, or None."""
    if not raw:
        return None
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char if _kept(char) else "" for char in name)
    name = " ".join(name.split())  # any run of spaces (of any kind) is one space
    name = name.lstrip(". ").rstrip(" .")
    if not name:
        return None
    return _shortened(name)


def _shortened(name: str) -> str | None:
    if len(name.encode()) <= MAX_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = name, ""
    room = MAX_BYTES - len(suffix.encode()) - (1 if suffix else 0)
    cut = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    if not cut:
        return None
    return f"{cut}.{suffix}" if suffix else cut


def with_suffix(name: str, suffix: str) -> str:
    """``name`` with its extension replaced (a re-encoded image is served as what it is)."""
    stem, dot, _ = name.rpartition(".")
    return f"{stem if dot and stem else name}.{suffix}"


def ascii_fallback(name: str, default: str) -> str:
    """An ASCII approximation of ``name`` for ``filename=``; ``default`` when nothing is left."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(
        c if c in _ASCII_SAFE else "_" for c in decomposed if not unicodedata.combining(c)
    )
    stem = plain.rpartition(".")[0] or plain
    return plain if stem.strip("_ .") else default
