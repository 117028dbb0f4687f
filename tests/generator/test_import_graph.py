"""No import in generator/ runs back up: each wing imports only its own modules and lower wings.

A wing is a subpackage (``engine``, ``image``, ``containers``, ...), a sub-subpackage declared as
one (``containers.podspec``), or a root module (``errors``, ``process``, ...). ``LAYERS`` orders
them lowest first; wings in one layer are independent of each other. Two checks hold it:

- every ``import`` and ``from ... import`` of every module (read with ``ast``, so imports inside
  functions and ``TYPE_CHECKING`` blocks count too) names its own wing or a lower layer's;
- importing a wing's modules in a fresh interpreter loads no module of a wing that is not
  below it (what dynamic or indirect imports would drag in).

A new subpackage or root module fails the first test until it is given a layer here.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "generator"

#: Lowest first. A wing may import its own modules and any wing of a lower layer, nothing else.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),  # GeneratorError and the process layer's errors
    ("__init__",),  # the package itself: re-exports GeneratorError
    ("process", "tools", "results", "console", "answers"),
    ("engine",),  # Docker or Podman: the client, hardened runs, the image stores
    ("project",),  # variants, render, fingerprints and digests
    ("chart", "image"),  # helm and schemas; builds, base images, image references
    ("containers",),  # the image smoke, the v2 client, Dask on containers
    ("containers.podspec", "cluster"),  # the pod-spec smoke; kind and deploys
    ("doctor",),  # asks cluster.kind whether kind can run
    ("cli",),
)
LAYER = {wing: rank for rank, wings in enumerate(LAYERS) for wing in wings}
#: Scripts cookiecutter renders and runs in a new project: parsed here, never imported.
SCRIPTS = "generator.project._cookiecutter_hooks"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def wing_of(module: str) -> str | None:
    """The longest declared wing that ``module`` (``generator.a.b``) belongs to; None if none."""
    if module == "generator":
        return "__init__"
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYER:
            return ".".join(parts[:end])
    return None


@dataclass(frozen=True)
class Import:
    importer: str
    line: int
    imported: str

    def __str__(self) -> str:
        return (
            f"{MODULES[self.importer].relative_to(ROOT)}:{self.line}: {self.imported} "
            f"({wing_of(self.importer)} -> {wing_of(self.imported)})"
        )


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def imports_of(importer: str) -> list[Import]:
    """Every generator module ``importer`` imports (``from pkg import module`` names the module)."""
    tree = ast.parse(MODULES[importer].read_text(encoding="utf-8"), filename=str(MODULES[importer]))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(importer, node)
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        found += [
            Import(importer, node.lineno, name)
            for name in dict.fromkeys(names)
            if name == "generator" or name.startswith("generator.")
        ]
    return found


def may_import(importer_wing: str, imported_wing: str) -> bool:
    return imported_wing == importer_wing or LAYER[imported_wing] < LAYER[importer_wing]


def test_every_module_belongs_to_a_declared_wing():
    assert MODULES, f"no modules found under {PACKAGE}"
    undeclared = sorted(module for module in MODULES if wing_of(module) is None)
    assert not undeclared, f"give these a layer in LAYERS: {undeclared}"
    empty = sorted(set(LAYER) - {wing_of(module) for module in MODULES})
    assert not empty, f"wings in LAYERS with no module: {empty}"


def test_every_imported_generator_module_exists():
    missing = [str(i) for m in MODULES for i in imports_of(m) if i.imported not in MODULES]
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(missing)


def test_no_import_runs_back_up():
    upward = [
        str(found)
        for module in MODULES
        for found in imports_of(module)
        if not may_import(str(wing_of(module)), str(wing_of(found.imported)))
    ]
    assert not upward, "imports of a wing that is not below the importer's (see LAYERS):\n" + "\n".join(
        upward
    )


_LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({
    "package": sys.modules["generator"].__file__,
    "loaded": sorted(m for m in sys.modules if m == "generator" or m.startswith("generator.")),
}))
"""


@pytest.mark.parametrize("wing", [wing for wings in LAYERS for wing in wings])
def test_a_wing_imported_alone_loads_nothing_above_it(wing):
    own = [
        module
        for module in MODULES
        if wing_of(module) == wing and not (module == SCRIPTS or module.startswith(f"{SCRIPTS}."))
    ]
    assert own, f"no module of {wing} to import"
    # This checkout's generator first on the path, whichever one the interpreter has installed.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *own],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["package"]).resolve() == PACKAGE / "__init__.py"
    # Python imports a module's parent packages first; their own imports are checked above.
    parents = {".".join(m.split(".")[:end]) for m in own for end in range(1, m.count(".") + 1)}
    above = [m for m in report["loaded"] if m not in parents and not may_import(wing, str(wing_of(m)))]
    assert not above, f"importing {wing} alone loads modules of wings not below it: {above}"
