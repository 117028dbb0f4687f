"""helm lint --strict is clean, with Helm 4 and Helm 3, for the defaults and every values set."""

from __future__ import annotations

from pathlib import Path

from generator.chart.helm import Chart, Helm
from generator.chart.manifests import LINT, ManifestChecker

TEMPLATE_CI = Path(__file__).resolve().parents[2] / "template" / "charts" / "{{project_slug}}" / "ci"


def test_lint_strict_is_clean(
    checker: ManifestChecker, default_chart: Chart, values_set: str, helm: Helm
) -> None:
    one = Chart(default_chart.path, default_chart.name, {values_set: default_chart.values_sets[values_set]})
    [row] = ManifestChecker(helms=[helm], schemas=checker.schemas).lint(one)
    assert row.check == LINT
    assert row.passed, row.detail


def test_helm3_renders_the_same_objects_as_helm4(
    checker: ManifestChecker, default_chart: Chart, values_set: str, helm4: Helm, helm3: Helm
) -> None:
    assert checker.render(default_chart, values_set, helm=helm3) == checker.render(
        default_chart, values_set, helm=helm4
    )


def test_every_shipped_values_set_is_checked(default_chart: Chart) -> None:
    # The template's ci/*-values.yaml files are exactly the sets a rendered project's check runs.
    shipped = {path.name.removesuffix("-values.yaml") for path in TEMPLATE_CI.glob("*-values.yaml")}
    assert set(default_chart.values_sets) == shipped | {"default"}
    assert {"full", "minimal"} <= shipped
