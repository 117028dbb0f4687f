{% set package_name = cookiecutter.package_name %}"""The model page at / and the offline API docs: what they show, what they load, the setting.

Owned by the template. The page is checked against the trained model's signature and metrics,
so these tests pass for whatever model ``train.py`` produces. (A real browser drives the page
in the template repository's own tests.)
"""

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from {{ package_name }}.serving.artifact import Model
from {{ package_name }}.serving.page import ASSET_TYPES, training_metrics
from {{ package_name }}.serving.service import create_app
from {{ package_name }}.serving.settings import ConfigError, Settings
from {{ package_name }}.serving.signature import Signature

EXTERNAL = re.compile(r"https?://", re.IGNORECASE)


class _Links(HTMLParser):
    """The src and href attributes of a page, and the text of its JSON script block."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.data: list[str] = []
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_data = tag == "script" and ("type", "application/json") in attrs

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data.append(data)


def parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def page(client: TestClient) -> _Links:
    response = client.get("/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return parse(response.text)


@pytest.fixture(scope="module")
def page_data(page: _Links) -> dict[str, Any]:
    [block] = page.data
    return json.loads(block)


def test_page_shows_the_served_model_and_its_signature(
    page_data: dict[str, Any], settings: Settings, signature: Signature
) -> None:
    metadata = page_data["metadata"]
    assert metadata["name"] == settings.model_name
    shown = metadata["parameters"]
    assert [column["name"] for column in shown["columns"]] == list(signature.names)
    assert [column["kind"] for column in shown["columns"]] == [c.kind for c in signature.columns]
    assert shown["task"] == signature.task
    assert shown["example"]["instances"] == [list(row) for row in signature.example_rows]
    assert shown["example"]["predictions"] == list(signature.example_predictions)


def test_page_shows_the_training_metrics(page_data: dict[str, Any], artifacts: Path) -> None:
    written = json.loads((artifacts / "metrics.json").read_text(encoding="utf-8"))
    assert page_data["metrics"]
    assert page_data["metrics"] == {k: v for k, v in written.items() if not isinstance(v, list | dict)}


def test_an_artifact_without_metrics_gives_an_empty_card(tmp_path: Path) -> None:
    assert training_metrics(tmp_path / "model.joblib") == {}
    (tmp_path / "metrics.json").write_text("[1, 2]", encoding="utf-8")
    assert training_metrics(tmp_path / "model.joblib") == {}


def test_page_assets_are_served_from_relative_urls(client: TestClient, page: _Links) -> None:
    local = [link for link in page.links if not link.startswith("#")]
    assert {f"page/{name}" for name in ASSET_TYPES} <= set(local)
    for link in local:
        assert not link.startswith("/"), f"{link}: absolute paths break behind an ingress path prefix"
        response = client.get(urljoin("/", link))
        assert response.status_code == 200, link
    for name, media_type in ASSET_TYPES.items():
        response = client.get(f"/page/{name}")
        assert response.headers["content-type"] == media_type
        assert response.content


def test_unknown_page_asset_is_json_404(client: TestClient) -> None:
    response = client.get("/page/index.html")
    assert response.status_code == 404
    assert "index.html" in response.json()["error"]


def test_page_refers_to_no_external_url(client: TestClient) -> None:
    for path in ("/", *(f"/page/{name}" for name in ASSET_TYPES)):
        text = client.get(path).text
        assert not EXTERNAL.search(text), f"{path} names {EXTERNAL.search(text)}"
    policy = client.get("/").headers["content-security-policy"]
    assert "connect-src 'self'" in policy
    assert "script-src 'self'" in policy


def test_docs_load_only_local_assets(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert not EXTERNAL.search(response.text), EXTERNAL.search(response.text)
    links = parse(response.text).links
    assert any(link.endswith(".js") for link in links)
    assert any(link.endswith(".css") for link in links)
    for link in links:
        asset = client.get(urljoin("/docs", link))
        assert asset.status_code == 200, link
        assert len(asset.content) > 0, link


def test_page_and_docs_are_left_out_of_the_schema(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert not paths & {"/", "/page/{name}", "/docs"}


def test_page_setting_off_makes_the_page_404(settings: Settings, model: Model) -> None:
    with TestClient(create_app(replace(settings, model_page=False), model=model)) as off:
        assert off.get("/").status_code == 404
        assert off.get("/").json() == {"error": "Not Found"}
        assert off.get("/page/page.js").status_code == 404
        assert off.get("/docs").status_code == 200  # the API docs stay


def test_page_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).model_page is True
    assert Settings.from_env({"MODEL_PAGE": "false"}).model_page is False
    with pytest.raises(ConfigError, match="MODEL_PAGE"):
        Settings.from_env({"MODEL_PAGE": "sometimes"})
