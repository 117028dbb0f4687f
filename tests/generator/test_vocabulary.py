"""The one check vocabulary and the one install-hint table, as the CLI and the reports read them."""

from __future__ import annotations

import pytest

from generator import tools
from generator.errors import ToolMissing
from generator.results import CheckedReport, CheckResult, Status, checked, failed, skipped


class _Report(CheckedReport):
    def __init__(self, *checks: CheckResult) -> None:
        self.checks = checks


def test_a_runtime_check_is_a_row_named_by_its_check_alone():
    row = checked("live", False, "HTTP 500")
    assert (row.status, row.name, row.passed, row.failed) == (Status.FAILED, "live", False, True)
    assert checked("live", True).status is Status.PASSED


def test_a_static_row_is_named_check_then_subject():
    assert failed("helm lint --strict", "helm 4 default", "boom").name == "helm lint --strict: helm 4 default"


def test_a_report_lists_what_did_not_pass_skips_included():
    report = _Report(checked("live", True), skipped("checkov", "chart", "checkov is not installed"))
    assert not report.ok
    assert [row.check for row in report.failures] == ["checkov"]


def test_a_report_summary_is_one_line_when_all_pass_and_one_line_per_failure_otherwise():
    assert _Report(checked("a", True), checked("b", True)).summarise("img", 1.5) == (
        "img: 2 checks passed, ready in 1.50 s"
    )
    summary = _Report(checked("a", False, "no"), checked("b", True), checked("c", False, "nor")).summarise(
        "x"
    )
    assert summary.splitlines() == ["a: no", "c: nor"]


def test_require_names_the_tool_and_how_to_get_it(monkeypatch):
    monkeypatch.setattr(tools, "which", lambda name: None)
    with pytest.raises(ToolMissing) as caught:
        tools.require("helm")
    assert caught.value.tool == "helm"
    assert caught.value.message == "`helm` is needed but was not found on PATH"
    assert caught.value.hint == tools.INSTALL_HINTS["helm"]


def test_a_tool_outside_the_table_still_gets_a_hint():
    assert tools.install_hint("frobnicate") == "install frobnicate"
