"""modelPage.enabled and serving.publicExample reach the server (MODEL_PAGE, PUBLIC_EXAMPLE), typed."""

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


def public_example_env(manifests: Manifests, only: Any) -> str:
    [container] = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    [value] = [item["value"] for item in container["env"] if item["name"] == "PUBLIC_EXAMPLE"]
    return str(value)


def test_held_out_example_is_private_unless_serving_public_example_says(
    rendered: Callable[[str], Manifests], render_with: Callable[[dict[str, Any]], Manifests], only: Any
) -> None:
    assert public_example_env(rendered("default"), only) == "false"
    assert public_example_env(render_with({"serving": {"publicExample": True}}), only) == "true"


def test_schema_refuses_a_public_example_value_that_is_not_a_boolean(
    refusal: Callable[[dict[str, Any]], str],
) -> None:
    assert "publicExample" in refusal({"serving": {"publicExample": "yes"}})
