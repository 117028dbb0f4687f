"""Every variant's CI files, and the template's own workflows, validate against their schemas."""

from __future__ import annotations

from pathlib import Path


def test_ci_files_validate_offline(ci_variant, ci_files, distinct_ci, schema_errors: dict[Path, list[str]]):
    # Checked once per distinct set of CI files: the variant's own set may be another's copy.
    checked = distinct_ci[ci_files.digest]
    failures = {str(path.relative_to(checked.project)): schema_errors[path] for path in checked.files}
    assert {path: errors for path, errors in failures.items() if errors} == {}


def test_template_repo_workflows_validate_offline(repo_workflows: list[Path], schema_errors):
    assert [path.name for path in repo_workflows] == ["release.yml", "template-ci.yml"]
    assert {path.name: schema_errors[path] for path in repo_workflows if schema_errors[path]} == {}


def test_a_broken_workflow_is_reported(tmp_path: Path, check_schema):
    # The batch check must not pass vacuously: a job without `runs-on` fails it.
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps:\n      - run: 'true'\n")
    assert check_schema("vendor.github-workflows", [broken])[broken]
