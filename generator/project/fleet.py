"""Many generated projects at once: which template release each is on, and updating the clean ones.

A platform team points this at project checkouts (or folders holding several). Each project's
``.copier-answers.yml`` names its template (``_src_path``) and release (``_commit``); the
template's release tags (``git ls-remote --tags``) say how far behind it is. ``update_fleet``
runs ``copier update`` on each clean project in turn and never touches a dirty one.

A project's answers file is input from its repository, not from the platform team: a project
whose ``_src_path`` is not the template the fleet was told (dsdeploy's own by default) is refused
before any command sees it, and every command here puts ``--`` before a URL or path it passes.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from generator.errors import CommandFailed, CommandTimedOut, GeneratorError
from generator.process import run
from generator.project.render import ANSWERS_FILE
from generator.project.source import resolve_source, without_credentials
from generator.tools import require

KEY_ANSWERS = ("python_version", "model_framework", "registry", "ci_provider", "with_kubeflow", "with_dask")
_DESCRIBED = re.compile(r"^v?(?P<tag>[0-9][^-]*)(?:-(?P<ahead>[0-9]+)-g[0-9a-f]+)?$")
_MARKERS = ("<<<<<<< ", ">>>>>>> ")


class Outcome(StrEnum):
    """What ``update_fleet`` did to one project."""

    UPDATED = "updated"
    CONFLICTED = "conflicted"
    CURRENT = "current"
    SKIPPED_DIRTY = "skipped (dirty)"
    SKIPPED_NOT_GIT = "skipped (not a git repository)"
    FAILED = "failed"


@dataclass(frozen=True)
class ProjectState:
    """One project as the fleet table shows it."""

    path: Path
    project: str
    template: str
    version: str | None
    newest: str | None
    behind: int | None
    answers: dict[str, Any] = field(default_factory=dict)
    local_changes: int | None = None  # files changed or untracked; None outside git

    @property
    def clean(self) -> bool:
        """A git checkout without local changes (the only kind ``update_fleet`` touches)."""
        return self.local_changes == 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (paths as strings)."""
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class UpdateResult:
    """One project's update: the outcome, the detail behind it, and its state afterwards."""

    state: ProjectState
    outcome: Outcome
    detail: str = ""
    files: tuple[str, ...] = ()  # the conflicted files

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            **self.state.as_json(),
            "outcome": self.outcome.value,
            "detail": self.detail,
            "files": list(self.files),
        }


def find_projects(paths: Iterable[Path]) -> list[Path]:
    """Each path that is a project, else the projects directly inside it, sorted, without repeats."""
    found: set[Path] = set()
    for path in paths:
        if (path / ANSWERS_FILE).is_file():
            found.add(path.resolve())
            continue
        if not path.is_dir():
            raise GeneratorError(
                f"{path} is not a folder", hint="pass project folders, e.g. `dsdeploy fleet ~/src/*`"
            )
        found.update(answers.parent.resolve() for answers in path.glob(f"*/{ANSWERS_FILE}"))
    if not found:
        raise GeneratorError(
            "no project found (no .copier-answers.yml in the folders or one level inside)",
            hint="pass project checkouts or their parent folder, e.g. `dsdeploy fleet ~/src`",
        )
    return sorted(found)


def _same_template(name: str) -> str:
    """``name`` as compared: no credentials, no trailing ``/`` or ``.git``, a folder made absolute."""
    name = without_credentials(name.strip()).rstrip("/").removesuffix(".git")
    local = Path(name).expanduser()
    return str(local.resolve()) if local.is_dir() else name


def expected_template(template: str | None = None) -> str:
    """The template fleet accepts: ``template`` as given, else the one ``dsdeploy new`` records."""
    return template or resolve_source().record_as


def check_template(project: Path, src_path: str, expected: str) -> None:
    """Refuse ``project`` unless its ``_src_path`` names ``expected`` (and is no command-line option).

    Raises:
        GeneratorError: the answers file names another template, or none.
    """
    if src_path.startswith("-") or _same_template(src_path) != _same_template(expected):
        raise GeneratorError(
            f"{project}: its {ANSWERS_FILE} names the template {src_path!r}, not {expected}, so fleet "
            "leaves it alone",
            hint="pass --template with that template's address if you trust it, or leave the project out",
        )


def release_of(commit: str | None) -> Version | None:
    """The release a ``_commit`` is at or after (``v0.1.0``, ``v0.1.0-3-gabc1234``), if any."""
    match = _DESCRIBED.match(commit or "")
    if match is None:
        return None
    try:
        return Version(match["tag"])
    except InvalidVersion:
        return None


@functools.cache
def releases(src_path: str) -> tuple[Version, ...]:
    """The template's release tags (PEP 440, ``vX.Y.Z``), oldest first; empty when unreachable."""
    git = require("git")
    try:
        # `--`: an answers file's `_src_path` such as `--upload-pack=...` must stay an address.
        listing = run([git, "ls-remote", "--tags", "--refs", "--", src_path], timeout=60).stdout
    except (CommandFailed, CommandTimedOut):
        return ()
    found = set()
    for line in listing.splitlines():
        tag = line.rpartition("refs/tags/")[2]
        version = release_of(tag)
        if version is not None and not version.is_prerelease and tag == f"v{version}":
            found.add(version)
    return tuple(sorted(found))


