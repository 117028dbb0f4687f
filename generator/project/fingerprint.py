"""Fingerprints of rendered projects, to run each distinct project once.

Many variants render identical Python code, dependencies or charts (a license choice changes
only LICENSE). Tests group variants by the digest of the parts they exercise and run one
representative of each group, which keeps the full matrix within CI's time.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from pathlib import Path

# The parts of pyproject.toml that change how the code installs, lints or tests.
_PYPROJECT_KEYS = ("requires-python", "dependencies", "optional-dependencies")


def tree_digest(root: Path, parts: Iterable[str]) -> str:
    """SHA-256 over the relative paths and contents of the files under ``parts`` of ``root``.

    Missing parts count as empty, so a variant without a folder differs from one with it.
    """
    digest = hashlib.sha256()
    for part in sorted(parts):
        base = root / part
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in files:
            if not path.exists() or "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def python_digest(project: Path) -> str:
    """Digest of what the project's own lint and tests see: code, tests, and install metadata."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    meta = pyproject.get("project", {})
    install = {key: meta.get(key) for key in _PYPROJECT_KEYS}
    install["dependency-groups"] = pyproject.get("dependency-groups")
    install["tool"] = pyproject.get("tool")
    install["build-system"] = pyproject.get("build-system")
    digest = hashlib.sha256(repr(sorted(install.items())).encode())
    digest.update(tree_digest(project, ["src", "tests"]).encode())
    return digest.hexdigest()
