"""The one check vocabulary: what every static and runtime check returns, and reports made of it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Outcome of one check on one subject."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """One row of a check's table: which check, on what, how it went, and the first error.

    Attributes:
        check: The check, e.g. ``"helm lint --strict"``; the CLI prints one table per check.
        subject: What it ran on, e.g. ``"helm 4 ci/full-values.yaml"``.
        status: Passed, failed, or skipped (a tool is missing; ``detail`` says which and how to get it).
        detail: The first error when failed, the reason when skipped, a short summary when passed.
    """

    check: str
    subject: str
    status: Status
    detail: str = ""

    @property
    def name(self) -> str:
        """``check: subject`` (or the check alone without a subject), for one-line reports and ids."""
        return f"{self.check}: {self.subject}" if self.subject else self.check

    @property
    def passed(self) -> bool:
        """True only for a check that ran and passed."""
        return self.status is Status.PASSED

    @property
    def failed(self) -> bool:
        """True for a check that ran and failed (a skip is not a failure)."""
        return self.status is Status.FAILED


def passed(check: str, subject: str, detail: str = "") -> CheckResult:
    """A passed row."""
    return CheckResult(check, subject, Status.PASSED, detail)


def failed(check: str, subject: str, detail: str) -> CheckResult:
    """A failed row; ``detail`` is the first error."""
    return CheckResult(check, subject, Status.FAILED, detail)


def skipped(check: str, subject: str, reason: str) -> CheckResult:
    """A skipped row; ``reason`` says what is missing and how to get it."""
    return CheckResult(check, subject, Status.SKIPPED, reason)


def checked(check: str, ok: bool, detail: str = "", subject: str = "") -> CheckResult:
    """A passed or failed row, as ``ok`` says; runtime checks name what they saw in ``detail``."""
    return CheckResult(check, subject, Status.PASSED if ok else Status.FAILED, detail)


class CheckedReport:
    """What every report made of check rows answers: did all pass, and which did not."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that did not pass."""
        return tuple(check for check in self.checks if not check.passed)

    def summarise(self, subject: str, ready_seconds: float | None = None) -> str:
        """One line per failed check, or a one-line all-clear naming ``subject`` (and readiness)."""
        if self.ok:
            ready = f", ready in {ready_seconds:.2f} s" if ready_seconds is not None else ""
            return f"{subject}: {len(self.checks)} checks passed{ready}"
        return "\n".join(f"{check.name}: {check.detail}" for check in self.failures)
