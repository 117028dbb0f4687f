"""Migration to 0.3.0: the serving modules split by job, so code moved between files of ``serving/``.

``service.py`` kept the app's assembly and lifecycle and gave its routes, fast path and request
steps to modules of their own; ``protocol.py`` and ``artifact.py`` gave away their checks and
answers. All of ``serving/`` is the template's, but a user may have edited it. Copier runs this
twice during an update that crosses 0.3.0 (``_migrations`` in copier.yml):

``before``
    For each split module the user changed since their release, the index gets the release's
    content (the user's copy is held in ``.git/dsdeploy-migrate-0.3.0/``), so copier writes the
    0.3.0 file without conflict markers.

``after``
    The user's changes are merged into the 0.3.0 file line by line when they touch lines 0.3.0
    kept; when they touch code that moved, the 0.3.0 file stays as it is and the user's copy is
    left beside it as ``<name>.pre-0.3.0``, named on stderr with where the code went. Imports of
    moved names in the user's own files are reported with their new module, never rewritten.

Idempotent: on the 0.3.0 layout, or with nothing held back, it does nothing.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from _migration import Migration, merge_lines, run_stage, user_imports

MIGRATION = Migration("0.3.0")
say = MIGRATION.say
OLD_HOME = "template/src/{{package_name}}/serving"  # plain files, the same in every variant
SPLIT = ("service.py", "protocol.py", "artifact.py")
FIRST_NEW = "steps.py"  # a module 0.3.0 adds: present means the project is on the new layout


def before(package: str, version_from: str) -> None:
    """Hold back the user's edited copies of the split modules; stage their release's content."""
    serving = Path("src", package, "serving")
    if (serving / FIRST_NEW).is_file():
        return  # already on the 0.3.0 layout (a second run)
    for name in SPLIT:
        path = serving / name
        if path.is_file():
            MIGRATION.hold_back(path, MIGRATION.old_file(version_from, f"{OLD_HOME}/{name}"))


def after(package: str, version_from: str) -> None:
    """Merge in or set aside what ``before`` held back, then report imports of moved names."""
    serving = Path("src", package, "serving")
    home = homes(serving)  # where each name of the 0.3.0 serving package is defined
    for name in SPLIT:
        path = serving / name
        user = MIGRATION.held(path)
        if user is None:
            continue
        base = MIGRATION.old_file(version_from, f"{OLD_HOME}/{name}")
        merged, clean = merge_lines(user, base, path.read_text(encoding="utf-8"))
        if clean:
            path.write_text(merged, encoding="utf-8")
        else:
            aside = path.with_name(f"{name}.pre-0.3.0")
            aside.write_text(user, encoding="utf-8")
            say(
                f"{path} had local changes to code 0.3.0 moved: {moved_to(home, base, path)}. "
                f"Your version is in {aside}: port the change there, then delete it."
            )
        MIGRATION.release(path)
    MIGRATION.finish()
    report_moved_imports(package, serving, home)


def defined_names(text: str) -> set[str]:
    """What a module defines at its top level: functions, classes and assigned names."""
    names: set[str] = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def top_level_names(text: str) -> set[str]:
    """What ``from module import x`` finds in a module: what it defines and what it imports."""
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.parse(text).body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    return defined_names(text) | imported


def homes(serving: Path) -> dict[str, str]:
    """Each name ``serving/`` defines, and the module defining it (the first, by file name)."""
    found: dict[str, str] = {}
    for module in sorted(serving.glob("*.py")):
        for name in defined_names(module.read_text(encoding="utf-8")):
            found.setdefault(name, module.stem)
    return found


def moved_to(home: dict[str, str], old: str, new: Path) -> str:
    """Where the definitions ``old`` had and ``new`` lacks went, as ``name -> module`` pairs."""
    gone = sorted(top_level_names(old) - top_level_names(new.read_text(encoding="utf-8")))
    return ", ".join(f"{name} -> serving/{home[name]}.py" for name in gone if name in home) or "see serving/"


def report_moved_imports(package: str, serving: Path, home: dict[str, str]) -> None:
    """Name each import, in the project's own Python files, of a name 0.3.0 moved between modules."""
    for path, node in user_imports():
        if not isinstance(node, ast.ImportFrom):
            continue
        module = serving_module(node, package)
        if module is None or not (serving / f"{module}.py").is_file():
            continue
        present = top_level_names((serving / f"{module}.py").read_text(encoding="utf-8"))
        for alias in node.names:
            if alias.name not in present and alias.name in home:
                say(
                    f"{path}:{node.lineno} imports {alias.name} from {package}.serving.{module}; 0.3.0 "
                    f"moved it to {package}.serving.{home[alias.name]}: import from there."
                )


def serving_module(node: ast.ImportFrom, package: str) -> str | None:
    """The ``serving`` module an import reads from (``<package>.serving.x`` or ``.serving.x``)."""
    name = node.module or ""
    if node.level == 0 and name.startswith(f"{package}.serving."):
        return name.removeprefix(f"{package}.serving.")
    if node.level == 1 and name.startswith("serving."):
        return name.removeprefix("serving.")
    return None


if __name__ == "__main__":
    raise SystemExit(run_stage(sys.argv[1:], before, after))
