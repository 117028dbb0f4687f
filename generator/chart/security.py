"""Security and lint scans of rendered manifests and Dockerfiles: checkov and hadolint.

checkov runs on manifests that ``helm template`` rendered from every values set (its
``--framework kubernetes``) rather than on the chart (``--framework helm``): the helm framework
renders the defaults only, in namespace ``default``, so optional parts (ingress, HPA, PDB, a
closed NetworkPolicy, GPU resources) would go unscanned. Many projects go into one checkov run,
because its start-up (about 3 s) dwarfs the scan itself. Skips are allowed only where the chart
or Dockerfile justifies them inline (``checkov.io/skipN`` annotations, ``# checkov:skip=``
comments); checkov reports them, and so do we.

checkov is not part of the ``test`` extra: it pins ``packaging<24`` and ``python-dateutil<3``,
which conflict with pytest 9 and the kubernetes client. ``scripts/setup-k8s-tools.sh`` installs it
as an isolated tool (``uv tool install``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import GeneratorError
from generator.process import run
from generator.results import CheckResult, failed, passed, skipped
from generator.tools import install_hint, which

CHECKOV = "checkov"
HADOLINT = "hadolint"
_CHECKOV_HINT = f"checkov is not installed ({install_hint(CHECKOV)})"
_HADOLINT_HINT = f"hadolint is not installed ({install_hint(HADOLINT)})"


@dataclass(frozen=True)
class ScanTarget:
    """What one project contributes to a checkov run.

    Attributes:
        key: The caller's name for it (a project path or variant id); results come back under it.
        manifests: Rendered multi-document YAML by values-set name (``{"full": "...yaml..."}``).
        dockerfile: The project's Dockerfile, when it has one.
    """

    key: str
    manifests: Mapping[str, str] = field(default_factory=dict)
    dockerfile: Path | None = None


@dataclass(frozen=True)
class Finding:
    """One check checkov ran on one resource.

    Attributes:
        framework: ``kubernetes`` or ``dockerfile``.
        check_id: e.g. ``CKV_K8S_22``.
        outcome: ``passed``, ``failed`` or ``skipped``.
        resource: checkov's resource id (``Deployment.models.my-model``, ``Dockerfile.FROM``).
        file: The scanned file (``full.yaml`` for the values set ``full``, ``Dockerfile``).
        title: What the check asks for.
        reason: For a skip, the justification written in the chart or Dockerfile.
    """

    framework: str
    check_id: str
    outcome: str
    resource: str
    file: str
    title: str = ""
    reason: str = ""


def checkov_findings(
    targets: Sequence[ScanTarget], *, timeout: float = 600
) -> dict[str, list[Finding]] | None:
    """Run checkov once over every target's manifests and Dockerfile; None when it is missing.

    Targets holding the same file (same name, same content) share its findings.

    Raises:
        GeneratorError: checkov did not produce a report (the message has its last words).
    """
    binary = which(CHECKOV)
    if binary is None:
        return None
    # Each distinct file is scanned once, alone in its folder: projects of one template share most
    # rendered manifests (28 charts' 168 files held 43 contents), and checkov's cost grows faster
    # than the files it is given.
    holders: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        files = {f"{values_set}.yaml": text for values_set, text in target.manifests.items()}
        if target.dockerfile is not None and target.dockerfile.is_file():
            files["Dockerfile"] = target.dockerfile.read_text(encoding="utf-8")
        for name, text in files.items():
            holders.setdefault((name, text), []).append(target.key)
    with tempfile.TemporaryDirectory(prefix="dsdeploy-checkov-") as scratch:
        root = Path(scratch)
        folders: dict[str, list[str]] = {}
        for index, ((name, text), keys) in enumerate(holders.items()):
            # Short numbered folders: checkov reports paths relative to the scanned root.
            folder = root / f"f{index}"
            folder.mkdir()
            (folder / name).write_text(text, encoding="utf-8")
            folders[folder.name] = keys
        result = run(
            [
                binary,
                "--directory",
                root,
                "--framework",
                "kubernetes",
                "dockerfile",
                "--output",
                "json",
                "--compact",
                "--skip-download",
            ],
            timeout=timeout,
            check=False,
            # No platform calls: the scan must work offline and send nothing anywhere.
            env={"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        )
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise GeneratorError(
            f"checkov exited {result.returncode} without a report: {lines[-1] if lines else ''}"
        ) from exc
    findings: dict[str, list[Finding]] = {target.key: [] for target in targets}
    # checkov prints one report per framework, or a bare object when only one had files.
    for report in reports if isinstance(reports, list) else [reports]:
        framework = str(report.get("check_type", "?"))
        for outcome in ("passed", "failed", "skipped"):
            for item in report.get("results", {}).get(f"{outcome}_checks", []):
                # Paths and resource ids start with our scratch folder ("/f0/..."): map and drop it.
                scratch_dir, _, file = str(item.get("file_path", "")).strip("/").partition("/")
                if scratch_dir not in folders:
                    continue
                finding = Finding(
                    framework=framework,
                    check_id=str(item["check_id"]),
                    outcome=outcome,
                    resource=str(item.get("resource", "")).removeprefix(f"/{scratch_dir}/"),
                    file=file,
                    title=str(item.get("check_name", "")),
                    reason=str((item.get("check_result") or {}).get("suppress_comment", "")),
                )
                for key in folders[scratch_dir]:
                    findings[key].append(finding)
    return findings


def findings_to_rows(findings: Sequence[Finding]) -> list[CheckResult]:
    """A summary row per framework (counts and skip reasons), then one row per failed check."""
    rows = []
    for framework in sorted({finding.framework for finding in findings}):
        check = f"{CHECKOV} {framework}"
        mine = [finding for finding in findings if finding.framework == framework]
        failures = [finding for finding in mine if finding.outcome == "failed"]
        skips = sorted(
            {f"{finding.check_id} ({finding.reason})" for finding in mine if finding.outcome == "skipped"}
        )
        count = sum(finding.outcome == "passed" for finding in mine)
        summary = f"{count} passed, {len(mine) - count - len(failures)} skipped"
        if skips:
            summary += ": " + "; ".join(skips)
        if failures:
            rows.append(failed(check, "all checks", f"{len(failures)} failed, {summary}"))
        else:
            rows.append(passed(check, "all checks", summary))
        rows += [failed(check, f"{f.check_id} {f.resource}", f"{f.title} ({f.file})") for f in failures]
    return rows


def checkov_scan(targets: Sequence[ScanTarget], *, timeout: float = 600) -> dict[str, list[CheckResult]]:
    """Scan every target in one checkov process; rows per target key (see :func:`findings_to_rows`).

    A missing checkov gives one skipped row per target; a checkov that crashes, one failed row.
    """
    try:
        findings = checkov_findings(targets, timeout=timeout)
    except GeneratorError as exc:
        return {target.key: [failed(CHECKOV, "run", exc.message)] for target in targets}
    if findings is None:
        return {target.key: [skipped(CHECKOV, "chart and Dockerfile", _CHECKOV_HINT)] for target in targets}
    return {key: findings_to_rows(found) for key, found in findings.items()}


def hadolint(dockerfile: Path, *, timeout: float = 60) -> CheckResult:
    """Lint a Dockerfile with hadolint, honouring the project's own ``.hadolint.yaml``.

    Returns:
        A passed row, a failed row naming the first finding (line, rule, message), or a skipped
        row when hadolint or the Dockerfile is missing.
    """
    subject = str(dockerfile.name)
    if not dockerfile.is_file():
        return skipped(HADOLINT, subject, f"no {dockerfile.name} in the project")
    binary = which(HADOLINT)
    if binary is None:
        return skipped(HADOLINT, subject, _HADOLINT_HINT)
    # Run from the project folder so hadolint finds the project's .hadolint.yaml.
    result = run(
        [binary, "--format", "json", dockerfile.name], cwd=dockerfile.parent, timeout=timeout, check=False
    )
    try:
        findings = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return failed(HADOLINT, subject, (result.stderr or result.stdout).strip()[:300] or "no output")
    if result.returncode == 0:
        return passed(HADOLINT, subject, f"{len(findings)} findings below the failure threshold")
    if not findings:
        return failed(HADOLINT, subject, (result.stderr or "hadolint failed").strip()[:300])
    first = findings[0]
    return failed(
        HADOLINT,
        subject,
        f"{len(findings)} findings; first: line {first['line']} {first['code']} {first['message']}",
    )
