"""Every variant's project passes the chart checks of `dsdeploy check` (tier 2).

Variants whose chart and kind config render identically share one check (today every variant
renders the same chart; the Kubeflow and Dask options will add groups); the Helm binaries,
Kubernetes schemas and one checkov run are shared by all. The Dockerfile differs per Python
version and licence; its scans are asserted by the image tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.chart.manifests import HELM_AGREE, LINT, SCHEMAS, VALUES_SCHEMA, ManifestChecker
from generator.project.variants import Variant
from generator.results import CheckResult

# The chart's own checks; the Dockerfile's (checkov dockerfile, hadolint) belong to the image tier.
CHART_CHECKS = {LINT, SCHEMAS, HELM_AGREE, VALUES_SCHEMA, "checkov kubernetes"}


@pytest.fixture(scope="session")
def variant_checks(
    checker: ManifestChecker, matrix_render: Any, matrix_projects: Mapping[str, Path]
) -> dict[str, list[CheckResult]]:
    projects = matrix_projects
    groups: dict[str, list[str]] = {}
    for variant_id, tree in matrix_render.trees.items():
        groups.setdefault(tree.part_digest(["charts", "deploy"]), []).append(variant_id)
    representatives: list[Path] = [projects[ids[0]] for ids in groups.values()]
    results = checker.check_projects(representatives)
    return {variant_id: results[projects[ids[0]]] for ids in groups.values() for variant_id in ids}


def test_variant_chart_passes_static_checks(
    variant_checks: dict[str, list[CheckResult]], variant: Variant
) -> None:
    rows = [row for row in variant_checks[variant.id] if row.check in CHART_CHECKS]
    assert {row.check for row in rows} >= {LINT, SCHEMAS, VALUES_SCHEMA}
    assert [f"{row.name}: {row.detail}" for row in rows if row.failed] == []
