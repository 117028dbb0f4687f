"""Every run ends with where its time went: a table of time per tier.

A test's tier is decided once, at collection (:func:`tier_of`), and travels in its reports'
``user_properties``, so under pytest-xdist the controller adds up what the workers report. Each
tier shows its summed test time (setup, call and teardown: where the workers were busy) and its
span (first start to last stop: where in the run it happened). The set-up that
``scripts/test.sh`` does before pytest starts (the dev environment, the engines) arrives in
``DSDEPLOY_SETUP_SECONDS`` (``dev-env=46 engines=12``). A report, not a timed test.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

#: Tiers in the order the table lists them.
TIERS = (
    "render",
    "static",
    "projects",
    "docker",
    "swap",
    "update",
    "browser",
    "monitoring",
    "podman",
    "apptainer",
    "kind",
)
#: Test folders whose tests all belong to one tier, whatever their markers.
FOLDER_TIERS = {
    "projects": "projects",
    "swap": "swap",
    "update": "update",
    "browser": "browser",
    "monitoring": "monitoring",
}
#: Markers that name a tier of their own (an engine beyond Docker), checked first.
MARKER_TIERS = {"kind": "kind", "apptainer": "apptainer", "podman": "podman", "browser": "browser"}
STATIC_FOLDERS = frozenset({"chart", "workflows", "kubeflow", "dask"})
TIER_PROPERTY = "tier"
#: How many of the costliest test modules the report names after the table.
MODULES_SHOWN = 12
SETUP_VARIABLE = "DSDEPLOY_SETUP_SECONDS"


def tier_of(item: pytest.Item) -> str:
    """The tier a test's time is counted in, from its folder under tests/ and its markers."""
    parts = item.nodeid.split("::", 1)[0].split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    markers = {mark.name for mark in item.iter_markers()}
    for marker, tier in MARKER_TIERS.items():
        if marker in markers:
            return tier
    if folder in FOLDER_TIERS:
        return FOLDER_TIERS[folder]
    if "prometheus" in markers:
        return "monitoring"
    if "docker" in markers:
        return "docker"
    if folder in STATIC_FOLDERS:
        return "static"
    return "render"


def setup_seconds(text: str | None) -> dict[str, float]:
    """``dev-env=46 engines=12`` as ``{"dev-env": 46.0, "engines": 12.0}``; bad parts are left out."""
    steps: dict[str, float] = {}
    for part in (text or "").split():
        name, _, value = part.partition("=")
        try:
            steps[name] = float(value)
        except ValueError:
            continue
    return steps


@dataclass
class TierTime:
    """What one tier's tests took."""

    tests: int = 0
    failed: int = 0
    skipped: int = 0
    busy: float = 0.0
    first_start: float = field(default=float("inf"))
    last_stop: float = 0.0

    def add(self, report: pytest.TestReport) -> None:
        self.busy += report.duration
        if report.start:
            self.first_start = min(self.first_start, report.start)
        self.last_stop = max(self.last_stop, report.stop)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.tests += 1
            self.failed += report.failed
            self.skipped += report.skipped


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:5.1f} min"


class TierTimes:
    """Collects the reports and writes the table at the end of the run."""

    def __init__(self) -> None:
        self.started = time.time()
        self.tiers: dict[str, TierTime] = {}
        self.modules: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tier = dict(report.user_properties).get(TIER_PROPERTY)
        if isinstance(tier, str):
            self.tiers.setdefault(tier, TierTime()).add(report)
            module = report.nodeid.split("::", 1)[0]
            self.modules[module] = self.modules.get(module, 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_sep("-", "time per tier")
        rows = [("tier", "tests", "failed", "skipped", "test time", "span in the run")]
        for name, seconds in setup_seconds(os.environ.get(SETUP_VARIABLE)).items():
            rows.append((f"set-up: {name}", "", "", "", _minutes(seconds), "before pytest"))
        for name in sorted(self.tiers, key=lambda tier: TIERS.index(tier) if tier in TIERS else len(TIERS)):
            tier = self.tiers[name]
            start, stop = (_minutes(at - self.started).strip() for at in (tier.first_start, tier.last_stop))
            rows.append(
                (
                    name,
                    str(tier.tests),
                    str(tier.failed),
                    str(tier.skipped),
                    _minutes(tier.busy),
                    f"{start} to {stop}",
                )
            )
        busy = _minutes(sum(tier.busy for tier in self.tiers.values()))
        rows.append(("pytest", "", "", "", busy, f"wall {_minutes(time.time() - self.started).strip()}"))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            cells = [
                row[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)),
            ]
            terminalreporter.write_line("  ".join(cells))
        costliest = sorted(self.modules.items(), key=lambda item: -item[1])[:MODULES_SHOWN]
        if costliest:
            terminalreporter.write_line(
                "costliest modules: "
                + ", ".join(
                    f"{module.removeprefix('tests/')} {_minutes(seconds).strip()}"
                    for module, seconds in costliest
                )
            )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag each test with its tier (in each xdist worker, which is where collection happens)."""
    for item in items:
        item.user_properties.append((TIER_PROPERTY, tier_of(item)))


def pytest_configure(config: pytest.Config) -> None:
    # Workers report to the controller, which writes the one table (without xdist: the process).
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(TierTimes(), "dsdeploy-tier-times")
