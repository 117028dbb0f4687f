"""zizmor finds nothing in the GitHub workflows we ship or run, at any severity or persona."""

from __future__ import annotations

from pathlib import Path

# Findings we accept, as (file name, audit). Empty: every finding zizmor's auditor persona can
# make (pedantic notes included) was fixed. A new one fails the test below until it is fixed
# or justified here.
ACCEPTED: set[tuple[str, str]] = set()


def _in(findings, paths) -> list[str]:
    wanted = {path.resolve() for path in paths}
    return [str(f) for f in findings if f.path.resolve() in wanted]


def test_generated_github_ci_has_no_high_findings(ci_variant, ci_files, zizmor_findings):
    paths = [path for path in ci_files.files if path != ci_files.gitlab]
    high = [f for f in zizmor_findings if f.severity == "High"]
    assert _in(high, paths) == []


def test_generated_github_ci_has_no_findings_beyond_the_accepted(ci_variant, ci_files, zizmor_findings):
    paths = [path for path in ci_files.files if path != ci_files.gitlab]
    new = [f for f in zizmor_findings if (f.path.name, f.audit) not in ACCEPTED]
    assert _in(new, paths) == []


def test_template_repo_workflows_have_no_findings(repo_workflows: list[Path], zizmor_findings):
    assert _in(zizmor_findings, repo_workflows) == []


def test_zizmor_reports_what_it_finds(tmp_path: Path, zizmor):
    # Guard against a silent pass (wrong flags or output format): a classic injection is found.
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = workflows / "bad.yml"
    bad.write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    findings = zizmor([bad])
    assert {"template-injection", "dangerous-triggers"} <= {f.audit for f in findings}
    assert any(f.severity == "High" for f in findings)
