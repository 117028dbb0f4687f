"""What a generated project has for staying current: `make update` and Renovate's config."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_renovate_config_follows_template_releases_base_image_and_uv(render, ci):
    config = json.loads((render({"ci_provider": ci}) / "renovate.json").read_text())
    assert {"copier", "dockerfile", "custom.regex"} <= set(config["enabledManagers"])
    # Renovate passes copier --trust whenever scripts are allowed: never, so a migration is refused
    # and the pull request says how to run it knowingly.
    assert config["ignoreScripts"] is True
    (copier_rule,) = [rule for rule in config["packageRules"] if rule.get("matchManagers") == ["copier"]]
    assert "make update TRUST=1" in " ".join(copier_rule["prBodyNotes"])
    (uv,) = config["customManagers"]
    assert uv["depNameTemplate"] == "uv"
    assert ("pep621" in config["enabledManagers"]) == (ci == "gitlab")  # GitHub: Dependabot has uv.lock
    # GitLab's token-holding jobs pin images by digest: Renovate must move digest and tag together.
    pins = [rule for rule in config["packageRules"] if rule.get("matchManagers") == ["gitlabci"]]
    assert [rule.get("pinDigests") for rule in pins] == ([True] if ci == "gitlab" else [])


def test_no_renovate_config_without_ci(render):
    assert not (render({"ci_provider": "none"}) / "renovate.json").exists()


def test_make_update_refuses_a_dirty_tree(render, lifecycle, tmp_path):
    make = shutil.which("make")
    assert make is not None, "make is needed to run the generated Makefile"
    project = lifecycle.copy_tree(render(), tmp_path / "project")
    lifecycle.init_repo(project)
    (project / "notes.txt").write_text("not committed\n")
    done = subprocess.run([make, "update"], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "commit or stash your changes first" in done.stderr
    assert "notes.txt" in done.stderr


def _copier_recorded_by(tmp_path):
    """A `uv` for the Makefile that records its arguments, then runs this checkout's copier with
    the ones after `copier` (no download of copier: the same code, from the venv)."""
    record = tmp_path / "uv-args"
    uv = tmp_path / "uv"
    uv.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{record}"\n'
        'while [ "$1" != copier ]; do shift; done; shift\n'
        f'exec "{sys.executable}" -m copier "$@"\n'
    )
    uv.chmod(0o755)
    return uv, record


def _make_update(project, uv, *extra):
    make = shutil.which("make")
    assert make is not None, "make is needed to run the generated Makefile"
    command = [make, "update", f"UV={uv}", *extra]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, check=False, timeout=300)


def test_make_update_without_a_migration_runs_untrusted(template_repo, lifecycle, tmp_path):
    project = lifecycle.copy_release(template_repo, lifecycle.new, tmp_path / "project", {})
    lifecycle.init_repo(project)
    uv, record = _copier_recorded_by(tmp_path)
    done = _make_update(project, uv)
    assert done.returncode == 0, done.stderr
    assert "--trust" not in record.read_text()
    assert "copier update --defaults --conflict inline" in record.read_text()


def test_make_update_across_a_migration_asks_for_trust_and_changes_nothing(
    template_repo, lifecycle, tmp_path
):
    project = lifecycle.copy_release(template_repo, lifecycle.previous, tmp_path / "project", {})
    # This Makefile's `update` meeting a migration: 0.2.0 -> HEAD crosses 0.3.0's.
    head = lifecycle.copy_release(template_repo, lifecycle.new, tmp_path / "head", {})
    shutil.copy2(head / "Makefile", project / "Makefile")
    lifecycle.init_repo(project)
    uv, record = _copier_recorded_by(tmp_path)
    done = _make_update(project, uv)
    assert done.returncode != 0, done.stderr
    assert "unsafe feature: migrations" in done.stderr  # copier's own reason, then ours
    assert "crosses a template migration" in done.stderr
    assert "make update TRUST=1" in done.stderr
    assert "--trust" not in record.read_text()
    assert lifecycle.git(project, "status", "--porcelain") == ""
    # The command the message names passes --trust (recorded only: the update tier runs it trusted).
    recorder = tmp_path / "record-only"
    recorder.write_text(f'#!/bin/sh\necho "$*" > "{tmp_path / "trusted-args"}"\n')
    recorder.chmod(0o755)
    assert _make_update(project, recorder, "TRUST=1").returncode == 0
    assert "copier update --trust --defaults" in (tmp_path / "trusted-args").read_text()