def local_changes(project: Path) -> int | None:
    """How many files ``git status`` lists as changed or untracked; None outside a git checkout."""
    git = require("git")
    try:
        top = run([git, "-C", project, "rev-parse", "--show-toplevel"], timeout=30).stdout.strip()
    except (CommandFailed, CommandTimedOut):
        return None
    if not top:
        return None
    # `-- .`: a project inside a larger repository counts only the changes under it.
    status = run([git, "-C", project, "status", "--porcelain", "--", "."], timeout=60).stdout
    return len(status.splitlines())


def _answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8")) or {}


def inspect_project(project: Path, expected: str | None = None) -> ProjectState:
    """Read one project's answers, release and local changes (refused unless from ``expected``)."""
    data = _answers(project)
    template = str(data.get("_src_path", ""))
    check_template(project, template, expected_template(expected))
    commit = data.get("_commit")
    known = releases(template) if template else ()
    current = release_of(str(commit) if commit else None)
    newest = known[-1] if known else None
    behind = None if current is None or not known else sum(1 for v in known if v > current)
    return ProjectState(
        path=project,
        project=str(data.get("project_slug", project.name)),
        template=template,
        version=str(commit) if commit else None,
        newest=f"v{newest}" if newest else None,
        behind=behind,
        answers={key: data[key] for key in KEY_ANSWERS if key in data},
        local_changes=local_changes(project),
    )


def inspect_fleet(
    paths: Iterable[Path],
    *,
    template: str | None = None,
    on_done: Callable[[ProjectState], None] | None = None,
) -> list[ProjectState]:
    """The state of every project found under ``paths`` (``on_done`` sees each as it is read).

    Every project must come from ``template`` (dsdeploy's own by default): one that does not is
    refused before any command runs on any of them.
    """
    expected = expected_template(template)
    projects = find_projects(paths)
    for project in projects:  # every project checked before any command runs on one
        check_template(project, str(_answers(project).get("_src_path", "")), expected)
    states = []
    for project in projects:
        states.append(inspect_project(project, expected))
        if on_done:
            on_done(states[-1])
    return states


def _conflicted(project: Path) -> tuple[str, ...]:
    git = require("git")
    unmerged = run([git, "-C", project, "diff", "--name-only", "--diff-filter=U"], timeout=60).stdout.split()
    rejects = [str(p.relative_to(project)) for p in project.rglob("*.rej") if ".git" not in p.parts]
    marked = []
    for name in run([git, "-C", project, "diff", "--name-only"], timeout=60).stdout.split():
        path = project / name
        if path.is_file() and any(
            line.startswith(_MARKERS) for line in path.read_text(errors="replace").splitlines()
        ):
            marked.append(name)
    return tuple(sorted({*unmerged, *rejects, *marked}))


def update_project(state: ProjectState, *, trust: bool) -> UpdateResult:
    """``copier update`` one project to the newest release, if it is a clean git checkout."""
    import copier
    import copier.errors

    if state.local_changes is None:
        return UpdateResult(state, Outcome.SKIPPED_NOT_GIT, "copier updates git checkouts only")
    if state.local_changes:
        return UpdateResult(
            state, Outcome.SKIPPED_DIRTY, f"{state.local_changes} changed file(s): commit or stash first"
        )
    if state.behind == 0:
        return UpdateResult(state, Outcome.CURRENT, "already on the newest release")
    before = state.version
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # copier's notes (dirty template, version) are not the user's problem
            copier.run_update(
                state.path, defaults=True, overwrite=True, conflict="inline", quiet=True, unsafe=trust
            )
    except copier.errors.UnsafeTemplateError:
        return UpdateResult(state, Outcome.FAILED, "the update crosses a migration: rerun with --trust")
    except (copier.errors.CopierError, OSError, ValueError) as exc:
        return UpdateResult(
            state, Outcome.FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        )
    after = inspect_project(state.path, state.template)
    conflicts = _conflicted(state.path)
    if conflicts:
        return UpdateResult(after, Outcome.CONFLICTED, "resolve the markers, then commit", conflicts)
    if after.version == before:
        return UpdateResult(after, Outcome.CURRENT, "already on the newest release")
    return UpdateResult(
        after, Outcome.UPDATED, f"{before} -> {after.version}: review `git diff`, run the tests, commit"
    )


def update_fleet(
    states: Sequence[ProjectState], *, trust: bool, on_done: Callable[[UpdateResult], None] | None = None
) -> list[UpdateResult]:
    """Update each clean project in turn (one at a time: copier clones and renders per project)."""
    results = []
    for state in states:
        result = update_project(state, trust=trust)
        results.append(result)
        if on_done:
            on_done(result)
    return results
