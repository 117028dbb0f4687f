"""`copier update` to HEAD from release 0.1.0 (through every migration since) and from 0.2.0
(4676a5e, the release before HEAD), and HEAD to HEAD.

Each covering variant (every Kubeflow x Dask combination, every CI provider) is rendered at each
start release, edited as a user would (estimator, data, chart sizing, README, own files) and
updated once per session (``updated_projects``); the tests below read the results.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import copier.errors
import pytest


def test_update_leaves_no_conflict_markers_or_rejects(update_case, updated_projects, lifecycle):
    assert lifecycle.conflicted_files(updated_projects[update_case].project) == []


def test_update_equals_fresh_render_plus_user_edits(update_case, updated_projects, lifecycle):
    updated = updated_projects[update_case]
    got = lifecycle.project_files(updated.project)
    want = lifecycle.project_files(updated.expected)
    assert sorted(got) == sorted(want), "files differ: " + ", ".join(sorted(set(got) ^ set(want)))
    differing = [name for name in want if got[name] != want[name]]
    detail = "".join(
        difflib.unified_diff(
            want[name].decode(errors="replace").splitlines(keepends=True),
            got[name].decode(errors="replace").splitlines(keepends=True),
            f"expected/{name}",
            f"updated/{name}",
        )
        for name in differing[:3]
    )
    assert differing == [], detail


def test_user_edits_survive_the_update(update_case, updated_projects, lifecycle):
    updated = updated_projects[update_case]
    project, package = updated.project, updated.answers["package_name"]
    model = (project / "src" / package / "model.py").read_text()
    train = (project / "src" / package / "train.py").read_text()
    values = (project / "charts" / updated.answers["project_slug"] / "values.yaml").read_text()
    assert "RandomForestClassifier(n_estimators=200, max_depth=4" in model
    assert "LogisticRegression" not in model
    assert "wine = load_wine()" in train
    assert "replicaCount: 3\n" in values
    assert "    cpu: 500m\n    memory: 1Gi\n" in values
    assert lifecycle.readme_paragraph in (project / "README.md").read_text()
    assert (project / "src" / package / "features.py").read_text() == lifecycle.own_module
    assert (project / "docs" / "runbook.md").is_file()


def test_update_brings_the_new_layout_and_records_the_release(update_case, updated_projects, lifecycle):
    updated = updated_projects[update_case]
    project, package = updated.project, updated.answers["package_name"]
    assert (project / "src" / package / "serving" / "service.py").is_file()
    assert (project / "tests" / "serving" / "test_service.py").is_file()
    for gone in ("batching.py", "config.py", "metrics.py", "protocol.py"):
        assert not (project / "src" / package / gone).exists(), gone
    assert not (project / "tests" / "test_serve.py").exists()
    assert len((project / "src" / package / "serve.py").read_text().splitlines()) < 10
    assert f"_commit: {lifecycle.new}\n" in (project / ".copier-answers.yml").read_text()


def test_updated_project_lints_clean(update_case, updated_projects, lifecycle):
    project = updated_projects[update_case].project
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    lifecycle.run_in(project, [lifecycle.ruff(), "check", "--no-cache", "."], env)
    lifecycle.run_in(project, [lifecycle.ruff(), "format", "--check", "--no-cache", "."], env)


def test_updated_default_project_passes_its_own_lint_and_tests(updated_projects, lifecycle, uv_env, tmp_path):
    # One project runs its own `uv sync`, ruff and pytest (the others share its code paths and
    # are linted above); the first covering variant is the all-defaults one.
    updated = next(iter(updated_projects.values()))
    uv, python = lifecycle.uv_and_python(str(updated.answers["python_version"]))
    project = lifecycle.copy_tree(updated.project, tmp_path / "project")
    lifecycle.run_in(project, [uv, "sync", "--quiet", "--python", str(python)], uv_env)
    lifecycle.run_in(project, [uv, "run", "--no-sync", "ruff", "check", "."], uv_env)
    lifecycle.run_in(project, [uv, "run", "--no-sync", "ruff", "format", "--check", "."], uv_env)
    # Its serving code is the fresh render's (test_update_equals_fresh_render_plus_user_edits),
    # whose runtime and notebook tests run in the render tier's whole suites: about 4 min saved.
    quick = ["-m", "not runtime and not notebook"]
    out = lifecycle.run_in(
        project, [uv, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", *quick], uv_env
    )
    assert " passed" in out
    assert " failed" not in out


@pytest.mark.parametrize("start", ["old", "previous"])
def test_crossing_a_migration_needs_trust(start, template_repo, lifecycle, tmp_path):
    project = lifecycle.copy_release(template_repo, getattr(lifecycle, start), tmp_path / "project", {})
    lifecycle.init_repo(project)
    with pytest.raises(copier.errors.UnsafeTemplateError):
        lifecycle.update(project, trust=False)


def test_same_lines_changed_on_both_sides_show_inline_markers(template_repo, lifecycle, tmp_path):
    project = lifecycle.copy_release(template_repo, lifecycle.old, tmp_path / "project", {})
    lifecycle.init_repo(project)
    values = project / "charts" / "my-model" / "values.yaml"
    text = values.read_text()
    old = (
        "## @param terminationGracePeriodSeconds Time the server gets to finish requests after SIGTERM\n"
        "terminationGracePeriodSeconds: 30\n"
    )
    assert old in text
    mine = "## @param terminationGracePeriodSeconds Batch clients wait\nterminationGracePeriodSeconds: 60\n"
    values.write_text(text.replace(old, mine))
    lifecycle.commit_all(project, "A longer grace period")
    lifecycle.update(project)
    merged = values.read_text()
    # Between the markers: the user's lines, then the template's new ones.
    ours = merged.index("<<<<<<< before updating\n")
    theirs = merged.index("=======\n", ours)
    end = merged.index(">>>>>>> after updating\n", theirs)
    assert "## @param terminationGracePeriodSeconds Batch clients wait\n" in merged[ours:theirs]
    assert "once shutdown.delaySeconds is over" in merged[theirs:end]
    assert "terminationGracePeriodSeconds: 60\n" in merged
    status = lifecycle.git(project, "status", "--porcelain")
    assert "UU charts/my-model/values.yaml" in status.splitlines()
    assert lifecycle.conflicted_files(project) == ["charts/my-model/values.yaml"]


def test_update_to_the_same_release_changes_nothing(template_repo, lifecycle, tmp_path):
    project = lifecycle.copy_release(template_repo, lifecycle.new, tmp_path / "project", {})
    lifecycle.init_repo(project)
    lifecycle.update(project, trust=False)  # no migration between equal versions: no --trust
    assert lifecycle.git(project, "status", "--porcelain") == ""


def test_migration_sets_aside_an_edited_serving_module_and_reports_moved_imports(
    template_repo, lifecycle, tmp_path, capfd
):
    project = lifecycle.copy_release(template_repo, lifecycle.old, tmp_path / "project", {})
    lifecycle.init_repo(project)
    serve = project / "src" / "my_model" / "serve.py"
    edited = serve.read_text().replace("RETRY_AFTER_SECONDS = 1 ", "RETRY_AFTER_SECONDS = 2 ")
    assert edited != serve.read_text()
    serve.write_text(edited)
    (project / "src" / "my_model" / "report.py").write_text(
        '"""Our report."""\n\nfrom .model import Model, build_estimator, load_model\n\n__all__ = ["Model", '
        '"build_estimator", "load_model"]\n'
    )
    lifecycle.commit_all(project, "Clients retry later; our report")
    capfd.readouterr()
    lifecycle.update(project)
    err = capfd.readouterr().err
    assert lifecycle.conflicted_files(project) == []
    assert "RETRY_AFTER" not in serve.read_text()  # the 0.2.0 entry point, not a merge
    assert (project / "src" / "my_model" / "serve.py.pre-0.2.0").read_text() == edited
    assert "src/my_model/serve.py had local changes" in err
    assert "src/my_model/serving/service.py" in err
    assert "src/my_model/report.py:3 imports Model, load_model from my_model.model" in err
    assert "my_model.serving.artifact" in err


@pytest.mark.parametrize(("script", "start"), [("migrate_0_2_0.py", "old"), ("migrate_0_3_0.py", "previous")])
def test_migration_run_again_changes_nothing(
    script, start, updated_projects, template_repo, lifecycle, tmp_path
):
    # A project updated from the release the migration starts at, its script run once more.
    version_from = getattr(lifecycle, start)
    updated = next(u for u in updated_projects.values() if u.start == version_from)
    project = lifecycle.copy_tree(updated.project, tmp_path / "project")
    lifecycle.commit_all(project, "Updated")
    before = lifecycle.project_files(project)
    for stage in ("before", "after"):
        command = [sys.executable, str(Path(template_repo, "hooks", script)), stage, version_from]
        subprocess.run(command, cwd=project, check=True)
    assert lifecycle.project_files(project) == before
    assert lifecycle.git(project, "status", "--porcelain") == ""


def test_migration_0_3_0_keeps_edits_of_kept_lines_and_sets_aside_edits_of_moved_code(
    template_repo, lifecycle, tmp_path, capfd
):
    project = lifecycle.copy_release(template_repo, lifecycle.previous, tmp_path / "project", {})
    lifecycle.init_repo(project)
    serving = project / "src" / "my_model" / "serving"
    service = serving / "service.py"
    text = service.read_text()
    # A line 0.3.0 kept in service.py (the start-up's log line), and a constant it moved out.
    kept = ('"Uvicorn running on %s (Press CTRL+C to quit)"', '"Serving on %s (Ctrl+C stops it)"')
    moved = ("RETRY_AFTER_SECONDS = 1 ", "RETRY_AFTER_SECONDS = 2 ")
    for old, _ in (kept, moved):
        assert old in text
    edited = text.replace(*kept).replace(*moved)
    service.write_text(edited)
    protocol = serving / "protocol.py"
    asked = '"""An output the client asks for by name."""'
    ours = '"""An output the client asks for (ours)."""'
    assert asked in protocol.read_text()
    protocol.write_text(protocol.read_text().replace(asked, ours))
    (project / "src" / "my_model" / "retry.py").write_text(
        '"""Our retry policy."""\n\nfrom .serving.service import RETRY_AFTER_SECONDS, create_app\n\n'
        '__all__ = ["RETRY_AFTER_SECONDS", "create_app"]\n'
    )
    lifecycle.commit_all(project, "Our start-up message, retry delay and retry policy")
    capfd.readouterr()
    lifecycle.update(project)
    err = capfd.readouterr().err
    assert lifecycle.conflicted_files(project) == []
    # The edit of moved code: 0.3.0's file stands, the user's copy beside it, and where it went.
    new_service = service.read_text()
    assert (serving / "service.py.pre-0.3.0").read_text() == edited
    assert '"Uvicorn running on %s (Press CTRL+C to quit)"' in new_service
    assert "src/my_model/serving/service.py had local changes to code 0.3.0 moved" in err
    assert "RETRY_AFTER_SECONDS -> serving/steps.py" in err
    # An edit of lines 0.3.0 kept is merged in place, nothing set aside.
    assert ours in protocol.read_text()
    assert "class ErrorResponse(BaseModel):" in protocol.read_text()  # and 0.3.0's file around it
    assert not (serving / "protocol.py.pre-0.3.0").exists()
    assert "protocol.py had local changes" not in err
    # The user's import of a moved name is reported; create_app did not move.
    assert (
        "src/my_model/retry.py:3 imports RETRY_AFTER_SECONDS from my_model.serving.service; 0.3.0 moved it "
        "to my_model.serving.steps" in err
    )
    assert "imports create_app" not in err
    # The index entry `before` staged is released: git sees protocol.py as any file 0.3.0 changed.
    status = lifecycle.git(project, "status", "--porcelain", "--", "src/my_model/serving/").splitlines()
    codes = {line[3:]: line[:2] for line in status}
    assert codes["src/my_model/serving/protocol.py"] == codes["src/my_model/serving/artifact.py"]
