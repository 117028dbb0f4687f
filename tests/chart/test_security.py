"""checkov finds nothing in the chart's manifests, for every values set; skips are justified."""

from __future__ import annotations

import pytest

from generator.chart.helm import Chart
from generator.chart.manifests import ManifestChecker
from generator.chart.security import Finding, ScanTarget, checkov_findings, findings_to_rows

# The skips the chart writes down (checkov.io/skipN annotations), each with its reason there.
JUSTIFIED_SKIPS = {"CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_8", "CKV_K8S_9", "CKV2_K8S_6", "CKV_K8S_21"}


@pytest.fixture(scope="module")
def scans(
    checker: ManifestChecker, default_chart: Chart, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Finding]]:
    """One checkov run: the chart as rendered from every values set, a weakened copy, and a
    target holding the chart's ``default`` manifests again beside a file of its own."""
    _, rendered = checker.validate(default_chart)
    weakened = rendered["default"].replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    assert weakened != rendered["default"]
    dockerfile = tmp_path_factory.mktemp("weak") / "Dockerfile"
    dockerfile.write_text("FROM python:latest\nUSER 10001\nHEALTHCHECK CMD true\n", encoding="utf-8")
    found = checkov_findings(
        [
            ScanTarget("chart", rendered),
            ScanTarget("weak", {"default": weakened}, dockerfile),
            ScanTarget("sharing", {"default": rendered["default"], "weak": weakened}),
        ]
    )
    if found is None:
        pytest.skip("checkov is not installed (run scripts/setup-k8s-tools.sh)")
    return found


def test_checkov_finds_no_failed_check_in_any_values_set(
    scans: dict[str, list[Finding]], default_chart: Chart
) -> None:
    chart = scans["chart"]
    # Every values set the chart ships was scanned (default, full, minimal, kserve, ...).
    assert {finding.file for finding in chart} == {f"{name}.yaml" for name in default_chart.values_sets}
    assert {"default.yaml", "full.yaml", "minimal.yaml", "kserve.yaml"} <= {finding.file for finding in chart}
    assert sum(finding.outcome == "passed" for finding in chart) > 100
    assert [f"{f.check_id} {f.resource} ({f.file})" for f in chart if f.outcome == "failed"] == []


def test_checkov_skips_only_the_justified_checks(scans: dict[str, list[Finding]]) -> None:
    skips = [finding for finding in scans["chart"] if finding.outcome == "skipped"]
    assert {finding.check_id for finding in skips} == JUSTIFIED_SKIPS
    assert all(len(finding.reason.split()) >= 5 for finding in skips), [f.reason for f in skips]


def test_checkov_reports_planted_failures_per_target(scans: dict[str, list[Finding]]) -> None:
    failures = {(f.framework, f.check_id, f.resource, f.file) for f in scans["weak"] if f.outcome == "failed"}
    assert failures == {
        # A writable root filesystem, in the server and in the test pod (same securityContext).
        ("kubernetes", "CKV_K8S_22", "Deployment.models.my-model", "default.yaml"),
        ("kubernetes", "CKV_K8S_22", "Pod.models.my-model-test-connection", "default.yaml"),
        ("dockerfile", "CKV_DOCKER_7", "Dockerfile.FROM", "Dockerfile"),  # FROM ...:latest
    }
    rows = findings_to_rows(scans["weak"])
    assert [row.check for row in rows if row.subject == "all checks"] == [
        "checkov dockerfile",
        "checkov kubernetes",
    ]
    assert {row.subject for row in rows if row.failed} >= {
        "CKV_K8S_22 Deployment.models.my-model",
        "CKV_DOCKER_7 Dockerfile.FROM",
    }


def test_a_file_two_targets_hold_is_scanned_once_for_both(scans: dict[str, list[Finding]]) -> None:
    def keyed(findings: list[Finding], file: str) -> list[tuple[str, str, str]]:
        return sorted((f.check_id, f.outcome, f.resource) for f in findings if f.file == file)

    shared = keyed(scans["sharing"], "default.yaml")
    assert len(shared) > 100
    assert shared == keyed(scans["chart"], "default.yaml")
    # Its own file (the weakened manifests, under another name) is reported to it alone.
    assert ("CKV_K8S_22", "failed", "Deployment.models.my-model") in keyed(scans["sharing"], "weak.yaml")
    assert keyed(scans["chart"], "weak.yaml") == []
    assert ("CKV_K8S_22", "failed", "Deployment.models.my-model") not in keyed(scans["chart"], "default.yaml")
