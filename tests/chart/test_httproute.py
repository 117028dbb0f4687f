"""The Gateway API route: ``httpRoute`` renders an HTTPRoute valid against the bundled CRD, and
the values schema refuses it beside an Ingress.

Lint (Helm 3 and 4, ``--strict``), Kubernetes and CRD validation and checkov run on
``ci/httproute-values.yaml`` with every other values set (``test_lint``, ``test_manifests``,
``test_security``); this module checks what the route itself must say.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.chart.bad_values import schema_error_lines
from generator.chart.crds import gateway_crds, gateway_schemas
from generator.chart.helm import Chart, Helm
from generator.chart.manifests import ManifestChecker

Manifests = list[dict[str, Any]]
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")


def test_the_bundled_crd_is_the_v1_httproute_of_a_gateway_api_release() -> None:
    [crd] = gateway_crds()
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
    assert set(gateway_schemas()) == {ROUTE}


def test_the_route_sends_every_rule_to_the_service(
    rendered: Callable[[str], Manifests], only: Callable[..., dict[str, Any]]
) -> None:
    manifests = rendered("httproute")
    route, service = only(manifests, "HTTPRoute"), only(manifests, "Service")
    assert route["apiVersion"] == ROUTE[0]
    assert [ref["sectionName"] for ref in route["spec"]["parentRefs"]] == ["https", "http"]
    assert route["spec"]["hostnames"] == ["model.example.com"]
    backend = {"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}
    assert [rule["backendRefs"] for rule in route["spec"]["rules"]] == [[backend], [backend]]
    assert route["spec"]["rules"][0]["timeouts"] == {"request": "30s"}
    assert "Ingress" not in {doc["kind"] for doc in manifests}


def test_no_route_unless_enabled(rendered: Callable[[str], Manifests]) -> None:
    for values_set in ("default", "full"):
        assert "HTTPRoute" not in {doc["kind"] for doc in rendered(values_set)}, values_set


def test_the_crd_schema_refuses_a_field_gateway_api_does_not_know(
    checker: ManifestChecker, rendered: Callable[[str], Manifests], only: Callable[..., dict[str, Any]]
) -> None:
    # The checker `dsdeploy check` uses: without the bundled CRD it would report "no schema".
    route = only(rendered("httproute"), "HTTPRoute")
    assert checker.schemas.validate(route) == []
    typo = copy.deepcopy(route)
    typo["spec"]["rules"][0]["matchs"] = typo["spec"]["rules"][0].pop("matches")
    bad_enum = copy.deepcopy(route)
    bad_enum["spec"]["rules"][1]["matches"][0]["path"]["type"] = "Glob"
    assert "matchs" in checker.schemas.validate(typo)[0].message
    assert "Glob" in checker.schemas.validate(bad_enum)[0].message


def test_schema_refuses_an_ingress_and_a_route_together(
    checker: ManifestChecker, default_chart: Chart, helm: Helm, tmp_path: Path
) -> None:
    values = tmp_path / "both.yaml"
    values.write_text(json.dumps({"ingress": {"enabled": True}, "httpRoute": {"enabled": True}}))
    code, manifests, stderr = helm.template(
        default_chart.name, default_chart.path, namespace=checker.namespace, values=[values], check=False
    )
    assert code != 0
    assert not manifests.strip()
    # Both keys named, each as the one to switch off (Helm 3 and 4 word it differently).
    errors = [line for line in schema_error_lines(stderr) if "false" in line]
    assert len(errors) == 2, stderr
    assert any("ingress" in line and "enabled" in line for line in errors), errors
    assert any("httpRoute" in line and "enabled" in line for line in errors), errors


def test_schema_refuses_a_route_that_attaches_to_no_gateway(
    checker: ManifestChecker, default_chart: Chart, helm: Helm, tmp_path: Path
) -> None:
    values = tmp_path / "no-parent.yaml"
    values.write_text(json.dumps({"httpRoute": {"enabled": True, "parentRefs": []}}))
    code, _, stderr = helm.template(
        default_chart.name, default_chart.path, namespace=checker.namespace, values=[values], check=False
    )
    assert code != 0
    assert any("parentRefs" in line for line in schema_error_lines(stderr)), stderr
