"""Render many variants by dependency: each template file once per distinct answers it reads.

Copier renders every file for every variant (about 0.4 s a variant here). Most files read few
answers (``LICENSE`` reads ``license`` and the author; ``serve.py`` reads nothing), so across a
matrix of thousands of variants each renders a handful of times. This module:

1. asks copier's own questions once per distinct combination of the answers that copier.yml's
   templated questions read (``registry`` decides ``image_repository``, ...), and builds each
   variant's render context from that group's context plus the answers nothing else reads;
2. renders each path and each ``*.jinja`` content once per distinct combination of the answers
   it reads (closed over the questions, see :mod:`generator.project.template_deps`), with copier's own
   Jinja environment; other files are copied verbatim, with copier's modes;
3. renders the answers file (it reads every answer) per variant, and assembles each variant's
   :class:`~generator.project.tree.Tree` from the pieces.

``tests/render/test_equivalence.py`` proves the trees equal copier's own render byte for byte.
"""

from __future__ import annotations

import stat
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath, PurePosixPath
from types import TracebackType
from typing import Any

import copier.errors

# HACK: copier has no public API to render one file of a variant; these private names are its
# worker (questions, context, exclusions), the operation it runs and its render phase. The
# equivalence test catches any drift when copier changes them.
from copier._jinja_ext import get_yield_context
from copier._main import Worker, _operation
from copier._types import LazyDict, Phase

from generator.errors import GeneratorError
from generator.project.template_deps import (
    READS_EVERYTHING,
    SourceEntry,
    jinja_names,
    scan_template,
    templated_questions,
)
from generator.project.tree import FileEntry, PieceStore, Tree

_MISSING = "<not given>"
Key = tuple[str, ...]


