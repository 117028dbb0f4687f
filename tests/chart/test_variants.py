"""Every variant's project passes the chart checks of `dsdeploy check` (tier 2).

Variants whose chart and kind config render identically share one check; the Helm binaries,
Kubernetes schemas and one checkov run are shared by all. The Dockerfile differs per Python
version and licence; its scans are asserted by the image tier.

The framework answer changes the chart in one place only, the KServe runtime's model format in
values.yaml (``kserve.runtime.modelFormat``: two strings the CRD takes as any string), so charts
that differ only there share one check: ``test_the_framework_changes_only_the_runtimes_format``
proves the premise, and kubeflow/test_inferenceservice.py validates each framework's format
against KServe's CRD. Without this the 28 checks would be 84 for the same files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from support.rendering import MATRIX

from generator.chart.manifests import HELM_AGREE, LINT, SCHEMAS, VALUES_SCHEMA, ManifestChecker
from generator.project.variants import Variant
from generator.results import CheckResult

# The chart's own checks; the Dockerfile's (checkov dockerfile, hadolint) belong to the image tier.
CHART_CHECKS = {LINT, SCHEMAS, HELM_AGREE, VALUES_SCHEMA, "checkov kubernetes"}


# The runtime's model format block in the chart's values.yaml: the line that opens it and its
# indented lines (the two `## @param` comments, name and version).
_MODEL_FORMAT = re.compile(r"^    modelFormat:\n(?:      .*\n)+", re.MULTILINE)
CHECKED_PARTS = ("charts", "deploy")


def chart_key(tree: Any, store: Any, masked: dict[str, str]) -> str:
    """The digest of the files under ``CHECKED_PARTS``, values.yaml's model format block masked.

    ``masked`` caches the masked digest of each distinct values.yaml content.
    """
    digest = hashlib.sha256()
    for relpath in sorted(tree.files):
        if not relpath.startswith(tuple(f"{part}/" for part in CHECKED_PARTS)):
            continue
        content = tree.files[relpath].digest
        if relpath.endswith("/values.yaml") and relpath.count("/") == 2:
            if content not in masked:
                text = _MODEL_FORMAT.sub("    modelFormat: <framework>\n", store[content].decode())
                masked[content] = hashlib.sha256(text.encode()).hexdigest()
            content = masked[content]
        digest.update(f"{relpath}\0{content}\0".encode())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def variant_checks(
    checker: ManifestChecker, matrix_render: Any, matrix_projects: Mapping[str, Path]
) -> dict[str, list[CheckResult]]:
    projects = matrix_projects
    groups: dict[str, list[str]] = {}
    masked: dict[str, str] = {}
    for variant_id, tree in matrix_render.trees.items():
        groups.setdefault(chart_key(tree, matrix_render.store, masked), []).append(variant_id)
    representatives: list[Path] = [projects[ids[0]] for ids in groups.values()]
    results = checker.check_projects(representatives)
    return {variant_id: results[projects[ids[0]]] for ids in groups.values() for variant_id in ids}


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
