"""The web client's door (api/web.py): served at / from the package, with the security headers
on every answer, the right caching, gzip, and the API's own answers left as they were."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from payam.api import web
from tests.conftest import Harness

# What is served does not depend on the database.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

INDEX = "<!doctype html><html><head><script type=module src=/assets/app-1a2b3c.js></script>"
APP_JS = "console.log('payam');\n" * 100


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "web_dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX + " " * 600)
    (root / "assets" / "app-1a2b3c.js").write_text(APP_JS)
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    monkeypatch.setattr(web, "WEB_DIST", root)
    return root


@pytest.fixture
async def served(dist: Path, make_harness: Any) -> Harness:
    started: Harness = await make_harness()
    return started


def assert_locked_down(headers: Any) -> None:
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser asks for


async def test_the_client_is_served_at_the_root_with_a_strict_policy(served: Harness) -> None:
    response = await served.http.get("/", headers=PAGE)
    assert response.status_code == 200
    assert response.text.startswith(INDEX)
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert_locked_down(response.headers)


async def test_client_routes_answer_the_page_so_a_reload_works(served: Harness) -> None:
    for path in ("/chats/12", "/contacts", "/settings?lang=fa"):
        response = await served.http.get(path, headers=PAGE)
        assert response.status_code == 200, path
        assert response.text.startswith(INDEX)
        assert_locked_down(response.headers)


async def test_hashed_assets_are_cached_for_a_year_and_gzipped(served: Harness) -> None:
    response = await served.http.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == APP_JS  # httpx undoes the gzip
    assert int(response.headers["content-length"]) < len(APP_JS) / 5
    assert "javascript" in response.headers["content-type"]
    assert_locked_down(response.headers)


async def test_without_accept_encoding_the_bytes_are_plain(served: Harness) -> None:
    response = await served.http.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": ""})
    assert "content-encoding" not in response.headers
    assert response.content == APP_JS.encode()
    assert gzip.compress(response.content) != response.content


async def test_a_missing_asset_is_a_404_not_the_page(served: Harness) -> None:
    response = await served.http.get("/assets/app-old.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_no_file_outside_the_client_is_served(served: Harness) -> None:
    for path in ("/../secret.txt", "/..%2fsecret.txt", "/assets/..%2f..%2fsecret.txt"):
        response = await served.http.get(path, headers=PAGE)
        assert "not for the web" not in response.text, path


async def test_the_api_keeps_its_json_404_and_405(served: Harness) -> None:
    response = await served.http.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await served.http.post("/not-a-route", headers=PAGE)).status_code == 404
    # A program that asks for JSON (not a page) gets the API's 404 anywhere.
    response = await served.http.get("/chats/12", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await served.http.put("/health")).status_code == 405
    assert (await served.http.get("/openapi.json")).json()["info"]["title"] == "payam"


async def test_a_build_without_the_client_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_harness: Any
) -> None:
    monkeypatch.setattr(web, "WEB_DIST", tmp_path / "nothing-here")
    harness = await make_harness()
    response = await harness.http.get("/", headers=PAGE)
    assert response.status_code == 503
    assert "not built" in response.text
    assert_locked_down(response.headers)


async def test_paths_the_file_system_cannot_hold_answer_404_not_500(served: Harness) -> None:
    """A name longer than the file system allows (ENAMETOOLONG) or with a NUL byte is no file."""
    for path in ("/" + "a" * 5000 + ".js", "/assets/" + "b" * 300, "/x%00.js"):
        response = await served.http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json")