class DependencyRenderer:
    """Renders variants of one template folder by dependency; a context manager.

    Use a plain (non-git) template folder such as :func:`generator.project.source.snapshot_template`
    makes; a git template would be cloned once per question group.
    """

    def __init__(self, template: Path) -> None:
        """Load the template's settings and scan its files.

        Args:
            template: Folder holding ``copier.yml`` and the template's subdirectory.
        """
        self.template = template.resolve()
        self.store = PieceStore()
        self._scratch = tempfile.TemporaryDirectory(prefix="dsdeploy-bydep-")
        probe = self._worker({}, "probe")
        self._env = probe.jinja_env
        settings = probe.template
        self._suffix: str = settings.templates_suffix
        self._answers_relpath: PurePosixPath | None = None
        if "{" in settings.subdirectory:
            raise GeneratorError("render by dependency needs a plain _subdirectory", hint="use copier")
        self._copy_root = (settings.local_abspath / settings.subdirectory).resolve()
        self._git_modes = settings.git_index_modes
        questions = settings.questions_data
        exclusion_reads: set[str] = set()
        for pattern in settings.exclude:
            exclusion_reads |= jinja_names(self._env, pattern) if "{" in pattern else set()
        self.context_names = templated_questions(self._env, questions) | exclusion_reads
        self.entries: list[SourceEntry] = scan_template(self._copy_root, self._env, questions, self._suffix)
        self._groups: dict[Key, tuple[Worker, dict[str, Any]]] = {}
        self._paths: dict[tuple[int, Key], list[str]] = {}
        self._contents: dict[tuple[int, Key], str] = {}
        self._verbatim: dict[int, str] = {}
        self._modes: dict[int, int] = {}
        self._excluded: dict[tuple[Key, str], bool] = {}
        self.renders = 0

    def __enter__(self) -> DependencyRenderer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the question groups' workers and the scratch folder."""
        for worker, _ in self._groups.values():
            worker._cleanup()
        self._groups.clear()
        self._scratch.cleanup()

    def _worker(self, answers: Mapping[str, Any], name: str) -> Worker:
        return Worker(
            src_path=str(self.template),
            dst_path=Path(self._scratch.name) / name,
            data=dict(answers),
            defaults=True,
            quiet=True,
            unsafe=False,
            pretend=True,
            vcs_ref="HEAD",
        )

    @staticmethod
    def _key(names: frozenset[str], answers: Mapping[str, Any]) -> Key:
        return tuple(f"{name}={answers.get(name, _MISSING)!r}" for name in sorted(names))

    def _group(self, answers: Mapping[str, Any]) -> tuple[Key, Worker, dict[str, Any]]:
        """The asked worker and render context of ``answers``' question group."""
        key = self._key(self.context_names, answers)
        if key not in self._groups:
            worker = self._worker(answers, f"group-{len(self._groups)}")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
                    with Phase.use(Phase.PROMPT):
                        worker._ask()
                    with Phase.use(Phase.RENDER):
                        context = dict(worker._render_context())
                        answers_relpath = PurePosixPath(worker.answers_relpath.as_posix())
            except ValueError as exc:  # copier reports a failed validator as ValueError
                message = str(exc).removeprefix("Validation error for question ")
                raise GeneratorError(f"invalid answer {message}") from exc
            except copier.errors.CopierError as exc:
                raise GeneratorError(f"rendering {self.template} failed: {exc}") from exc
            if self._answers_relpath not in (None, answers_relpath):
                raise GeneratorError("the answers file's name depends on answers", hint="render with copier")
            self._answers_relpath = answers_relpath
            self._groups[key] = (worker, context)
        worker, context = self._groups[key]
        return key, worker, context

    def _context(self, answers: Mapping[str, Any], folder_name: str) -> tuple[Key, Worker, dict[str, Any]]:
        """The render context copier would build for ``answers`` rendered into ``folder_name``."""
        key, worker, base = self._group(answers)
        questions = worker.template.questions_data
        free = {name: value for name, value in answers.items() if name not in self.context_names}
        for name, value in free.items():
            choices = questions.get(name, {}).get("choices")
            if choices is not None:
                allowed = list(choices.values() if isinstance(choices, Mapping) else choices)
                if value not in allowed:
                    raise GeneratorError(f"invalid answer {name}: {value!r} is not one of {allowed}")
        context = {**base, **free}
        remembered = dict(base["_copier_answers"])
        remembered.update({name: value for name, value in free.items() if name in remembered})
        context["_copier_answers"] = remembered
        conf = base["_copier_conf"]
        context["_copier_conf"] = LazyDict(
            {
                **{name: (lambda name=name: conf[name]) for name in conf},
                "data": lambda: {**worker.data, **free},
                "dst_path": lambda: PurePath(Path(self._scratch.name) / folder_name),
            }
        )
        context["_folder_name"] = folder_name
        return key, worker, context

    def _render_string(self, source: str, context: Mapping[str, Any]) -> str:
        self.renders += 1
        return self._env.from_string(source).render(**context)

    def _render_path(
        self, index: int, entry: SourceEntry, answers: Mapping[str, Any], context: Any
    ) -> list[str]:
        """Copier's ``_render_path`` for ``entry``: its destination paths (none when skipped)."""
        names = entry.path_reads
        if names & READS_EVERYTHING:  # e.g. {{ _copier_conf.answers_file }}: key on all of it
            names = names | frozenset(answers) | {"_folder_name"}
            answers = {**answers, "_folder_name": context["_folder_name"]}
        key = (index, self._key(names, answers))
        if key in self._paths:
            return self._paths[key]
        relpath = entry.relpath
        sibling = self._copy_root / f"{relpath}{self._suffix}"
        result: list[str] = []
        if not (self._suffix and sibling.exists()):
            if entry.is_template:
                relpath = relpath.with_suffix("")
            result = self._render_parts(relpath.parts, entry.is_template, context)
        self._paths[key] = result
        return result

    def _render_parts(self, parts: tuple[str, ...], is_template: bool, context: Any) -> list[str]:
        rendered: list[str] = []
        for part in parts:
            text = self._render_string(part, context)
            if get_yield_context(self._env).yield_name:
                raise GeneratorError(
                    f"a {{% yield %}} tag in {'/'.join(parts)}", hint="render it with copier"
                )
            if not text:
                return []
            if self._answers_relpath is not None and text == str(self._answers_relpath):
                return [self._answers_relpath.as_posix()]
            rendered.append(text)
        path = PurePosixPath(*rendered)
        if not is_template and (self.template / f"{path}{self._suffix}").exists():
            return []
        return [path.as_posix()]

    def _mode(self, index: int, entry: SourceEntry) -> int:
        if index not in self._modes:
            src = self._copy_root / entry.relpath
            stat_mode = src.stat().st_mode
            git_mode = self._git_modes.get(PurePosixPath(src.relative_to(self.template).as_posix()))
            mode = stat_mode if git_mode is None else (stat_mode & ~0o111) | (git_mode & 0o111)
            self._modes[index] = stat.S_IMODE(mode)
        return self._modes[index]

    def _content(self, index: int, entry: SourceEntry, answers: Mapping[str, Any], context: Any) -> str:
        if not entry.is_template:
            if index not in self._verbatim:
                self._verbatim[index] = self.store.add((self._copy_root / entry.relpath).read_bytes())
            return self._verbatim[index]
        key = (index, ("*",) if entry.reads_everything else self._key(entry.content_reads, answers))
        if key in self._contents:
            return self._contents[key]
        name = (self._copy_root / entry.relpath).relative_to(self.template).as_posix()
        self.renders += 1
        digest = self.store.add(self._env.get_template(name).render(**context).encode())
        if not entry.reads_everything:
            self._contents[key] = digest
        return digest

    def render(self, answers: Mapping[str, Any], folder_name: str = "project") -> Tree:
        """The tree copier renders for ``answers`` (defaults for the rest) into ``folder_name``.

        Raises:
            GeneratorError: An answer is invalid, or the template uses what this cannot render.
        """
        group_key, worker, context = self._context(answers, folder_name)
        files: dict[str, FileEntry] = {}
        dirs: set[str] = set()
        token = _operation.set("copy")
        try:
            self._walk(answers, group_key, worker, context, files, dirs)
        finally:
            _operation.reset(token)
        return Tree(files, frozenset(dirs))

    def _walk(
        self,
        answers: Mapping[str, Any],
        group_key: Key,
        worker: Worker,
        context: dict[str, Any],
        files: dict[str, FileEntry],
        dirs: set[str],
    ) -> None:
        with Phase.use(Phase.RENDER):
            for index, entry in enumerate(self.entries):
                for relpath in self._render_path(index, entry, answers, context):
                    if self._is_excluded(group_key, worker, relpath):
                        continue
                    if entry.is_dir:
                        dirs.add(relpath)
                    else:
                        digest = self._content(index, entry, answers, context)
                        files[relpath] = FileEntry(digest, self._mode(index, entry), entry.relpath.as_posix())

    def _is_excluded(self, group_key: Key, worker: Worker, relpath: str) -> bool:
        key = (group_key, relpath)
        if key not in self._excluded:
            matcher: Callable[[Path], bool] = worker.match_exclude
            self._excluded[key] = matcher(Path(relpath))
        return self._excluded[key]
