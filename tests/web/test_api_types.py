"""The web client's API types are generated from the server's OpenAPI document; these fail when
the committed document or types drift from the code. Fix: ``scripts/web-api-types``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from payam.app import create_app
from payam.config import Settings

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
FIX = "run scripts/web-api-types and commit web/openapi.json and web/src/api/schema.d.ts"


def test_the_committed_openapi_document_is_the_servers(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), background_jobs=False)
    live = json.loads(json.dumps(app.openapi(), sort_keys=True))
    committed = json.loads((WEB / "openapi.json").read_text())
    assert committed == live, f"web/openapi.json drifted from the server: {FIX}"


def test_the_committed_types_are_generated_from_the_committed_document(tmp_path: Path) -> None:
    tool = WEB / "node_modules" / ".bin" / "openapi-typescript"
    if not tool.exists() or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must check the generated types: run npm ci in web/ first")
        pytest.skip("web/node_modules is not installed (npm ci in web/): types not checked")
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(tool), "openapi.json", "-o", str(out)], cwd=WEB, check=True, capture_output=True
    )
    committed = (WEB / "src" / "api" / "schema.d.ts").read_text()
    assert out.read_text() == committed, f"schema.d.ts drifted: {FIX}"
