"""Render the template with copier's Python API.

Rendering happens in a scratch folder beside the destination and is moved into place only when
it succeeded, so a failed render leaves nothing behind. Copier's errors are wrapped in
:class:`GeneratorError` at this boundary.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import copier.errors

from generator.errors import GeneratorError
from generator.process import run
from generator.project.render_by_dependency import DependencyRenderer
from generator.project.source import snapshot_template, template_root, without_credentials
from generator.project.tree import write_tree
from generator.tools import find_python, which

ANSWERS_FILE = ".copier-answers.yml"


def record_source(project: Path, src_path: str) -> None:
    """Write ``src_path`` as the ``_src_path`` of ``project``'s answers file."""
    import yaml

    path = project / ANSWERS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = yaml.safe_dump({"_src_path": src_path}, default_flow_style=False, width=10_000)
    path.write_text("".join(line if old.startswith("_src_path:") else old for old in lines), encoding="utf-8")


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def check_destination(dest: Path, *, overwrite: bool = False) -> Path:
    """``dest`` made absolute, if a project may be rendered there (absent, empty, or ``overwrite``).

    Raises:
        GeneratorError: ``dest`` is a file, or a non-empty folder without ``overwrite``.
    """
    dest = dest.resolve()
    if dest.exists() and not dest.is_dir():
        raise GeneratorError(f"{dest} exists and is not a folder", hint="choose another destination")
    if dest.exists() and not _is_empty_dir(dest) and not overwrite:
        raise GeneratorError(
            f"{dest} is not empty",
            hint="choose an empty or new folder, or pass --overwrite to render over it",
        )
    return dest


