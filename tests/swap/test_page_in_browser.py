"""The model page of a pandas-table model (a category and an integer column), in headless Chromium.

The pandas-table swap's service (shared with the conformance and independent-client tests)
takes one v2 tensor per column: the page must build that request from the metadata, offer the
category's values, answer the example rows as the model did, send a field left empty as a missing
value (the table has holes: issue 29), and put a refused value's message beside the column the
service names.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def table_service(swapped: Any, local_service: Any) -> Any:
    return local_service(swapped("lightgbm-mixed-table"))


def test_table_page_answers_the_examples_with_one_tensor_per_column(
    offline_page: Any, table_service: Any
) -> None:
    data = offline_page.open_model_page(table_service.url)
    signature = data["metadata"]["parameters"]
    page = offline_page.page
    category = next(i for i, column in enumerate(signature["columns"]) if column.get("categories"))
    options = page.locator(f"#value-{category}-choices option")
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
        str(value) for value in signature["columns"][category]["categories"]
    ]
    page.click("#examples-csv")
    offline_page.submit()
    assert offline_page.labels() == signature["example"]["predictions"]
    sent = [
        tensor["name"]
        for tensor in offline_page.page.evaluate(
            "JSON.parse(document.getElementById('request-json').textContent).inputs"
        )
    ]
    assert sent == [column["name"] for column in signature["columns"]]
    offline_page.screenshot("table-page-answer")
    assert offline_page.refused == []
    assert offline_page.errors == []


def test_table_page_sends_an_empty_field_as_a_missing_value(offline_page: Any, table_service: Any) -> None:
    offline_page.open_model_page(table_service.url)
    # The held-out rows and the model's own answers, as training wrote them (the page shows
    # synthetic rows unless PUBLIC_EXAMPLE is set).
    path = table_service.project / "artifacts" / "signature.json"
    example = json.loads(path.read_text(encoding="utf-8"))["example"]
    rows, want = example["instances"], example["predictions"]
    # The example row with the most holes, typed in by hand, its missing values left empty.
    index = max(range(len(rows)), key=lambda i: sum(value is None for value in rows[i]))
    assert None in rows[index]
    page = offline_page.page
    for column, value in enumerate(rows[index]):
        page.fill(f"#value-{column}", "" if value is None else str(value))
    offline_page.submit()
    assert page.locator(".error:not([hidden])").all_inner_texts() == []
    assert offline_page.labels() == [want[index]]
    sent = page.evaluate("JSON.parse(document.getElementById('request-json').textContent).inputs")
    assert [tensor["data"] for tensor in sent] == [[value] for value in rows[index]]
    offline_page.screenshot("table-page-empty-field")
    assert offline_page.errors == []


def test_table_page_puts_the_services_message_beside_the_named_column(
    offline_page: Any, table_service: Any
) -> None:
    data = offline_page.open_model_page(table_service.url)
    columns = data["metadata"]["parameters"]["columns"]
    integer = next(i for i, column in enumerate(columns) if column["kind"] == "integer")
    page = offline_page.page
    page.fill(f"#value-{integer}", "1.5")
    offline_page.submit()
    url = f"{table_service.url}/v2/models/{table_service.model_name}/infer"
    status, answer = offline_page.sent_again(url)
    assert status == 422
    assert columns[integer]["name"] in answer["error"]
    assert page.inner_text(f"#error-{integer}") == answer["error"]
    offline_page.screenshot("table-page-bad-value")
    assert offline_page.errors == []
