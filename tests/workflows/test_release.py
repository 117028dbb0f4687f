"""The release workflow: its build step makes the wheel and the cookiecutter tree, and its publish
step puts the tree on the `cookiecutter` branch and a tag, where cookiecutter and cruft read it.

The steps' own commands run here (parsed from release.yml), against a local bare repository
standing in for GitHub.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

from generator.project import cookiecutter_tree
from generator.project.source import template_root

TREE_IN_WHEEL = "generator/_template/cookiecutter/"


@pytest.fixture(scope="module")
def release(repo_workflows):
    [path] = [path for path in repo_workflows if path.name == "release.yml"]
    return yaml.safe_load(path.read_text())


def _step(workflow, name):
    [job] = workflow["jobs"].values()
    [step] = [step for step in job["steps"] if step.get("name") == name]
    return step


def _run(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=template_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout + done.stderr


def _git(*args: str | Path) -> str:
    return subprocess.run(["git", *map(str, args)], capture_output=True, text=True, check=True).stdout


def test_release_runs_on_version_tags_with_least_privilege(release):
    assert release[True] == {"push": {"tags": ["v*"]}}  # YAML reads `on` as True
    assert release["permissions"] == {}
    [job] = release["jobs"].values()
    assert job["permissions"] == {"contents": "write"}  # the branch and tag push, nothing else


@pytest.fixture(scope="module")
def built(release, tmp_path_factory) -> Path:
    """RUNNER_TEMP after the workflow's build step ran in this checkout."""
    runner_temp = tmp_path_factory.mktemp("runner-temp")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update({"RUNNER_TEMP": str(runner_temp), "UV_PYTHON_DOWNLOADS": "never"})
    _run(_step(release, "Build the wheel and the cookiecutter tree")["run"], env)
    return runner_temp


def test_build_step_makes_the_tree_and_a_wheel_carrying_it(built):
    fresh = cookiecutter_tree.build()
    tree = cookiecutter_tree.read_tree(built / "cookiecutter")
    assert cookiecutter_tree.differences(fresh, tree) == []
    (wheel,) = (built / "dist").glob("dsdeploy-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = {
            name.removeprefix(TREE_IN_WHEEL): archive.read(name)
            for name in archive.namelist()
            if name.startswith(TREE_IN_WHEEL)
        }
    assert carried == {name: content for name, (content, _) in fresh.items()}


def test_publish_step_puts_each_release_on_the_branch_and_a_tag(release, built, tmp_path):
    step = _step(release, "Publish the cookiecutter tree")
    words = shlex.split(step["run"])
    assert words[:2] == ["scripts/publish-cookiecutter.sh", "$RUNNER_TEMP/cookiecutter"]
    assert step["env"]["VERSION"] == "${{ github.ref_name }}"
    remote = tmp_path / "dsdeploy.git"
    _git("init", "-q", "--bare", remote)
    # GitHub's remote URL stands in as a local bare repository; the rest of the command as written.
    assert words[-1].startswith("https://x-access-token:${GH_TOKEN}@github.com/")
    command = step["run"].rsplit(None, 1)[0] + f" {shlex.quote(str(remote))}"
    env = {**os.environ, "RUNNER_TEMP": str(built), "VERSION": "v0.3.0"}
    _run(command, env)
    # A later release: a file the template dropped is gone from the branch, history goes on.
    later = tmp_path / "later"
    cookiecutter_tree.write(cookiecutter_tree.read_tree(built / "cookiecutter"), later)
    (later / "hooks" / "post_gen_project.py").unlink()
    later_command = command.replace('"$RUNNER_TEMP/cookiecutter"', shlex.quote(str(later)))
    _run(later_command, {**env, "VERSION": "v0.3.1"})

    log = _git("-C", remote, "log", "--format=%s", "cookiecutter").splitlines()
    assert log == ["cookiecutter tree of dsdeploy v0.3.1", "cookiecutter tree of dsdeploy v0.3.0"]
    assert set(_git("-C", remote, "tag").split()) == {"cookiecutter-v0.3.0", "cookiecutter-v0.3.1"}

    def files(ref: str) -> list[str]:
        return _git("-C", remote, "ls-tree", "-r", "--name-only", ref).splitlines()

    assert "hooks/post_gen_project.py" in files("cookiecutter-v0.3.0")
    assert "hooks/post_gen_project.py" not in files("cookiecutter")
    # What the README tells cookiecutter users to type, with the local remote for gh:ORG/dsdeploy.
    config = tmp_path / "cc.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\n")
    project = cookiecutter(
        f"file://{remote}", checkout="cookiecutter-v0.3.0", no_input=True, output_dir=str(tmp_path / "out"),
        config_file=str(config),
    )  # fmt: skip
    assert (Path(project) / "src" / "my_model" / "serving").is_dir()
