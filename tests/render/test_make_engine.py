"""The rendered Makefile's image targets switch engine with CONTAINER_ENGINE (docker by default).

``make -n`` prints what each target would run; the commands are read back with shlex (line
continuations joined), so the test checks the argument lists make hands the shell.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from generator.tools import which

CA = "/etc/ssl/certs/ca-certificates.crt"
# A fixed VERSION keeps make from asking setuptools-scm (and so uv) for one.
FIXED = ("VERSION=0.1.0", f"CA_BUNDLE={CA}")


def _commands(project: Path, *args: str) -> list[list[str]]:
    if which("make") is None:
        pytest.skip("no make on PATH")
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args, *FIXED],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [shlex.split(line) for line in done.stdout.replace("\\\n", " ").splitlines() if line.strip()]


def _one(commands: list[list[str]], *prefix: str) -> list[str]:
    found = [command for command in commands if tuple(command[: len(prefix)]) == prefix]
    assert len(found) == 1, commands
    return found[0]


BUILD = {"docker": ("docker", "buildx", "build", "--load"), "podman": ("podman", "build")}


@pytest.mark.parametrize("engine", ["docker", "podman"])
@pytest.mark.parametrize("target", ["build", "notebook-image"])
def test_image_builds_use_the_engine_with_the_ca_as_a_secret(default_project: Path, engine: str, target: str):
    chosen = () if engine == "docker" else (f"CONTAINER_ENGINE={engine}",)
    commands = _commands(default_project, target, *chosen)
    build = _one(commands, *BUILD[engine])
    assert build[build.index("--secret") + 1] == f"id=ca_bundle,src={CA}"
    assert "MODEL_SOURCE=train" in build  # buildah builds the model stage only when it is a build arg
    # Podman before 4.4 mounts stale stages from its layer cache: its builds skip that cache.
    assert ("--no-cache" in build) == (engine == "podman")
    other = "podman" if engine == "docker" else "docker"
    assert not [command for command in commands if command[0] == other]


def test_push_with_podman_builds_then_pushes_the_same_tag(default_project: Path):
    commands = _commands(default_project, "push", "CONTAINER_ENGINE=podman")
    build = _one(commands, "podman", "build")
    tag = build[build.index("-t") + 1]
    assert build[build.index("--secret") + 1] == f"id=ca_bundle,src={CA}"
    assert _one(commands, "podman", "push") == ["podman", "push", tag]


def test_push_with_docker_is_one_buildx_push(default_project: Path):
    commands = _commands(default_project, "push")
    _one(commands, "docker", "buildx", "build", "--push")
    assert not [command for command in commands if command[:2] == ["docker", "push"]]


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_login_uses_the_engine(default_project: Path, engine: str):
    commands = _commands(default_project, "login", f"CONTAINER_ENGINE={engine}")
    assert _one(commands, engine, "login")


def test_an_unknown_engine_is_refused_naming_the_choices(default_project: Path):
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "build", "CONTAINER_ENGINE=nerdctl", *FIXED],
        cwd=default_project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "CONTAINER_ENGINE=nerdctl is not supported: use CONTAINER_ENGINE=docker or CONTAINER_ENGINE=podman"
        in (done.stderr)
    )


def test_an_engine_meant_for_other_tools_leaves_other_targets_alone(default_project: Path):
    # Only image targets read CONTAINER_ENGINE: `make test` runs whatever the environment says.
    commands = _commands(default_project, "test", "CONTAINER_ENGINE=nerdctl")
    assert _one(commands, "uv", "run", "pytest")


def test_deploy_refuses_podman_and_says_what_to_do(default_project: Path):
    done = subprocess.run(
        ["make", "--no-print-directory", "deploy", "CONTAINER_ENGINE=podman", *FIXED],
        cwd=default_project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "make push CONTAINER_ENGINE=podman" in done.stderr


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_model_image_builds_the_model_folder_with_the_engine(default_project: Path, engine: str):
    # The model folder is the whole build context: nothing else of the project reaches the image.
    commands = _commands(default_project, "model-image", f"CONTAINER_ENGINE={engine}", "MODEL_DIR=imported")
    build = _one(commands, *BUILD[engine])
    assert build[build.index("-f") + 1] == "model.Dockerfile"
    assert build[-1] == "imported"
    assert build[build.index("-t") + 1] == "my-model-model:0.1.0"
