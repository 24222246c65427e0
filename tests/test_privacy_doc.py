"""docs/privacy.md carries the data map exactly as the schema declares it (P7.1), and names
every promise of PROMISES.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from payam.storage.data_map import markdown

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "privacy.md"
PROMISES = ROOT.parent / "shared" / "PROMISES.md"


def test_the_data_map_in_privacy_md_is_the_one_the_code_declares() -> None:
    text = DOC.read_text()
    found = re.search(r"<!-- data-map:start -->\n(.*?)\n<!-- data-map:end -->", text, re.DOTALL)
    assert found, "docs/privacy.md lost its data-map markers"
    assert found.group(1).strip() == markdown().strip(), (
        "docs/privacy.md is out of date: regenerate it with `payam data-map --markdown`"
    )


def test_every_promise_is_accounted_for_in_privacy_md() -> None:
    if not PROMISES.is_file():
        pytest.skip("shared/PROMISES.md is not beside the repository")
    promised = set(re.findall(r"^- (P\d+\.\d+)\b", PROMISES.read_text(), flags=re.MULTILINE))
    text = DOC.read_text()
    missing = sorted(p for p in promised if not re.search(rf"\b{re.escape(p)}\b", text))
    assert not missing, f"docs/privacy.md does not say how {missing} are kept (or not yet)"
