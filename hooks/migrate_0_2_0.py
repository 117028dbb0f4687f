"""Migration to 0.2.0: the serving code moved from ``<package>/*.py`` to ``<package>/serving/``.

Copier runs this twice during an update that crosses 0.2.0 (``_migrations`` in copier.yml):

``before``
    Copier has rendered the old version but not yet diffed the project against it. For the
    files this move changes, the index gets their 0.1.0 content (the user's own version is kept
    in ``.git/dsdeploy-migrate-0.2.0/``), so copier's line merge sees no local change in them
    and writes the 0.2.0 files cleanly instead of conflict markers.

``after``
    Copier has written 0.2.0. Two kinds of files were held back:

    - ``model.py`` and ``train.py`` mixed the template's plumbing (Model, save/load, metrics
      output) with the user's estimator and data in 0.1.0; in 0.2.0 they are the user's. The
      user's version is merged into the 0.2.0 file one top-level definition at a time: what
      the user changed (an estimator, a data loader, a helper, an import) is carried over,
      what the template changed is taken, and a definition both changed is line-merged (conflict
      markers only where the same lines changed, named on stderr).
    - ``serve.py``, ``config.py``, ``protocol.py``, ``batching.py`` and ``metrics.py`` were the
      template's; the user's edited copy of each is left beside it as ``<name>.py.pre-0.2.0``
      to port into ``serving/`` by hand, and named on stderr.

    Imports of moved names in the user's other files are reported with their new module,
    never rewritten.

The 0.1.0 files both stages compare against are read from the template's own history at the
release the project was made from (``_version_from``: copier runs this script from its checkout
of the template, history included), so no copy of them is kept beside this script.

Idempotent: with nothing held back (a second run, or a project without local changes) it does
nothing. Touches only the files named above, and the index entries it set itself.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from _migration import Migration, merge_lines, run_stage, user_imports

MIGRATION = Migration("0.2.0")
say = MIGRATION.say
# Where the 0.1.0 template kept these files (plain, not Jinja: the same in every variant).
OLD_HOME = "template/src/{{package_name}}"
MERGED = ("model.py", "train.py")
TEMPLATE_OWNED = ("serve.py", "config.py", "protocol.py", "batching.py", "metrics.py")
# 0.1.0 module -> 0.2.0 module, for imports in the user's files.
MOVED = {
    "model": "serving.artifact",
    "config": "serving.settings",
    "serve": "serving.service",
    "protocol": "serving.protocol",
    "batching": "serving.batching",
    "metrics": "serving.metrics",
}
KEPT_IN_MODEL = {"build_estimator"}  # what model.py still holds in 0.2.0
LINE_LENGTH = 110  # the generated project's ruff line-length


def before(package: str, version_from: str) -> None:
    """Hold back the user's versions of the files the move changes; stage their 0.1.0 content."""
    if Path("src", package, "serving").is_dir():
        return  # already on the 0.2.0 layout (a second run): nothing to hold back
    for name in (*MERGED, *TEMPLATE_OWNED):
        path = Path("src", package, name)
        if path.is_file():
            MIGRATION.hold_back(path, MIGRATION.old_file(version_from, f"{OLD_HOME}/{name}"))


def after(package: str, version_from: str) -> None:
    """Merge or set aside what ``before`` held back, then report imports of moved names."""
    for name in (*MERGED, *TEMPLATE_OWNED):
        path = Path("src", package, name)
        user = MIGRATION.held(path)
        if user is None:
            continue
        if name in MERGED:
            merge_into(path, MIGRATION.old_file(version_from, f"{OLD_HOME}/{name}"), user)
        else:
            aside = path.with_name(f"{name}.pre-0.2.0")
            aside.write_text(user, encoding="utf-8")
            new_home = f"src/{package}/{MOVED[name.removesuffix('.py')].replace('.', '/')}.py"
            say(
                f"{path} had local changes; 0.2.0 moved this code to {new_home}. "
                f"Your version is in {aside}: port the change there, then delete it."
            )
        MIGRATION.release(path)
    MIGRATION.finish()
    report_moved_imports(package)


