"""Rendered manifests are valid against the Kubernetes schemas of the three newest versions."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from packaging.version import Version

from generator.chart.helm import Chart
from generator.chart.kube_schemas import KubernetesSchemas, bundled_versions
from generator.chart.manifests import SCHEMAS, ManifestChecker

Manifests = list[dict[str, Any]]


def test_schemas_are_the_three_newest_bundled_minor_versions(checker: ManifestChecker) -> None:
    bundled = sorted({Version(v) for v in bundled_versions()})
    assert [Version(v) for v in checker.schemas.versions] == bundled[-3:]
    assert checker.schemas.strict


def test_values_set_renders_valid_manifests(
    checker: ManifestChecker, default_chart: Chart, values_set: str
) -> None:
    one = Chart(default_chart.path, default_chart.name, {values_set: default_chart.values_sets[values_set]})
    [row], rendered = checker.validate(one)
    assert row.check == SCHEMAS
    assert row.passed, row.detail
    assert rendered[values_set].strip()


def test_full_values_switch_on_every_optional_object(rendered: Callable[[str], Manifests]) -> None:
    kinds = {doc["kind"] for doc in rendered("full")}
    assert kinds >= {
        "Deployment",
        "Service",
        "ServiceAccount",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Pod",
    }


def test_every_object_is_namespaced_to_the_release(
    checker: ManifestChecker, rendered: Callable[[str], Manifests]
) -> None:
    for doc in rendered("full"):
        assert doc["metadata"]["namespace"] == checker.namespace, doc["metadata"]["name"]


def test_strict_validation_refuses_an_unknown_field(
    checker: ManifestChecker, rendered: Callable[[str], Manifests], only: Any
) -> None:
    deployment = copy.deepcopy(only(rendered("default"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    problems = checker.schemas.validate(deployment)
    assert [p.version for p in problems] == list(checker.schemas.minor_versions)
    assert "livenessProbes" in problems[0].message


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lax"])
def test_batch_validator_agrees_with_kubernetes_validate(
    rendered: Callable[[str], Manifests], only: Any, strict: bool
) -> None:
    # Our in-process cache must judge exactly as the package's own API does.
    newest = bundled_versions()[-1]
    schemas = KubernetesSchemas([newest], strict=strict)
    good = rendered("full")
    bad = copy.deepcopy(only(good, "Deployment"))
    bad["spec"]["replicas"] = "two"
    bad["spec"]["template"]["spec"]["containers"][0]["extra"] = True
    for doc in [*good, bad]:
        try:
            kubernetes_validate.validate(doc, newest, strict=strict)
            expected_valid = True
        except kubernetes_validate.ValidationError:
            expected_valid = False
        assert (schemas.validate(doc) == []) == expected_valid, doc["kind"]
