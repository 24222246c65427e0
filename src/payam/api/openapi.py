"""The OpenAPI document and the page that shows it.

- Limits that are settings (``message_max_length``, ``name_max_length``, ...) are stated in the
  document with the operator's value, not the default: a field declared with
  :func:`setting_limit` carries ``x-payam-setting`` and its ``maxLength`` / ``maxItems`` is
  rewritten from the settings when the document is built. Fixed limits come straight from
  ``domain/limits.py``. Either way the schema is never looser than the server.
- ``/docs`` is Swagger UI served from the installed ``swagger_ui_bundle`` package: nothing is
  loaded from another host, so the page works offline and tells no third party who reads the
  API (no CDN, and Swagger UI's online validator is off). ReDoc, which only exists on a CDN,
  is not served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic.config import JsonDict

from payam.config import Settings

SETTING = "x-payam-setting"
DOCS_ASSETS = "/docs/assets"


def setting_limit(setting: str, default: int, keyword: str = "maxLength") -> JsonDict:
    """``json_schema_extra`` of a field whose limit is the setting ``setting``: the document
    states ``default`` until the app rewrites it with the configured value."""
    return {keyword: default, SETTING: setting}


def _apply_settings(node: Any, settings: Settings) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get(SETTING)
            if isinstance(name, str):
                for keyword in ("maxLength", "maxItems"):
                    if keyword in item:
                        item[keyword] = int(getattr(settings, name))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the document with the configured limits, and the offline docs page."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _apply_settings(build(), settings)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]

    app.mount(
        DOCS_ASSETS,
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
