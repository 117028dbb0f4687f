"""The default project's model page and API docs, in headless Chromium against its real service.

The page is filled from the model's own example (as the service put it in the page, never
written here), submitted, and must show the model's own answers; a bad value must show the
service's 422 message beside its field; ``/docs`` must render every operation with every
request to another host refused. (tests/swap/test_page_in_browser.py: a pandas-table model.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def service(local_service: Any, default_project: Path) -> Any:
    return local_service(default_project)


def test_form_filled_from_the_example_shows_the_models_answer(offline_page: Any, service: Any) -> None:
    data = offline_page.open_model_page(service.url)
    signature = data["metadata"]["parameters"]
    page = offline_page.page
    assert page.inner_text("#model-name") == service.model_name
    assert page.locator(".field").count() == len(signature["columns"])
    assert page.locator("#metrics th").count() == len(data["metrics"]) > 0
    for index, want in enumerate(signature["example"]["predictions"]):
        page.click(f"#example-{index}")
        offline_page.submit()
        assert offline_page.labels() == [want]
        if signature["task"] == "classification":
            assert page.locator(".bar").count() == len(signature["classes"])
    offline_page.screenshot("model-page-answer")
    assert offline_page.refused == []
    assert offline_page.errors == []


def test_csv_of_the_examples_answers_every_row(offline_page: Any, service: Any) -> None:
    data = offline_page.open_model_page(service.url)
    offline_page.page.click("#examples-csv")
    offline_page.submit()
    assert offline_page.labels() == data["metadata"]["parameters"]["example"]["predictions"]
    assert offline_page.refused == []


def test_bad_value_shows_the_services_message_beside_its_field(offline_page: Any, service: Any) -> None:
    offline_page.open_model_page(service.url)
    page = offline_page.page
    page.fill("#value-0", "not a number")
    offline_page.submit()
    status, answer = offline_page.sent_again(f"{service.url}/v2/models/{service.model_name}/infer")
    assert 400 <= status < 500
    assert page.inner_text("#error-0") == answer["error"]
    assert "invalid" in (page.get_attribute("#field-0", "class") or "")
    offline_page.screenshot("model-page-bad-value")
    assert offline_page.errors == []


def test_docs_render_every_operation_with_the_network_refused(offline_page: Any, service: Any) -> None:
    page = offline_page.page
    schema = page.request.get(f"{service.url}/openapi.json").json()
    operations = sum(len(HTTP_METHODS & set(item)) for item in schema["paths"].values())
    page.goto(f"{service.url}/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations
    offline_page.screenshot("docs")
    assert offline_page.refused == []
    assert offline_page.errors == []
