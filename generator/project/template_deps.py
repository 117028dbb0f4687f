"""Which answers each template file and path reads: the dependency analysis behind render by dependency.

A template file's output (its path and, for ``*.jinja`` files, its content) is a function of the
answers its Jinja reads. Reading a derived question (``project_slug``, ``image_repository``)
reads, in turn, every answer that question's ``default``/``when``/... expressions read, so the
names are closed over the questions of copier.yml. Reading ``_copier_answers`` or
``_copier_conf`` reads everything (the answers file, the destination), so such a file is rendered
per variant.

Parsing uses copier's own Jinja environment, so its extensions (the ``yield`` tag, Ansible
filters) and its ``envops`` apply exactly as in a real render.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

# Context names whose use makes a file depend on every answer and on the destination.
READS_EVERYTHING = frozenset({"_copier_answers", "_copier_conf", "_folder_name"})

# The fields of a copier question that copier renders with Jinja before or while asking.
_QUESTION_FIELDS = ("default", "when", "validator", "help", "placeholder", "choices", "type", "secret")


def jinja_names(env: jinja2.Environment, source: str) -> frozenset[str]:
    """The undeclared variables a Jinja source reads, plus what templates it pulls in read.

    Args:
        env: Copier's environment for the template (its loader resolves includes).
        source: Jinja source text.

    Returns:
        The names read from the render context. A source that includes, imports or extends a
        template that cannot be resolved counts as reading everything.
    """
    tree = env.parse(source)
    names = set(jinja2.meta.find_undeclared_variables(tree))
    for referenced in jinja2.meta.find_referenced_templates(tree):
        if referenced is None or env.loader is None:
            return frozenset(names | READS_EVERYTHING)
        included, _, _ = env.loader.get_source(env, referenced)
        names |= jinja_names(env, included)
    return frozenset(names)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def question_reads(
    env: jinja2.Environment, questions: Mapping[str, Mapping[str, Any]]
) -> dict[str, frozenset[str]]:
    """For each question, the names its templated fields read (its own name excluded)."""
    reads: dict[str, frozenset[str]] = {}
    for name, question in questions.items():
        names: set[str] = set()
        for field in _QUESTION_FIELDS:
            for text in _strings(question.get(field)):
                if "{" in text:
                    names |= jinja_names(env, text)
        reads[name] = frozenset(names - {name})
    return reads


def templated_questions(
    env: jinja2.Environment, questions: Mapping[str, Mapping[str, Any]]
) -> frozenset[str]:
    """Questions whose value copier computes from Jinja (a templated field), with what they read.

    These are the names whose value in the render context may differ from the answer given: the
    context of two variants that agree on all of them differs only in the answers given.
    """
    reads = question_reads(env, questions)
    names: set[str] = set()
    for name, question in questions.items():
        if any("{" in text for field in _QUESTION_FIELDS for text in _strings(question.get(field))):
            names |= {name} | reads[name]
    return frozenset(names)


def close_over(names: Iterable[str], reads: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """``names`` plus every name their questions read, transitively."""
    closed = set(names)
    pending = sorted(closed)
    while pending:
        for name in reads.get(pending.pop(), frozenset()):
            if name not in closed:
                closed.add(name)
                pending.append(name)
    return frozenset(closed)


@dataclass(frozen=True)
class SourceEntry:
    """One file or folder of the template and the answers that decide its path and content.

    Attributes:
        relpath: Path below the template's copy root (``template/``), Jinja in names included.
        is_dir: A folder (only its path is rendered).
        is_template: A ``*.jinja`` file (its content is rendered; others are copied verbatim).
        path_reads: Names the path's Jinja reads, closed over the questions.
        content_reads: Names the content's Jinja reads, closed over the questions.
    """

    relpath: Path
    is_dir: bool
    is_template: bool
    path_reads: frozenset[str]
    content_reads: frozenset[str]

    @property
    def reads_everything(self) -> bool:
        """Whether the content depends on every answer (rendered per variant)."""
        return bool(self.content_reads & READS_EVERYTHING)


def scan_template(
    copy_root: Path, env: jinja2.Environment, questions: Mapping[str, Mapping[str, Any]], suffix: str
) -> list[SourceEntry]:
    """Every file and folder under ``copy_root``, in copier's walk order, with its dependencies.

    Args:
        copy_root: The template's copy root (``template/`` here).
        env: Copier's Jinja environment for the template; its loader is rooted at the template.
        questions: The questions of copier.yml.
        suffix: The templates suffix (``.jinja``); only files ending in it are rendered.
    """
    reads = question_reads(env, questions)
    template_root = (
        Path(env.loader.searchpath[0]) if isinstance(env.loader, jinja2.FileSystemLoader) else None
    )
    entries = []
    for path in _walk(copy_root):
        relpath = path.relative_to(copy_root)
        path_names: set[str] = set()
        for part in relpath.parts:
            path_names |= jinja_names(env, part)
        is_dir = path.is_dir()
        is_template = not is_dir and bool(suffix) and path.name.endswith(suffix)
        content_names: frozenset[str] = frozenset()
        if is_template:
            if template_root is not None:
                name = path.relative_to(template_root).as_posix()
                source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
            else:
                source = path.read_text(encoding="utf-8")
            content_names = jinja_names(env, source)
        entries.append(
            SourceEntry(
                relpath=relpath,
                is_dir=is_dir,
                is_template=is_template,
                path_reads=close_over(path_names, reads),
                content_reads=close_over(content_names, reads),
            )
        )
    return entries


def _walk(root: Path) -> Iterable[Path]:
    # The same walk as copier's ``scantree`` (os.scandir order, following symlinks).
    for entry in os.scandir(root):
        yield Path(entry.path)
        if entry.is_dir(follow_symlinks=True):
            yield from _walk(Path(entry.path))
