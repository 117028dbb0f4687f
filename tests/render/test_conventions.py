"""The generated project's everyday conventions, run for real: the pinned Python and `make`'s
colour (issue 13)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.project.variants import load_axes
from generator.tools import find_python, which

ESC = "\x1b["


def _make_env(**extra: str) -> dict[str, str]:
    """The user's shell: uv on PATH (beside this interpreter), no venv leaking in, colour allowed."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "NO_COLOR", "UV_PYTHON_DOWNLOADS"}}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env.update(extra)
    return env


def _make(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _on_a_terminal(project: Path, command: str, env: dict[str, str]) -> str:
    """``command``'s output as a terminal shows it (util-linux `script` gives it a pty)."""
    done = subprocess.run(
        ["script", "--quiet", "--return", "--command", command, "/dev/null"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def make_project(default_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if which("make") is None:
        pytest.skip("no make on PATH")
    copy = tmp_path_factory.mktemp("conventions") / default_project.name
    shutil.copytree(default_project, copy)
    return copy


# --- 1. the pinned Python -------------------------------------------------------------------
def test_python_version_is_the_answer(render):
    for python in next(axis for axis in load_axes() if axis.name == "python_version").values:
        project = render({"python_version": python})
        assert (project / ".python-version").read_text(encoding="utf-8") == f"{python}\n"


def test_make_finds_the_pinned_python_when_it_is_installed(make_project: Path):
    pinned = (make_project / ".python-version").read_text(encoding="utf-8").strip()
    python = find_python(pinned)
    if python is None:
        pytest.skip(f"no Python {pinned} on this machine")
    env = _make_env(PATH=os.pathsep.join([str(python.parent), _make_env()["PATH"]]))
    done = _make(make_project, "python", env=env)
    assert done.returncode == 0, done.stderr


def test_make_says_what_to_install_and_downloads_nothing(make_project: Path, tmp_path: Path):
    # A version no machine has: `make lock` must stop before uv, name what to install, and leave
    # uv's interpreter store empty (no download behind the user's back).
    project = tmp_path / "project"
    shutil.copytree(make_project, project)
    (project / ".python-version").write_text("3.99\n", encoding="utf-8")
    store = tmp_path / "uv-python"
    done = _make(project, "lock", env=_make_env(UV_PYTHON_INSTALL_DIR=str(store)))
    assert done.returncode != 0
    assert "Python 3.99 (the project's .python-version) is not installed" in done.stderr
    assert "uv python install 3.99" in done.stderr
    assert "pyenv install 3.99" in done.stderr
    assert not (project / "uv.lock").exists()
    assert not store.exists() or not any(store.iterdir())


def test_make_exports_no_interpreter_downloads_to_uv(make_project: Path, tmp_path: Path):
    # The recipe's environment is what uv sees: `never` unless the user chose otherwise.
    makefile = tmp_path / "Makefile"
    makefile.write_text(
        f'include {make_project / "Makefile"}\nshow-downloads:\n\t@echo "$$UV_PYTHON_DOWNLOADS"\n',
        encoding="utf-8",
    )
    for chosen, seen in ((None, "never"), ("automatic", "automatic")):
        env = _make_env(**({"UV_PYTHON_DOWNLOADS": chosen} if chosen else {}))
        done = _make(make_project, "-s", "-f", str(makefile), "show-downloads", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == seen


# --- 7. colour only on a terminal ------------------------------------------------------------
def test_make_help_is_plain_text_when_piped(make_project: Path):
    done = _make(make_project, "help", env=_make_env())
    assert done.returncode == 0, done.stderr
    assert "lock" in done.stdout
    assert ESC not in done.stdout


@pytest.mark.skipif(shutil.which("script") is None, reason="no util-linux `script` for a pty")
def test_make_help_has_colour_on_a_terminal(make_project: Path):
    assert ESC in _on_a_terminal(make_project, "make help", _make_env())


@pytest.mark.skipif(shutil.which("script") is None, reason="no util-linux `script` for a pty")
def test_make_help_honours_no_color_on_a_terminal(make_project: Path):
    output = _on_a_terminal(make_project, "make help", _make_env(NO_COLOR="1"))
    assert "lock" in output
    assert ESC not in output


# --- 6. the devcontainer --------------------------------------------------------------------
def _stages(dockerfile: str) -> dict[str, str]:
    """The Dockerfile's named stages: name to the instructions of that stage."""
    stages: dict[str, str] = {}
    name = None
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            name = words[3] if len(words) >= 4 and words[2].upper() == "AS" else None
            if name:
                stages[name] = ""
        elif name:
            stages[name] += line + "\n"
    return stages


def test_devcontainer_builds_on_the_dockerfiles_dependency_stage(render):
    for framework in next(axis for axis in load_axes() if axis.name == "model_framework").values:
        project = render({"model_framework": framework})
        folder = project / ".devcontainer"
        config = json.loads((folder / "devcontainer.json").read_text(encoding="utf-8"))
        build = config["build"]
        dockerfile = (folder / build["dockerfile"]).resolve()
        assert dockerfile == (project / "Dockerfile").resolve()
        assert (folder / build["context"]).resolve() == project.resolve()
        stages = _stages(dockerfile.read_text(encoding="utf-8"))
        assert build["target"] == "deps"
        deps = stages[build["target"]]
        # The tools the PATH names are made in that stage: uv's own venv and the project's.
        assert "python3 -m venv /opt/uv" in deps
        assert "UV_PROJECT_ENVIRONMENT=/opt/venv" in deps
        path = config["remoteEnv"]["PATH"].split(":")
        assert path[:2] == ["/opt/venv/bin", "/opt/uv/bin"]
        # The dev group (ruff, pytest, pre-commit) on top of the stage's runtime dependencies.
        assert config["postCreateCommand"].startswith("uv sync && ")
