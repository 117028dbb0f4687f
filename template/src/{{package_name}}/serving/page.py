"""The model page at ``/``: the model's card and a form that calls the service from the browser.

Owned by the template: ``copier update`` may replace this file and the ``page/`` folder.

The page is plain HTML, CSS and JavaScript in ``page/`` beside this module, shipped in the
package (no CDN, no build step) and read once, at start-up: nothing is written, so it works on
a read-only root filesystem. ``GET /`` answers ``page/index.html`` with the served model's v2
metadata (its signature: columns, kinds, classes, example rows, synthetic unless
``PUBLIC_EXAMPLE``) and the training metrics (``metrics.json`` beside the artifact, when there
is one) in a JSON block; ``page.js`` builds the form from that and calls the v2 infer route by
a relative URL, so it works behind an ingress path prefix. Nothing in the page names a row or a
column: it is the model's.

The routes are left out of the OpenAPI schema on purpose: they are for people, not clients.
``MODEL_PAGE=false`` (chart value ``modelPage.enabled``) turns them off; ``/`` is then a 404.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import __version__
from .protocol import ModelMetadata
from .settings import Settings

logger = logging.getLogger(__name__)

PAGE_FOLDER = Path(__file__).with_name("page")
METRICS_FILE = "metrics.json"  # what training writes beside model.joblib
DATA_MARKER = "__MODEL_DATA__"  # where index.html takes the model's JSON
ASSET_TYPES = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}
# The page loads nothing but its own files and calls nothing but this service.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def training_metrics(model_path: Path) -> dict[str, Any]:
    """The scalar entries of ``metrics.json`` beside the artifact; empty when there is none.

    An artifact imported without its metrics, or a file that is not a JSON object, gives an
    empty card rather than a broken page.
    """
    path = model_path.parent / METRICS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None}


def _script_json(data: Any) -> str:
    # Inside <script>, "</script>" would end the block: escape the characters HTML reads there.
    text = json.dumps(data, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def router(settings: Settings) -> APIRouter:
    """The page's routes: ``GET /`` and its two assets, read from the package now.

    Args:
        settings: The service settings (where the artifact, and so ``metrics.json``, lives).

    Returns:
        A router to include in the app.
    """
    html = (PAGE_FOLDER / "index.html").read_text(encoding="utf-8")
    assets = {name: (PAGE_FOLDER / name).read_bytes() for name in ASSET_TYPES}
    metrics = training_metrics(settings.model_path)
    page = APIRouter(include_in_schema=False)

    @page.get("/", response_class=HTMLResponse)
    async def model_page(request: Request) -> Response:
        metadata: ModelMetadata | None = getattr(request.app.state, "model_metadata", None)
        if request.app.state.model is None or metadata is None:
            return JSONResponse({"error": "model is not loaded yet: retry when /v2/health/ready is 200"}, 503)
        data = {
            "metadata": metadata.model_dump(mode="json"),
            "metrics": metrics,
            "service_version": __version__,
        }
        body = html.replace(DATA_MARKER, _script_json(data), 1)
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    @page.get("/page/{name}")
    async def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(status_code=404, detail=f"no page asset {name!r}")
        return Response(assets[name], media_type=ASSET_TYPES[name], headers=SECURITY_HEADERS)

    return page
