"""The cookiecutter tree: ``template/`` and ``copier.yml`` rewritten for cookiecutter and cruft.

Copier stays the primary engine and ``template/`` the single source. This module derives the
cookiecutter tree from them, so cookiecutter and cruft render the same project as copier for the
same answers. The tree is built, never committed: ``dsdeploy cookiecutter-tree OUT`` writes it,
the wheel carries it built (``scripts/hatch_build.py``), and the release workflow publishes it
as the repository's ``cookiecutter`` branch (``scripts/publish-cookiecutter.sh``), which is
where ``cookiecutter``/``cruft create ... --checkout cookiecutter`` read it. Its parts:

- ``cookiecutter.json``: the asked questions in copier.yml order (choices as lists, default
  first; bools; Jinja defaults), the derived values a file reads as private ``__name``
  variables, the verbatim files in ``_copy_without_render``, the help texts in ``__prompts__``;
- every ``*.jinja`` file, suffix stripped, its content prefixed with ``{% set name =
  cookiecutter.name %}`` tags (no whitespace: the output bytes are copier's) for the answers it
  reads; every other file byte for byte (listed in ``_copy_without_render``, never rendered);
- path parts with the names rewritten to ``cookiecutter.name``; a part copier would skip (it
  renders empty) renders a marker name instead, which ``hooks/post_gen_project.py`` deletes;
- ``hooks/pre_gen_project.py``: copier.yml's validators, run on the answers with plain Jinja
  (``regex_search`` defined in the hook, so plain ``pip install cookiecutter`` works); the
  first failure exits 1 with copier's sentence before any file is written.

Why a generated tree rather than one tree for both engines (scientific-python/cookie's way): a
single tree is rendered whole by cookiecutter, so every Helm and GitHub ``{{ }}`` in the chart
and workflows would need ``{% raw %}``, copier's ``*.jinja``-only rule would go, and copier users
(and ``copier update`` of existing projects) would see a changed template. Generated, the
cookiecutter side costs copier users nothing, and ``tests/render/test_cookiecutter.py`` builds
it fresh and diffs both engines' renders.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import copier.errors
import jinja2
import pathspec
from copier._main import Worker

from generator.errors import GeneratorError
from generator.project.source import snapshot_template, template_root
from generator.project.template_deps import SourceEntry, jinja_names, scan_template

TOP = "{{cookiecutter.project_slug}}"
MARKER = ".dsdeploy-skip-"  # a path copier would not create; post_gen_project.py deletes it
_IF_PART = re.compile(r"^\{%-?\s*if\s+(?P<cond>.+?)\s*-?%\}(?P<text>[^{}%]+)\{%-?\s*endif\s*-?%\}$")
_JINJA_TAG = re.compile(r"\{[{%#].*?[}%#]\}", re.DOTALL)
_HOOKS = Path(__file__).with_name("_cookiecutter_hooks")

# A tree: relative path -> (bytes, mode); folders are implied by their files.
Files = dict[str, tuple[bytes, int]]


def _probe(template: Path) -> Worker:
    # HACK: copier has no public API for its parsed settings and Jinja environment; the worker
    # of a pretend copy holds both (render_by_dependency.py relies on the same names).
    return Worker(
        src_path=str(template), dst_path=template / ".probe", defaults=True, quiet=True, pretend=True
    )


def _rename(questions: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Copier's name -> cookiecutter's expression (derived values are private ``__name``)."""
    return {
        name: f"cookiecutter.{'__' if q.get('when') is False else ''}{name}" for name, q in questions.items()
    }


def _sets(env: jinja2.Environment, source: str, rename: Mapping[str, str], where: str) -> str:
    """``{% set %}`` tags binding the answers ``source`` reads to cookiecutter's names."""
    names = sorted(jinja_names(env, source))
    unknown = [name for name in names if name not in rename]
    if unknown:
        raise GeneratorError(
            f"{where} reads {', '.join(unknown)}, which cookiecutter has no answer for",
            hint="read only copier.yml's questions there, or teach generator/project/cookiecutter_tree.py",
        )
    return "".join(f"{{% set {name} = {rename[name]} %}}" for name in names)


