"""The chart's modelPage.enabled value reaches the server as MODEL_PAGE; the schema types it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Manifests = list[dict[str, Any]]


def model_page_env(manifests: Manifests, only: Any) -> str:
    [container] = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    [value] = [item["value"] for item in container["env"] if item["name"] == "MODEL_PAGE"]
    return str(value)


def test_model_page_is_on_by_default(rendered: Callable[[str], Manifests], only: Any) -> None:
    assert model_page_env(rendered("default"), only) == "true"


def test_model_page_value_turns_it_off(render_with: Callable[[dict[str, Any]], Manifests], only: Any) -> None:
    assert model_page_env(render_with({"modelPage": {"enabled": False}}), only) == "false"


def test_schema_refuses_a_model_page_value_that_is_not_a_boolean(
    refusal: Callable[[dict[str, Any]], str],
) -> None:
    assert "enabled" in refusal({"modelPage": {"enabled": "yes"}})
