"""What the public routes (the Ingress, or the Gateway API's HTTPRoute) send to the service: the
inference and health routes, the model page only when ``modelPage.public`` says so, and never
``/metrics`` or the API docs, which Prometheus and people reach in-cluster or by port-forward.

Each route's paths are matched against request paths the way Kubernetes and the Gateway API
define it (a prefix matches whole path elements), so the test checks what a client could reach,
not the spelling of the values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Manifests = list[dict[str, Any]]

PUBLIC = (
    "/v2/health/live",
    "/v2/health/ready",
    "/v2",
    "/v2/models/my-model",
    "/v2/models/my-model/infer",
    "/predict",
)
PAGE = ("/", "/page/page.js", "/page/page.css")
PRIVATE = (
    "/metrics",
    "/metrics/",
    "/docs",
    "/docs-assets/swagger-ui.css",
    "/openapi.json",
    "/predictions",
    "/v20",
)


def _prefix(prefix: str, path: str) -> bool:
    prefix = prefix.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def ingress_matches(manifests: Manifests) -> list[tuple[str, str]]:
    [ingress] = [doc for doc in manifests if doc["kind"] == "Ingress"]
    return [
        (path["pathType"], path["path"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


def route_matches(manifests: Manifests) -> list[tuple[str, str]]:
    [route] = [doc for doc in manifests if doc["kind"] == "HTTPRoute"]
    found = []
    for rule in route["spec"]["rules"]:
        # A rule without matches matches every request (Gateway API: PathPrefix /).
        for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
            path = match.get("path", {"type": "PathPrefix", "value": "/"})
            found.append((path["type"], path["value"]))
    return found


def routed(matches: list[tuple[str, str]], path: str) -> bool:
    for kind, value in matches:
        assert kind in {"Exact", "Prefix", "PathPrefix"}, f"a {kind} match cannot be checked here"
        if (kind == "Exact" and path == value) or (kind != "Exact" and _prefix(value, path)):
            return True
    return False


ROUTES = {
    "ingress": ({"ingress": {"enabled": True}}, ingress_matches),
    "httproute": ({"httpRoute": {"enabled": True}}, route_matches),
}


@pytest.mark.parametrize("kind", sorted(ROUTES))
def test_public_routes_carry_inference_and_health_only(
    render_with: Callable[[dict[str, Any]], Manifests], kind: str
) -> None:
    values, matches_of = ROUTES[kind]
    matches = matches_of(render_with(values))
    assert [path for path in PUBLIC if not routed(matches, path)] == []
    assert [path for path in PAGE + PRIVATE if routed(matches, path)] == []


@pytest.mark.parametrize("kind", sorted(ROUTES))
def test_model_page_is_public_only_when_asked(
    render_with: Callable[[dict[str, Any]], Manifests], kind: str
) -> None:
    values, matches_of = ROUTES[kind]
    matches = matches_of(render_with({**values, "modelPage": {"public": True}}))
    assert [path for path in PUBLIC + PAGE if not routed(matches, path)] == []
    assert [path for path in PRIVATE if routed(matches, path)] == []
    # A page the server does not serve is not routed either.
    hidden = matches_of(render_with({**values, "modelPage": {"enabled": False, "public": True}}))
    assert [path for path in PAGE if routed(hidden, path)] == []


def test_the_example_values_sets_publish_no_private_route(rendered: Callable[[str], Manifests]) -> None:
    for values_set, matches_of in (("full", ingress_matches), ("httproute", route_matches)):
        matches = matches_of(rendered(values_set))
        assert [path for path in PRIVATE if routed(matches, path)] == [], values_set