def merge_into(path: Path, base: str, user: str) -> None:
    """Write the 0.2.0 file at ``path`` with the user's changes since ``base`` merged in."""
    new = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        merged, conflicts = merge_module(base, user, new)
    except SyntaxError:
        merged, clean = merge_lines(user, base, new)
        conflicts = [] if clean else ["(whole file: it did not parse)"]
    path.write_text(merged, encoding="utf-8")
    if conflicts:
        say(
            f"{path}: you and the template both changed {', '.join(conflicts)}: "
            "resolve the conflict markers there."
        )


# --- A merge of Python modules by top-level definition ----------------------------------------
IMPORTS = "<imports>"


def split_module(text: str) -> tuple[dict[str, str], list[str], list[ast.stmt], str]:
    """Split a module into its top-level statements.

    Returns:
        The segments by key (each with the blank lines and comments above it), their order, the
        import statements, and the text after the last statement.
    """
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    segments: dict[str, str] = {}
    order: list[str] = []
    imports: list[ast.stmt] = []
    done = 0
    for index, node in enumerate(tree.body):
        assert node.end_lineno is not None
        chunk = "".join(lines[done : node.end_lineno])
        done = node.end_lineno
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
            if IMPORTS not in segments:
                segments[IMPORTS] = chunk[: len(chunk) - len(chunk.lstrip("\n"))]  # blank lines above
                order.append(IMPORTS)
            continue
        key = statement_key(node, index)
        while key in segments:
            key += "'"
        segments[key] = chunk
        order.append(key)
    return segments, order, imports, "".join(lines[done:])


def statement_key(node: ast.stmt, index: int) -> str:
    """What a top-level statement is called across versions: its name, or its first line."""
    if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return "<docstring>"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return "=".join(t.id for t in node.targets if isinstance(t, ast.Name))
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return ast.unparse(node).splitlines()[0]


def merge_module(base: str, user: str, new: str) -> tuple[str, list[str]]:
    """Three-way merge of a module: ``new`` (the template's) plus what ``user`` changed since ``base``.

    Returns the merged text and the names of the definitions left with conflict markers.
    """
    b, _, b_imports, _ = split_module(base)
    u, u_order, u_imports, _ = split_module(user)
    n, n_order, n_imports, tail = split_module(new)
    out: list[tuple[str, str]] = []
    conflicts: list[str] = []
    for key in n_order:
        text, clean = merge_segment(b.get(key), u.get(key), n[key])
        if not clean:
            conflicts.append(key)
        if text is not None:
            out.append((key, text))
    # What the user added, after what it followed in their file; what the user changed in a
    # definition the template moved away is kept as a conflict, so it is not lost silently.
    for position, key in enumerate(u_order):
        if key in n or (key in b and u[key] == b[key]):
            continue
        text = u[key]
        if key in b:
            text = conflict_block(text, "")
            conflicts.append(f"{key} (moved to the serving package in 0.2.0)")
        keys = [k for k, _ in out]
        before_keys = [k for k in u_order[:position] if k in keys]
        at = keys.index(before_keys[-1]) + 1 if before_keys else len(out)
        out.insert(at, (key, text))
    body = "".join(text for key, text in out if key != IMPORTS)
    imports = merge_imports(b_imports, u_imports, n_imports, body, user)
    text = "".join(text + imports if key == IMPORTS else text for key, text in out)
    return text + tail, conflicts


def merge_segment(base: str | None, user: str | None, new: str) -> tuple[str | None, bool]:
    """One definition: take the side that changed it; line-merge when both did."""
    if user is None:  # the user deleted it: keep it deleted unless the template changed it
        return (None, True) if base == new else (new, True)
    if user in (base, new):
        return new, True
    if new == base:
        return user, True
    if base is None:
        return conflict_block(user, new), False
    merged, clean = merge_lines(user, base, new)
    return merged, clean


def conflict_block(user: str, new: str) -> str:
    """Conflict markers around two versions of a segment, as copier writes them."""
    user = user if user.endswith("\n") else user + "\n"
    new = new if not new or new.endswith("\n") else new + "\n"
    return f"<<<<<<< before updating\n{user}=======\n{new}>>>>>>> after updating\n"


Binding = tuple[int, str, str, str]  # (level, module, name or "", alias): "" name means `import module`


