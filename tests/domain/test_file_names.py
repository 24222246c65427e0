"""File names kept for downloads are safe to store and to send back (issue 9 #16)."""

from __future__ import annotations

import pytest

from payam.domain.file_names import MAX_BYTES, ascii_fallback, clean_file_name, with_suffix


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("notes.pdf", "notes.pdf"),
        ("گزارش سالانه.pdf", "گزارش سالانه.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\sara\\secret.docx", "secret.docx"),
        ('evil"; filename="x.exe', "evil; filename=x.exe"),
        ("line\r\nSet-Cookie: a=b.txt", "lineSet-Cookie: a=b.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # no right-to-left override
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("  .hidden  ", "hidden"),
        ("..", None),
        ("/", None),
        ("", None),
        (None, None),
        ("\u0065\u0301te.txt", "\u00e9te.txt"),  # NFC
    ],
)
def test_a_sent_name_is_kept_without_paths_controls_or_quotes(
    sent: str | None, kept: str | None
) -> None:
    assert clean_file_name(sent) == kept


def test_a_long_name_is_cut_in_its_stem_and_keeps_its_extension() -> None:
    name = clean_file_name("ب" * 300 + ".pdf")
    assert name is not None and name.endswith(".pdf")
    assert len(name.encode()) <= MAX_BYTES
    name.encode().decode()  # never a half character


def test_suffix_and_ascii_fallback() -> None:
    assert with_suffix("holiday.jpg", "webp") == "holiday.webp"
    assert with_suffix("README", "webp") == "README.webp"
    assert ascii_fallback("café menu.pdf", "7.pdf") == "cafe menu.pdf"
    assert ascii_fallback("گزارش.pdf", "7.pdf") == "7.pdf"
