"""`dsdeploy fleet` on a dozen projects of mixed releases and states (rendered, not tested)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.project.fleet import releases

runner = CliRunner()

# name -> (release, answers, state): "clean", "dirty" (uncommitted), "conflict" (a committed edit
# of lines the next release changes too).
FLEET = {
    "old-default": ("old", {}, "clean"),
    "old-dask": ("old", {"with_dask": True}, "clean"),
    "old-kubeflow": ("old", {"with_kubeflow": True}, "clean"),
    "old-gitlab": ("old", {"ci_provider": "gitlab", "registry": "gitlab"}, "clean"),
    "old-conflict": ("old", {}, "conflict"),
    "old-dirty": ("old", {"with_dask": True}, "dirty"),
    "old-untracked": ("old", {"ci_provider": "none"}, "untracked"),
    "new-default": ("new", {}, "clean"),
    "new-none": ("new", {"ci_provider": "none"}, "clean"),
    "new-both": ("new", {"with_kubeflow": True, "with_dask": True}, "clean"),
    "new-gitlab": ("new", {"ci_provider": "gitlab"}, "clean"),
    "new-dirty": ("new", {}, "dirty"),
}
GRACE = "terminationGracePeriodSeconds: 30\n"


@pytest.fixture(scope="module")
def fleet_dir(template_repo, lifecycle, tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    for name, (release, answers, state) in FLEET.items():
        ref = lifecycle.old if release == "old" else lifecycle.new
        project = lifecycle.copy_release(template_repo, ref, root / name, {"project_name": name, **answers})
        lifecycle.init_repo(project)
        values = project / "charts" / name / "values.yaml"
        if state == "conflict":
            text = values.read_text().replace(
                "terminationGracePeriodSeconds Time the server gets to finish requests after SIGTERM\n",
                "terminationGracePeriodSeconds Our clients need longer\n",
            )
            values.write_text(text.replace(GRACE, "terminationGracePeriodSeconds: 90\n"))
            lifecycle.commit_all(project, "Longer grace")
        elif state == "dirty":
            values.write_text(values.read_text().replace("replicaCount: 1\n", "replicaCount: 2\n"))
        elif state == "untracked":
            (project / "scratch.ipynb").write_text("{}")
    return root


def _fleet(template, *args):
    result = runner.invoke(app, ["fleet", *map(str, args), "--template", str(template)])
    return result, (json.loads(result.stdout) if "--format" in args and result.exit_code != 2 else None)


def test_fleet_reports_release_lag_answers_and_local_changes(fleet_dir, lifecycle, template_repo):
    result, rows = _fleet(template_repo, fleet_dir, "--format", "json")
    assert result.exit_code == 0, result.output
    by_name = {row["project"]: row for row in rows}
    assert sorted(by_name) == sorted(FLEET)
    for name, (release, answers, state) in FLEET.items():
        row = by_name[name]
        assert row["version"] == (lifecycle.old if release == "old" else lifecycle.new), name
        assert row["newest"] == lifecycle.new
        assert row["behind"] == (2 if release == "old" else 0), name  # v0.2.0 and v0.3.0 came since
        assert (row["local_changes"] > 0) == (state in {"dirty", "untracked"}), name
        assert row["answers"]["with_dask"] == answers.get("with_dask", False)


def test_fleet_table_names_every_project(fleet_dir, template_repo):
    result, _ = _fleet(template_repo, fleet_dir)
    assert result.exit_code == 0, result.output
    for name in FLEET:
        assert name in result.stdout


def test_fleet_update_without_trust_refuses_to_cross_a_migration(
    fleet_dir, lifecycle, tmp_path, template_repo
):
    lifecycle.copy_tree(fleet_dir / "old-default", tmp_path / "old-default")
    result, rows = _fleet(template_repo, tmp_path, "--update", "--format", "json")
    assert result.exit_code == 1
    assert rows[0]["outcome"] == "failed"
    assert "--trust" in rows[0]["detail"]
    assert lifecycle.git(tmp_path / "old-default", "status", "--porcelain") == ""


def test_fleet_update_updates_clean_projects_and_never_touches_dirty_ones(
    fleet_dir, lifecycle, template_repo
):
    dirty = {name for name, (_, _, state) in FLEET.items() if state in {"dirty", "untracked"}}
    before = {name: lifecycle.project_files(fleet_dir / name) for name in dirty}
    result, rows = _fleet(template_repo, fleet_dir, "--update", "--trust", "--format", "json")
    assert result.exit_code == 0, result.output
    outcomes = {row["project"]: row["outcome"] for row in rows}
    expected = {
        name: "skipped (dirty)"
        if state in {"dirty", "untracked"}
        else "conflicted"
        if state == "conflict"
        else "updated"
        if release == "old"
        else "current"
        for name, (release, _, state) in FLEET.items()
    }
    assert outcomes == expected
    conflicted = next(row for row in rows if row["outcome"] == "conflicted")
    assert conflicted["files"] == ["charts/old-conflict/values.yaml"]
    for name in dirty:
        assert lifecycle.project_files(fleet_dir / name) == before[name], name
    for row in rows:
        if row["outcome"] == "updated":
            assert row["version"] == lifecycle.new
            assert lifecycle.conflicted_files(fleet_dir / row["project"]) == []


@pytest.mark.parametrize(
    "src_path", ["https://git.example.org/someone-else/template.git", "--upload-pack=touch x"]
)
def test_fleet_refuses_a_project_from_another_template(
    src_path, fleet_dir, lifecycle, tmp_path, template_repo
):
    # The answers file comes from the project's repository: anyone who can push there picks the
    # template `copier update` would clone and run.
    project = lifecycle.copy_tree(fleet_dir / "old-default", tmp_path / "old-default")
    answers = project / ".copier-answers.yml"
    answers.write_text(yaml.safe_dump({**yaml.safe_load(answers.read_text()), "_src_path": src_path}))
    lifecycle.commit_all(project, "Another template")
    lifecycle.copy_tree(fleet_dir / "new-default", tmp_path / "new-default")
    before = lifecycle.project_files(tmp_path / "new-default")
    result, _ = _fleet(template_repo, tmp_path, "--update", "--trust", "--format", "json")
    assert result.exit_code == 2
    assert f"names the template {src_path!r}, not {template_repo}" in " ".join(result.stderr.split())
    assert lifecycle.git(project, "log", "-1", "--format=%s").strip() == "Another template"
    assert lifecycle.project_files(tmp_path / "new-default") == before  # nothing ran on the others


def test_release_lookup_keeps_an_option_like_src_path_an_address(template_repo, tmp_path, monkeypatch):
    # `git ls-remote --upload-pack=CMD` runs CMD for the current repository's remote.
    repo = tmp_path / "here"
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", str(template_repo)], check=True)
    monkeypatch.chdir(repo)
    mark = tmp_path / "ran"
    assert releases(f"--upload-pack=touch {mark}; git-upload-pack") == ()
    assert not mark.exists()
