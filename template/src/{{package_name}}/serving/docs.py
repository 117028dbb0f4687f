"""The API documentation page (``/docs``) that renders with no network.

Owned by the template: ``copier update`` may replace this file.

FastAPI's own pages load Swagger UI, ReDoc and a favicon from public CDNs, so on a cluster
without internet access (or behind a strict proxy) they stay blank. Here Swagger UI loads those
files from the ``fastapi-offline`` package, installed with the service: its ``static`` folder
carries the Swagger UI 5 bundle. Only that folder is used, through Starlette's package lookup;
this module builds the page itself with FastAPI's helper. ``/redoc`` is not served: ReDoc's
bundle fetches its logo from Redocly's CDN whatever it is told, and Swagger UI covers the need.

Every URL in the page is relative (``openapi.json``, ``docs-assets/...``), so it works behind
an ingress that serves the service under a path prefix.
"""

from __future__ import annotations

import html

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")
# Relative to /docs, which sits at the root like /openapi.json.
_ASSETS = ASSETS_PATH.lstrip("/")
_OPENAPI = "openapi.json"
# Swagger UI's defaults, with its validator badge off: the badge is an image fetched from the
# public validator.swagger.io for every page view.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets on ``app``, outside its OpenAPI schema.

    The app must be built with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off.
    """
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")
    # The title comes from MODEL_NAME and lands in the page's HTML: escaped, it stays text.
    title = html.escape(app.title)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=_OPENAPI,
            title=f"{title} - API docs",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
