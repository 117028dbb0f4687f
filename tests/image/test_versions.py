"""A vX.Y.Z tag reaches the image: `make build` in a scratch repository of the rendered project
stamps the package version, the image's version label and the service's `versions` (issue 13)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from generator.image.build import choose_base_image, project_python_version
from generator.tools import require, which

pytestmark = pytest.mark.docker

READ_METADATA = (
    "import json, os, time, urllib.request as u\n"
    "for _ in range(120):\n"
    "    try:\n"
    "        url = 'http://127.0.0.1:8080/v2/models/' + os.environ['NAME']\n"
    "        print(json.dumps(json.load(u.urlopen(url))))\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.5)\n"
)


def _run(command: list[str], cwd: Path | None = None, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    full |= {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    full |= {"UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1", **env}
    done = subprocess.run(
        command, cwd=cwd, env=full, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_a_version_tag_reaches_the_package_label_and_service(
    default_project: Path, ca_bundle, tmp_path: Path
):
    if which("make") is None or which("git") is None:
        pytest.skip("needs make and git")
    base = choose_base_image(project_python_version(default_project))
    if base is None:
        pytest.skip("no base image for the default project here")
    project = tmp_path / default_project.name
    shutil.copytree(default_project, project)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    _run([*git, "init", "--quiet"], project)
    _run([*git, "add", "--all"], project)
    _run([*git, "commit", "--quiet", "--message", "as rendered"], project)
    _run([*git, "tag", "v1.2.3"], project)
    image = f"dsdeploy-version-test:{uuid.uuid4().hex[:8]}"
    docker = str(require("docker"))
    try:
        # The user's `make build`: the lock is made first (uv.lock target), the version from git.
        _run(
            ["make", "build", f"IMAGE={image}", f"BASE_IMAGE={base}", f"CA_BUNDLE={ca_bundle.path}"], project
        )
        labels = json.loads(_run([docker, "image", "inspect", "--format", "{{json .Config.Labels}}", image]))
        assert labels["org.opencontainers.image.version"] == "1.2.3"
        # The service in the image, asked for its metadata from inside the container.
        package = _answer(default_project, "package_name")
        serve = f'python -m {package}.serve >/dev/null 2>&1 & exec python -c "$0"'
        metadata = json.loads(
            _run([docker, "run", "--rm", "--read-only", "--tmpfs", "/tmp",
                  "--env", f"NAME={_answer(default_project, 'project_slug')}",
                  image, "sh", "-c", serve, READ_METADATA])
        )  # fmt: skip
        assert metadata["versions"] == ["1.2.3"]
    finally:
        subprocess.run([docker, "image", "rm", "--force", image], capture_output=True, check=False)


def _answer(project: Path, name: str) -> str:
    answers = project.joinpath(".copier-answers.yml").read_text(encoding="utf-8")
    return next(line.split(": ", 1)[1] for line in answers.splitlines() if line.startswith(f"{name}: "))
