"""Every variant's project passes the chart checks of `dsdeploy check` (tier 2).

Variants whose chart and kind config render identically share one check; the Helm binaries,
Kubernetes schemas and one checkov run are shared by all. The Dockerfile differs per Python
version and licence; its scans are asserted by the image tier.

The framework answer changes the chart in one place only, the KServe runtime's model format in
values.yaml (``kserve.runtime.modelFormat``: two strings the CRD takes as any string), so charts
that differ only there share one check: ``test_the_framework_changes_only_the_runtimes_format``
proves the premise, and kubeflow/test_inferenceservice.py validates each framework's format
against KServe's CRD. Without this the 28 checks would be 84 for the same files.

The registry answer changes the chart in two lines only, the image's and the model image's
``repository`` in values.yaml, which the templates only print into image references: charts that
differ only there share the full check too (2 checks, not 28: Dask on and off), and each
registry's chart (14) runs its own ``helm lint --strict`` (both Helms: values.schema.json's
pattern for repositories) and Kubernetes schemas on its default values, the set that carries those
two lines unchanged. ``test_the_registry_changes_only_the_image_repositories`` proves the premise.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.chart_groups import CHECKED_PARTS, PRINTED, REPOSITORIES, REPOSITORY_LINES, chart_key
from support.rendering import MATRIX

from generator.chart.helm import DEFAULT_SET, Chart
from generator.chart.manifests import HELM_AGREE, LINT, SCHEMAS, VALUES_SCHEMA, ManifestChecker
from generator.project.variants import Variant
from generator.results import CheckResult

# The chart's own checks; the Dockerfile's (checkov dockerfile, hadolint) belong to the image tier.
CHART_CHECKS = {LINT, SCHEMAS, HELM_AGREE, VALUES_SCHEMA, "checkov kubernetes"}


@pytest.fixture(scope="session")
def variant_checks(
    checker: ManifestChecker, matrix_render: Any, matrix_projects: Mapping[str, Path]
) -> dict[str, list[CheckResult]]:
    """Each variant's rows: its group's full check, then its registry's chart's default values
    linted with every Helm and validated (what its repositories could break)."""
    projects = matrix_projects
    groups: dict[str, list[str]] = {}
    charts: dict[str, list[str]] = {}
    masked: dict[str, str] = {}
    by_registry: dict[str, str] = {}
    for variant_id, tree in matrix_render.trees.items():
        groups.setdefault(chart_key(tree, matrix_render.store, masked), []).append(variant_id)
        key = chart_key(tree, matrix_render.store, by_registry, registry=False)
        charts.setdefault(key, []).append(variant_id)
    representatives: list[Path] = [projects[ids[0]] for ids in groups.values()]
    results = checker.check_projects(representatives)

    def own_chart(ids: list[str]) -> list[CheckResult]:
        found = Chart.find(projects[ids[0]])
        chart = Chart(found.path, found.name, {DEFAULT_SET: found.values_sets[DEFAULT_SET]})
        return checker.lint(chart) + checker.validate(chart)[0]

    with ThreadPoolExecutor(max_workers=2) as pool:  # each runs its Helms in threads already
        own = dict(zip(charts, pool.map(own_chart, charts.values()), strict=True))
    by_chart = {variant_id: key for key, ids in charts.items() for variant_id in ids}
    return {
        variant_id: results[projects[ids[0]]] + own[by_chart[variant_id]]
        for ids in groups.values()
        for variant_id in ids
    }


def test_variant_chart_passes_static_checks(
    variant_checks: dict[str, list[CheckResult]], variant: Variant
) -> None:
    rows = [row for row in variant_checks[variant.id] if row.check in CHART_CHECKS]
    assert {row.check for row in rows} >= {LINT, SCHEMAS, VALUES_SCHEMA}
    assert [f"{row.name}: {row.detail}" for row in rows if row.failed] == []


def test_the_framework_changes_only_the_runtimes_format(matrix_render: Any) -> None:
    # Variants alike but for the framework have the same charts once the format block is masked,
    # and different ones without the mask (so the mask hides the format and nothing else).
    masked: dict[str, str] = {}
    by_others: dict[tuple[Any, ...], dict[str, tuple[str, str]]] = {}
    for variant in MATRIX:
        answers = variant.as_dict()
        others = tuple(sorted((k, str(v)) for k, v in answers.items() if k != "model_framework"))
        tree = matrix_render.trees[variant.id]
        keys = (chart_key(tree, matrix_render.store, masked), tree.part_digest(CHECKED_PARTS))
        by_others.setdefault(others, {})[str(answers["model_framework"])] = keys
    assert by_others
    for frameworks in by_others.values():
        assert len(frameworks) == 3
        assert len({masked_key for masked_key, _ in frameworks.values()}) == 1
        assert len({plain for _, plain in frameworks.values()}) == 3
    assert len(set(masked.values())) < len(masked)


def test_the_registry_changes_only_the_image_repositories(matrix_render: Any) -> None:
    # Variants alike but for the registry have the same charts once the two repository lines are
    # masked and seven different ones without; the mask replaces exactly those two lines; and
    # the templates only print repositories into image references (nothing branches on them).
    masked: dict[str, str] = {}
    by_others: dict[tuple[Any, ...], dict[str, tuple[str, str]]] = {}
    registries = {str(variant.as_dict()["registry"]) for variant in MATRIX}
    for variant in MATRIX:
        answers = variant.as_dict()
        others = tuple(sorted((k, str(v)) for k, v in answers.items() if k != "registry"))
        tree = matrix_render.trees[variant.id]
        keys = (chart_key(tree, matrix_render.store, masked), tree.part_digest(("charts",)))
        by_others.setdefault(others, {})[str(answers["registry"])] = keys
        values = [path for path in tree.files if path.startswith("charts/") and path.count("/") == 2]
        for path in values:
            if path.endswith("/values.yaml"):
                text = matrix_render.store[tree.files[path].digest].decode()
                assert len(REPOSITORIES.findall(text)) == REPOSITORY_LINES, variant.id
    for found in by_others.values():
        assert set(found) == registries
        assert len({masked_key for masked_key, _ in found.values()}) == 1
        assert len({plain for _, plain in found.values()}) == len(registries)
    templates = {
        entry.digest
        for variant in MATRIX
        for path, entry in matrix_render.trees[variant.id].files.items()
        if path.startswith("charts/") and "/templates/" in path
    }
    uses = {
        line.strip()
        for digest in templates
        for line in matrix_render.store[digest].decode().splitlines()
        if "repository" in line
    }
    assert {line for line in uses if not line.startswith(PRINTED)} == set()
