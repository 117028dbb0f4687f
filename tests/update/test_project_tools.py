"""What a generated project has for staying current: `make update` and Renovate's config."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_renovate_config_follows_template_releases_base_image_and_uv(render, ci):
    config = json.loads((render({"ci_provider": ci}) / "renovate.json").read_text())
    assert {"copier", "dockerfile", "custom.regex"} <= set(config["enabledManagers"])
    assert config["ignoreScripts"] is False  # migrations may run where the Renovate host allows scripts
    (uv,) = config["customManagers"]
    assert uv["depNameTemplate"] == "uv"
    assert ("pep621" in config["enabledManagers"]) == (ci == "gitlab")  # GitHub: Dependabot has uv.lock


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
