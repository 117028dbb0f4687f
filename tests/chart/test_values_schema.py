"""values.schema.json is a real schema: Helm refuses wrong values and names the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from generator.chart.bad_values import BadValues, schema_error_lines
from generator.chart.helm import Chart, Helm
from generator.chart.manifests import ManifestChecker


def test_helm_refuses_bad_values(
    checker: ManifestChecker, default_chart: Chart, helm: Helm, bad_values: BadValues, tmp_path: Path
) -> None:
    values = tmp_path / "bad-values.yaml"
    values.write_text(json.dumps(bad_values.values), encoding="utf-8")
    code, manifests, stderr = helm.template(
        default_chart.name, default_chart.path, namespace=checker.namespace, values=[values], check=False
    )
    assert code != 0
    assert not manifests.strip()
    assert "values don't meet the specifications of the schema" in stderr
    errors = schema_error_lines(stderr)
    # Each case breaks exactly one rule: one violation, and it names the key.
    assert len(errors) == 1, errors
    assert bad_values.key in errors[0]


def test_checker_reports_every_rejection(checker: ManifestChecker, default_chart: Chart) -> None:
    rows = checker.schema_rejections(default_chart)
    assert rows
    assert [row.detail for row in rows if not row.passed] == []


def test_checker_flags_values_the_schema_lets_through(checker: ManifestChecker, default_chart: Chart) -> None:
    allowed = BadValues("actually-valid", {"replicaCount": 3}, "replicaCount")
    rows = checker.schema_rejections(default_chart, [allowed])
    assert rows
    assert all(row.failed and "helm accepted" in row.detail for row in rows)


def test_schema_closes_every_object_of_our_own(default_chart: Chart) -> None:
    # additionalProperties: false on every object whose keys we define (not pass-through
    # Kubernetes objects such as affinity, or free maps such as annotations).
    schema = json.loads((default_chart.path / "values.schema.json").read_text(encoding="utf-8"))

    def walk(node: dict, path: str) -> list[str]:
        open_objects = []
        if "properties" in node and node.get("additionalProperties") is not False:
            open_objects.append(path or "(root)")
        for key, child in node.get("properties", {}).items():
            open_objects += walk(child, f"{path}.{key}".lstrip("."))
        if isinstance(node.get("items"), dict):
            open_objects += walk(node["items"], f"{path}[]")
        for key, child in node.get("definitions", {}).items():
            open_objects += walk(child, f"#/definitions/{key}")
        return open_objects

    # Only list entries that are Kubernetes objects stay open, on purpose: EnvVar (valueFrom, ...)
    # and TopologySpreadConstraint (labelSelector, minDomains, ...); the API server checks them.
    assert walk(schema, "") == ["env[]", "topologySpreadConstraints[]"]


def test_every_value_is_documented_with_a_param_line(default_chart: Chart) -> None:
    text = (default_chart.path / "values.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*## @param (\S+)", text, flags=re.MULTILINE))
    values = yaml.safe_load(text)

    def keys(node: object, prefix: str = "") -> set[str]:
        # A documented parent (e.g. resources, podSecurityContext) covers its children.
        if not isinstance(node, dict) or prefix in documented:
            return {prefix} if prefix else set()
        return set().union(*(keys(child, f"{prefix}.{key}".lstrip(".")) for key, child in node.items()))

    assert keys(values) - documented == set()
    assert documented - {k for k in documented if _exists(values, k)} == set()


def _exists(values: dict, dotted: str) -> bool:
    node: object = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
