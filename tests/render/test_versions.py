"""One version from the git tag, in a scratch repository of the rendered project: `make version`,
the built wheel and the packaged chart follow a vX.Y.Z tag; untagged builds say so (issue 13).
The image's label and service are checked in tests/image/test_versions.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from generator.tools import which

# Counted from fallback_version (0.1.0) before the first tag.
DEV = re.compile(r"^0\.1\.1\.dev1\+g[0-9a-f]{7,}$")


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return env | {"PATH": path, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}


def _run(project: Path, *command: str) -> str:
    done = subprocess.run(
        command, cwd=project, env=_env(), capture_output=True, text=True, timeout=600, check=False
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def _git(project: Path, *args: str) -> str:
    return _run(project, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args)


@pytest.fixture
def scratch(default_project: Path, tmp_path: Path) -> Path:
    """The default project in a git repository of its own, one commit, no tag."""
    for tool in ("make", "git"):
        if which(tool) is None:
            pytest.skip(f"no {tool} on PATH")
    project = tmp_path / default_project.name
    shutil.copytree(default_project, project)
    _git(project, "init", "--quiet")
    _git(project, "add", "--all")
    _git(project, "commit", "--quiet", "--message", "as rendered")
    return project


def _version(project: Path) -> str:
    return _run(project, "make", "--silent", "version").strip()


def _wheel_version(project: Path) -> str:
    out = project / "dist"
    _run(project, str(which("uv")), "build", "--wheel", "--quiet", "--out-dir", str(out))
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    shutil.rmtree(out)
    return re.search(r"^Version: (.+)$", text, re.MULTILINE)[1]  # type: ignore[index]


def test_without_git_the_version_is_the_fallback(default_project: Path, tmp_path: Path):
    project = tmp_path / "no-git"
    shutil.copytree(default_project, project)
    assert _version(project) == "0.1.0"


def test_the_version_follows_the_tag(scratch: Path):
    untagged = _version(scratch)
    assert DEV.match(untagged), untagged
    assert _wheel_version(scratch) == untagged

    _git(scratch, "tag", "v1.2.3")
    assert _version(scratch) == "1.2.3"
    assert _wheel_version(scratch) == "1.2.3"

    (scratch / "NOTES.md").write_text("after the release\n", encoding="utf-8")
    _git(scratch, "add", "NOTES.md")
    _git(scratch, "commit", "--quiet", "--message", "after the release")
    after = _version(scratch)
    assert re.match(r"^1\.2\.4\.dev1\+g[0-9a-f]{7,}$", after), after


def test_image_tags_carry_the_version_without_a_plus(scratch: Path, tmp_path: Path):
    makefile = tmp_path / "Makefile"
    makefile.write_text(
        f"include {scratch / 'Makefile'}\nshow:\n\t@echo $(IMAGE_VERSION_TAG)\n", encoding="utf-8"
    )
    tag = _run(scratch, "make", "--silent", "-f", str(makefile), "show").strip()
    assert tag == _version(scratch).replace("+", "-")
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)  # a valid image tag


def test_the_released_chart_carries_the_tags_version(scratch: Path):
    if which("helm") is None:
        pytest.skip("no helm on PATH")
    _git(scratch, "tag", "v1.2.3")
    # What publish runs on the tag.
    _run(scratch, "make", "chart-package", "CHART_VERSION=1.2.3", "APP_VERSION=1.2.3")
    [package] = (scratch / "dist").glob("*.tgz")
    with tarfile.open(package) as archive:
        [member] = [m for m in archive.getmembers() if m.name.endswith("/Chart.yaml")]
        chart = yaml.safe_load(archive.extractfile(member).read())  # type: ignore[union-attr]
    assert (chart["version"], chart["appVersion"]) == ("1.2.3", "1.2.3")


def test_a_chart_packaged_between_tags_is_a_semver_pre_release(scratch: Path):
    # `make chart-package` with its defaults after a release: Helm refuses a PEP 440 dev version.
    if which("helm") is None:
        pytest.skip("no helm on PATH")
    _git(scratch, "tag", "v1.2.3")
    (scratch / "NOTES.md").write_text("after the release\n", encoding="utf-8")
    _git(scratch, "add", "NOTES.md")
    _git(scratch, "commit", "--quiet", "--message", "after the release")
    _run(scratch, "make", "chart-package")
    [package] = (scratch / "dist").glob("*.tgz")
    with tarfile.open(package) as archive:
        [member] = [m for m in archive.getmembers() if m.name.endswith("/Chart.yaml")]
        chart = yaml.safe_load(archive.extractfile(member).read())  # type: ignore[union-attr]
    sha = re.escape(_version(scratch).rsplit("+", 1)[1])
    assert re.fullmatch(rf"1\.2\.4-dev\.1\+{sha}", chart["version"]), chart["version"]
    # The image tag the chart deploys by default: what `make build`/`push` tag it.
    assert chart["appVersion"] == _version(scratch).replace("+", "-")
