"""The notebook image: `make notebook-image` builds the Dockerfile's `notebook` stage, which serves
as a JupyterHub single-user or Binder image and runs the project's example notebook (issue 13).

It is built from the locked copy the default service image was built from, so the dependency
layers come from that build's cache and only the notebook group is added.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.errors import CommandFailed
from generator.image.build import choose_base_image, project_python_version
from generator.process import run
from generator.tools import require, which

pytestmark = pytest.mark.docker

# Run inside the image after the notebook: what its last cell printed (one line per example row
# with the model's answer), and how many example rows the image's own model signature has.
REPORT = """
import json
cell = json.load(open('notebooks/example.ipynb'))['cells'][-1]
print(''.join(''.join(output.get('text', '')) for output in cell['outputs']))
print('examples:', len(json.load(open('/opt/model/signature.json'))['example']['instances']))
"""


@pytest.fixture(scope="module")
def notebook_image(default_image, ca_bundle) -> Iterator[str]:
    """The default project's notebook image, built the way a user builds it."""
    if which("make") is None:
        pytest.skip("needs make")
    project: Path = default_image.project
    base = choose_base_image(project_python_version(project))
    tag = f"dsdeploy-notebook-test:{uuid.uuid4().hex[:8]}"
    # The suite's uv (beside its Python) for the lock and version, as on a user's PATH.
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": None}
    settings = [f"NOTEBOOK_IMAGE={tag}", f"BASE_IMAGE={base}", f"CA_BUNDLE={ca_bundle.path}"]
    try:
        run(["make", "notebook-image", *settings], cwd=project, env=env, timeout=1800)
    except CommandFailed as exc:
        pytest.fail(f"make notebook-image failed:\n{exc}")
    yield tag
    run([require("docker"), "image", "rm", "--force", tag], check=False)


def _docker(*args: str, timeout: float = 300) -> str:
    return run([require("docker"), *args], timeout=timeout).stdout


def test_it_runs_as_jovyan_in_its_home_as_jupyterhub_and_binder_expect(notebook_image: str):
    assert _docker("run", "--rm", notebook_image, "sh", "-c", "id -u; id -g; id -un; pwd").split() == [
        "1000", "100", "jovyan", "/home/jovyan",
    ]  # fmt: skip
    # What JupyterHub spawns, and what Binder starts.
    for command in (["jupyterhub-singleuser", "--version"], ["jupyter", "notebook", "--version"]):
        assert _docker("run", "--rm", notebook_image, *command).strip()


def test_the_example_notebook_runs_inside_it(notebook_image: str):
    # The image's own copy of notebooks/, executed in place by nbclient (a failing cell fails the
    # command); the notebook checks its predictions against the signature before printing them.
    script = 'jupyter execute --inplace notebooks/example.ipynb >&2 && exec python -c "$0"'
    printed = _docker("run", "--rm", notebook_image, "sh", "-c", script, REPORT, timeout=600).splitlines()
    examples = int(printed[-1].removeprefix("examples: "))
    assert examples > 0
    assert len([line for line in printed if " -> " in line]) == examples, printed


def test_jupyterlab_answers_on_8888(notebook_image: str):
    container = _docker("run", "--detach", "--publish", "127.0.0.1::8888", notebook_image).strip()
    try:
        port = _docker("port", container, "8888/tcp").split(":")[-1].strip()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as answer:
                    assert "version" in json.load(answer)
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on 8888:\n{_docker('logs', container)}")
                time.sleep(0.5)
    finally:
        run([require("docker"), "rm", "--force", container], check=False)