def render_project(
    dest: Path,
    answers: Mapping[str, Any] | None = None,
    *,
    template: str | Path | None = None,
    overwrite: bool = False,
    ask: bool = False,
    record_as: str | None = None,
) -> Path:
    """Render one project from the template into ``dest`` with default answers plus ``answers``.

    Args:
        dest: Folder to create. It must be absent or empty unless ``overwrite`` is set.
        answers: Answers that replace the defaults, by question name.
        template: Template path or URL; defaults to this checkout.
        overwrite: Allow rendering into a non-empty folder, replacing files of the same name.
        ask: Ask the questions not given in ``answers`` interactively instead of taking defaults.
        record_as: The ``_src_path`` to record instead of ``template`` (e.g. its remote URL).

    Returns:
        ``dest``.

    Raises:
        GeneratorError: The destination is not empty, an answer is invalid, or rendering failed.
    """
    dest = check_destination(dest, overwrite=overwrite)
    src = str(template or template_root())
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}.rendering-", dir=dest.parent))
    try:
        with warnings.catch_warnings():
            # Rendering the working tree of a template checkout is what developers want here.
            warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
            copier.run_copy(
                src,
                scratch,
                data=dict(answers or {}),
                defaults=not ask,
                overwrite=True,
                quiet=True,
                unsafe=False,
                vcs_ref="HEAD",
            )
    except ValueError as exc:  # copier reports a failed validator as ValueError
        shutil.rmtree(scratch, ignore_errors=True)
        message = str(exc).removeprefix("Validation error for question ")
        raise GeneratorError(f"invalid answer {message}") from exc
    except (copier.errors.CopierError, OSError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise GeneratorError(f"rendering {without_credentials(src)} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if record_as is not None and record_as != src:
        record_source(scratch, record_as)
    _move_into_place(scratch, dest)
    return dest


def _move_into_place(scratch: Path, dest: Path) -> None:
    if not dest.exists():
        scratch.rename(dest)
        return
    shutil.copytree(scratch, dest, dirs_exist_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)


def lock_project(project: Path, *, timeout: float = 300) -> bool:
    """Write ``uv.lock`` in ``project`` when uv is available; return whether it was written.

    uv needs an interpreter of the project's Python version; a local one is handed to it so uv
    never tries to download one (impossible offline, and on machines that reach only PyPI).
    """
    uv = which("uv")
    if uv is None:
        return False
    command: list[str | Path] = [uv, "lock", "--quiet"]
    python = find_python(str(read_answers(project).get("python_version", "")))
    if python is not None:
        command += ["--python", python]
    run(command, cwd=project, timeout=timeout, env={"VIRTUAL_ENV": None})
    return True


def read_answers(project: Path) -> dict[str, Any]:
    """The answers recorded in a rendered project's ``.copier-answers.yml``."""
    import yaml

    path = project / ANSWERS_FILE
    if not path.is_file():
        raise GeneratorError(
            f"{project} has no {ANSWERS_FILE}",
            hint="pass a project made by `dsdeploy new DEST` or `copier copy`",
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {key: value for key, value in data.items() if not key.startswith("_")}


@dataclass(frozen=True)
class Rendered:
    """Where one variant was rendered and how long it took."""

    variant_id: str
    path: Path
    seconds: float


def _render_one(args: tuple[str, dict[str, Any], Path, Path]) -> Rendered:
    variant_id, answers, dest, template = args
    start = time.perf_counter()
    render_project(dest, answers, template=template, overwrite=True)
    return Rendered(variant_id, dest, time.perf_counter() - start)


def render_many(
    outdir: Path,
    items: Mapping[str, Mapping[str, Any]],
    *,
    jobs: int = 1,
    on_done: Callable[[Rendered], None] | None = None,
    by_dependency: bool = True,
    link_dir: Path | None = None,
) -> list[Rendered]:
    """Render each ``id -> answers`` item into ``outdir/<id>``.

    The template is snapshotted once (see :func:`snapshot_template`). By default the items are
    rendered by dependency (:mod:`generator.project.render_by_dependency`: each template file once per
    distinct answers it reads, in this process; equal to copier's own render byte for byte);
    ``by_dependency=False`` runs copier per item in ``jobs`` processes instead.

    Args:
        outdir: Folder of the projects, one per item id.
        items: Answers by variant id.
        jobs: Processes for ``by_dependency=False`` (copier is CPU-bound).
        on_done: Called with each project written.
        by_dependency: Render by dependency rather than with copier per item.
        link_dir: With ``by_dependency``, hard-link the projects' files to pieces kept here
            (a folder outside ``outdir``) instead of copying: fast, and read-only by contract.

    Raises:
        GeneratorError: One or more variants failed; the message lists each with its error.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    done: list[Rendered] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dsdeploy-template-") as tmp:
        snapshot = snapshot_template(Path(tmp))
        if by_dependency:
            _render_by_dependency(snapshot, outdir, items, link_dir, done, failures, on_done)
        else:
            work = [(vid, dict(answers), outdir / vid, snapshot) for vid, answers in items.items()]
            with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures = {pool.submit(_render_one, item): item[0] for item in work}
                for future in as_completed(futures):
                    try:
                        rendered = future.result()
                    except GeneratorError as exc:
                        failures.append(f"{futures[future]}: {exc}")
                        continue
                    done.append(rendered)
                    if on_done:
                        on_done(rendered)
    if failures:
        raise GeneratorError(f"{len(failures)} variant(s) failed to render:\n" + "\n".join(sorted(failures)))
    return sorted(done, key=lambda r: r.variant_id)


def _render_by_dependency(
    snapshot: Path,
    outdir: Path,
    items: Mapping[str, Mapping[str, Any]],
    link_dir: Path | None,
    done: list[Rendered],
    failures: list[str],
    on_done: Callable[[Rendered], None] | None,
) -> None:
    with DependencyRenderer(snapshot) as renderer:
        for variant_id, answers in items.items():
            start = time.perf_counter()
            try:
                tree = renderer.render(answers, folder_name=variant_id)
            except GeneratorError as exc:
                failures.append(f"{variant_id}: {exc}")
                continue
            path = write_tree(tree, renderer.store, outdir / variant_id, link_dir=link_dir)
            rendered = Rendered(variant_id, path, time.perf_counter() - start)
            done.append(rendered)
            if on_done:
                on_done(rendered)