def bindings(nodes: list[ast.stmt]) -> list[Binding]:
    """Each name the import statements bind, in order."""
    found: list[Binding] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(0, a.name, "", a.asname or "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.level, node.module or "", a.name, a.asname or "") for a in node.names]
    return found


def bound_name(binding: Binding) -> str:
    """The name an import binds in the module."""
    _, module, name, alias = binding
    return alias or name or module.split(".")[0]


def used_names(text: str) -> set[str]:
    """Names a module body reads (by parsing; by identifier when conflict markers prevent it)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def merge_imports(
    base: list[ast.stmt], user: list[ast.stmt], new: list[ast.stmt], body: str, user_text: str
) -> str:
    """The template's imports, minus those the user removed, plus those the user added.

    An import nothing reads any more is dropped, unless the user kept it unread on purpose.
    """
    b, u, n = bindings(base), bindings(user), bindings(new)
    merged = [x for x in n if not (x in b and x not in u)] + [x for x in u if x not in b and x not in n]
    used = used_names(body)
    user_used = used_names(user_text)
    kept = [
        x
        for x in merged
        if x[1] == "__future__" or bound_name(x) in used or (x in u and bound_name(x) not in user_used)
    ]
    return format_imports(kept)


def format_imports(items: list[Binding]) -> str:
    """Import statements in the sections and order ruff's isort rules write."""
    stdlib = set(sys.stdlib_module_names)

    def section(binding: Binding) -> int:
        level, module, _, _ = binding
        top = module.split(".")[0]
        if level:
            return 4
        return 0 if top == "__future__" else 1 if top in stdlib else 2

    def name_key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
        return kind, name.lower()

    blocks: list[str] = []
    for number in sorted({section(x) for x in items}):
        members = [x for x in items if section(x) == number]
        lines = [
            f"import {module}" + (f" as {alias}" if alias else "")
            for module, alias in sorted(
                {(x[1], x[3]) for x in members if not x[2]}, key=lambda m: m[0].lower()
            )
        ]
        modules = sorted({(x[0], x[1]) for x in members if x[2]}, key=lambda m: (-m[0], m[1].lower()))
        for level, module in modules:
            names = sorted(
                {
                    x[2] + (f" as {x[3]}" if x[3] else "")
                    for x in members
                    if x[2] and (x[0], x[1]) == (level, module)
                },
                key=name_key,
            )
            head = f"from {'.' * level}{module} import "
            line = head + ", ".join(names)
            if len(line) > LINE_LENGTH:
                line = head + "(\n" + "".join(f"    {name},\n" for name in names) + ")"
            lines.append(line)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


# --- Report imports of moved names --------------------------------------------------------------
def report_moved_imports(package: str) -> None:
    """Name each import in the project's own Python files of something 0.2.0 moved."""
    for path, node in user_imports():
        if isinstance(node, ast.ImportFrom):
            old = moved_module(node.module or "", node.level, package)
            if old is None:
                continue
            names = [a.name for a in node.names if not (old == "model" and a.name in KEPT_IN_MODEL)]
            if names:
                target = f"{package}.{MOVED[old]}"
                say(f"{path}:{node.lineno} imports {', '.join(names)} from {package}.{old}; 0.2.0 moved "
                    f"{'them' if len(names) > 1 else 'it'} to {target}: import from there.")  # fmt: skip
        elif isinstance(node, ast.Import):
            for alias in node.names:
                old = moved_module(alias.name, 0, package)
                if old is not None and old != "model":
                    say(
                        f"{path}:{node.lineno} imports {alias.name}; "
                        f"0.2.0 moved it to {package}.{MOVED[old]}."
                    )


def moved_module(module: str, level: int, package: str) -> str | None:
    """The 0.1.0 module name (``model``, ``config``, ...) an import refers to, if it moved."""
    if level == 1 and module in MOVED:
        return module
    if level == 0 and module.startswith(f"{package}.") and module.removeprefix(f"{package}.") in MOVED:
        return module.removeprefix(f"{package}.")
    return None


if __name__ == "__main__":
    raise SystemExit(run_stage(sys.argv[1:], before, after))
