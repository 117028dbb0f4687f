"""The chart as a release: `make chart-package chart-push` (what publish runs on a version tag)
puts it in an OCI registry with Docker's login, and Helm installs it from there (issue 14).

The registry is Debian's `docker-registry` (the CNCF distribution registry) on a free local port
with htpasswd auth, so a push without `docker login` is refused; Docker and Helm both allow plain
HTTP to 127.0.0.1 (Helm with `--plain-http`, which the test passes as `HELM_PUSH_FLAGS`).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from generator.chart.helm import Helm
from generator.tools import which

pytestmark = pytest.mark.docker

USER, PASSWORD = "ci", "not-a-secret"
VERSION = "1.2.3"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]) -> Iterator[str]:
    """``host:port`` of a local registry that wants USER's password; stopped after the module."""
    missing = [tool for tool in ("docker-registry", "htpasswd", "make") if which(tool) is None]
    if missing:
        pytest.skip(f"no {', '.join(missing)} on PATH (scripts/setup-engines.sh installs them)")
    root = tmp_path_factory.mktemp("registry")
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True
    ).stdout
    (root / "htpasswd").write_text(htpasswd, encoding="utf-8")
    host = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": host},
        "auth": {"htpasswd": {"realm": "test", "path": str(root / "htpasswd")}},
    }
    (root / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with (root / "log").open("wb") as log:
        server = subprocess.Popen(
            ["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=2)
            except urllib.error.HTTPError as refused:
                if refused.code == 401:  # up, and asking for the password
                    break
            except OSError:
                pass
            assert server.poll() is None, (root / "log").read_text()
            assert time.monotonic() < deadline, "the registry did not answer in 30 s"
            time.sleep(0.2)
        yield host
    finally:
        server.terminate()
        server.wait(timeout=30)


def _tools_env(helm: Helm, home: Path) -> dict[str, str]:
    """``helm`` on PATH is the test's Helm; Docker's and Helm's config live in ``home``."""
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "helm").symlink_to(helm.path)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return env | {
        "PATH": path,
        "NO_COLOR": "1",
        "DOCKER_CONFIG": str(home / "docker"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }


def _run(command: list[str], cwd: Path, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kwargs)


def test_chart_push_publishes_the_release_chart_with_dockers_login(
    default_project: Path, registry: str, helm: Helm, tmp_path: Path
):
    project = tmp_path / "project"
    shutil.copytree(default_project, project)
    env = _tools_env(helm, tmp_path / "home")
    versions = [f"CHART_VERSION={VERSION}", f"APP_VERSION={VERSION}"]
    push = [
        "make",
        "--silent",
        "chart-push",
        f"CHART_REPOSITORY={registry}/charts",
        "HELM_PUSH_FLAGS=--plain-http",
    ]

    done = _run(["make", "--silent", "chart-push", f"CHART_VERSION={VERSION}"], project, env)
    assert done.returncode != 0
    assert f"run make chart-package CHART_VERSION={VERSION} first" in done.stderr

    packaged = _run(["make", "--no-print-directory", "chart-package", *versions], project, env)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    refused = _run([*push, f"CHART_VERSION={VERSION}"], project, env)
    assert refused.returncode != 0, "the registry took a push without a login"

    login = _run(
        ["docker", "login", registry, "--username", USER, "--password-stdin"], project, env, input=PASSWORD
    )
    assert login.returncode == 0, login.stderr
    pushed = _run([*push, f"CHART_VERSION={VERSION}"], project, env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    # What publish reads: the digest Helm prints, which it signs.
    [digest] = [
        line.removeprefix("Digest: ") for line in pushed.stderr.splitlines() if line.startswith("Digest: ")
    ]

    reference = f"oci://{registry}/charts/my-model"
    shown = _run(["helm", "show", "chart", reference, "--version", VERSION, "--plain-http"], project, env)
    assert shown.returncode == 0, shown.stderr
    chart = yaml.safe_load(shown.stdout)
    assert (chart["name"], chart["version"], chart["appVersion"]) == ("my-model", VERSION, VERSION)
    rendered = _run(
        ["helm", "template", "my-model", reference, "--version", VERSION, "--plain-http"], project, env
    )
    assert rendered.returncode == 0, rendered.stderr
    [deployment] = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc and doc["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/my-org/my-model:{VERSION}"

    # The registry names the same digest, under charts/ (the image's repository is untouched).
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"http://{registry}/v2/charts/my-model/manifests/{VERSION}",
        method="HEAD",
        headers={"Authorization": f"Basic {auth}", "Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Docker-Content-Digest"] == digest