def _part(env: jinja2.Environment, part: str, rename: Mapping[str, str]) -> str:
    """One path part for cookiecutter: names rewritten; a part that may render empty gets a marker."""
    if "{" not in part:
        return part
    if "{%" not in part:
        out = []
        for lineno, kind, value in env.lex(part):
            del lineno
            out.append(rename.get(value, value) if kind == "name" else value)
        return "".join(out)
    match = _IF_PART.match(part)
    if match is None:
        raise GeneratorError(
            f"path part {part!r} is not NAME or {{% if COND %}}NAME{{% endif %}}",
            hint="cookiecutter cannot skip such a path; simplify it or extend cookiecutter_tree.py",
        )
    cond = _part(env, "{{ " + match["cond"] + " }}", rename)[3:-3]
    return f"{{% if {cond} %}}{match['text']}{{% else %}}{MARKER}{match['text']}{{% endif %}}"


def _escape_glob(path: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", path)


def _context(
    questions: Mapping[str, Mapping[str, Any]], env: jinja2.Environment, reads: set[str]
) -> dict[str, Any]:
    """cookiecutter.json's variables (with ``__prompts__``) in copier.yml order."""
    rename = _rename(questions)
    context: dict[str, Any] = {}
    prompts: dict[str, Any] = {}
    for name, question in questions.items():
        derived = question.get("when") is False
        if derived and name not in reads:
            continue  # only validators read it: the pre-gen hook carries it
        default = question.get("default")
        if isinstance(default, str) and "{" in default:
            default = _sets(env, default, rename, f"copier.yml's default of {name}") + default
        help_text = question.get("help", name)
        if "{" in help_text:  # a help that reads answers: its last branch is the general one
            help_text = [t.strip() for t in _JINJA_TAG.split(help_text) if t.strip()][-1]
        if "choices" in question:
            choices = question["choices"]
            labels = dict(choices) if isinstance(choices, Mapping) else {str(c): c for c in choices}
            values = [str(v) for v in labels.values()]
            values.remove(str(default))
            context[name] = [str(default), *values]
            prompts[name] = {"__prompt__": help_text, **{str(v): label for label, v in labels.items()}}
        elif question.get("type") == "bool":
            context[name] = bool(default)
            prompts[name] = help_text
        elif derived:
            context[rename[name].removeprefix("cookiecutter.")] = "" if default is None else str(default)
        else:
            context[name] = "" if default is None else str(default)
            prompts[name] = help_text
    context["__prompts__"] = prompts
    return context


def _pre_gen_hook(questions: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bytes:
    """The pre-gen hook: copier.yml's validators, the derived values they read, the raw defaults."""
    checks = [
        {"name": name, "validator": q["validator"]} for name, q in questions.items() if q.get("validator")
    ]
    data = {
        name: q.get("default")
        for name, q in questions.items()
        if q.get("when") is False and q.get("type") == "yaml"
    }
    defaults = {name: v for name, v in context.items() if isinstance(v, str) and not name.startswith("_")}
    payload = json.dumps({"checks": checks, "data": data, "defaults": defaults}, indent=1, ensure_ascii=True)
    if '"""' in payload:  # JSON escapes every quote: cannot happen, but would end the string
        raise GeneratorError('a validator holds """ and cannot be embedded in the pre-gen hook')
    source = (_HOOKS / "pre_gen_project.py").read_text(encoding="utf-8")
    filled = f'# ruff: noqa: E501 (the validators are long lines)\nRULES = json.loads(r"""{payload}""")'
    return source.replace("RULES = {}  # filled in by cookiecutter_tree.py", filled).encode()


def build(root: Path | None = None) -> Files:
    """The cookiecutter tree for the template at ``root`` (this checkout by default).

    Raises:
        GeneratorError: The template uses what cookiecutter cannot reproduce.
    """
    root = root or template_root()
    with tempfile.TemporaryDirectory(prefix="dsdeploy-cc-") as scratch:
        snapshot = snapshot_template(Path(scratch) / "template", root)
        worker = _probe(snapshot)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", copier.errors.CopierWarning)
                settings = worker.template
                env = worker.jinja_env
                questions = settings.questions_data
                suffix = settings.templates_suffix
                copy_root = (settings.local_abspath / settings.subdirectory).resolve()
                entries = scan_template(copy_root, env, questions, suffix)
                if any("{" in pattern for pattern in settings.exclude):
                    raise GeneratorError("an _exclude pattern holds Jinja", hint="render with copier")
                excluded = pathspec.PathSpec.from_lines("gitwildmatch", settings.exclude)
                return _build(copy_root, env, questions, suffix, entries, excluded)
        finally:
            worker._cleanup()


def _build(
    copy_root: Path,
    env: jinja2.Environment,
    questions: Mapping[str, Mapping[str, Any]],
    suffix: str,
    entries: list[SourceEntry],
    excluded: pathspec.PathSpec,
) -> Files:
    rename = _rename(questions)
    files: Files = {}
    verbatim: list[str] = []
    reads: set[str] = set()
    for entry in entries:
        relpath = entry.relpath
        src = copy_root / relpath
        if entry.is_dir or "_copier_conf" in jinja_names(env, relpath.as_posix()):
            continue  # folders come with their files; the answers file is copier's own
        if any(excluded.match_file(p.as_posix()) for p in (relpath, *relpath.parents[:-1])):
            continue
        if not entry.is_template and (copy_root / f"{relpath}{suffix}").exists():
            continue  # copier renders the .jinja sibling instead
        parts = relpath.with_suffix("").parts if entry.is_template else relpath.parts
        out = "/".join(_part(env, part, rename) for part in parts)
        for part in parts:
            reads |= jinja_names(env, part)
        mode = stat.S_IMODE(src.stat().st_mode)
        if entry.is_template:
            source = src.read_text(encoding="utf-8")
            reads |= jinja_names(env, source)
            prefix = _sets(env, source, rename, f"template/{relpath}")
            files[f"{TOP}/{out}"] = ((prefix + source).encode(), mode)
        else:
            verbatim.append(out)
            files[f"{TOP}/{out}"] = (src.read_bytes(), mode)
    context = _context(questions, env, _closed(reads, questions, env))
    context["_copy_without_render"] = [_escape_glob(path) for path in sorted(verbatim)]
    files["cookiecutter.json"] = ((json.dumps(context, indent=2, ensure_ascii=False) + "\n").encode(), 0o644)
    files["hooks/pre_gen_project.py"] = (_pre_gen_hook(questions, context), 0o644)
    files["hooks/post_gen_project.py"] = ((_HOOKS / "post_gen_project.py").read_bytes(), 0o644)
    return files


def _closed(reads: set[str], questions: Mapping[str, Mapping[str, Any]], env: jinja2.Environment) -> set[str]:
    """``reads`` plus what the derived values among them read in their defaults, transitively."""
    closed = set(reads)
    pending = list(reads)
    while pending:
        default = questions.get(pending.pop(), {}).get("default")
        if isinstance(default, str) and "{" in default:
            for name in jinja_names(env, default) - closed:
                closed.add(name)
                pending.append(name)
    return closed


def read_tree(path: Path) -> Files:
    """The tree on disk (files only; git records only the executable bit of a mode)."""
    return {
        p.relative_to(path).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(path.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def differences(expected: Files, actual: Files) -> list[str]:
    """The paths whose presence, bytes or executable bit differ, sorted."""
    changed = []
    for name in sorted(set(expected) | set(actual)):
        want, have = expected.get(name), actual.get(name)
        if want is None or have is None or want[0] != have[0] or (want[1] & 0o111) != (have[1] & 0o111):
            changed.append(name)
    return changed


def write(files: Files, path: Path) -> None:
    """Write ``files`` as the tree at ``path``, replacing an earlier tree there.

    Refuses a folder holding anything but a tree (no ``cookiecutter.json``), so a mistyped
    path never loses a user's files.
    """
    if path.exists():
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        elif (path / "cookiecutter.json").is_file():
            shutil.rmtree(path)
        else:
            raise GeneratorError(
                f"{path} exists and is not a cookiecutter tree (no cookiecutter.json)",
                hint="name a new or empty folder, or an earlier tree to replace",
            )
    for name, (content, mode) in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
