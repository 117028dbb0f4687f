"""Where the template comes from: this checkout, the copy the wheel carries, or a git URL.

What a render records as ``_src_path`` decides whether ``copier update`` works later, so the
choice and its notes (an unpushed HEAD, a copy without history) are made here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from generator.errors import CommandFailed, CommandTimedOut, GeneratorError
from generator.process import run
from generator.tools import which

# This module sits in generator/project/: the package is one folder up, the checkout two.
PACKAGE = Path(__file__).resolve().parents[1]
BUNDLED_TEMPLATE = PACKAGE / "_template"
TEMPLATE_URL_ENV = "DSDEPLOY_TEMPLATE_URL"


def template_root() -> Path:
    """The template this package renders: its checkout, else the copy the installed wheel carries.

    A checkout (the folder holding ``copier.yml`` above this package) wins, so developers render
    their working tree; an installed wheel carries ``copier.yml``, ``template/`` and ``hooks/``
    under ``generator/_template``.
    """
    checkout = PACKAGE.parent
    for root in (checkout, BUNDLED_TEMPLATE):
        if (root / "copier.yml").is_file():
            return root
    raise GeneratorError(
        f"no copier.yml found at {checkout} or {BUNDLED_TEMPLATE}",
        hint="reinstall the package (`pip install --force-reinstall dsdeploy`) or pass --template GIT-URL",
    )


@dataclass(frozen=True)
class TemplateSource:
    """Where a project is rendered from, what its answers file records as ``_src_path``, and why."""

    render_from: str
    record_as: str
    notes: tuple[str, ...] = ()


def without_credentials(url: str) -> str:
    """``url`` without the secret a clone URL may carry (``https://user:token@host/x`` -> ``https://host/x``).

    The answers file is committed and shared, so ``_src_path`` must hold no token. HTTP(S) URLs
    lose the whole user part (a token often stands alone as the user name); other schemes keep the
    user name, which ssh needs (``ssh://git@host/x``), and lose any password. Paths and scp-like
    addresses (``git@host:x``) are returned unchanged.
    """
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    user, _, host = parts.netloc.rpartition("@")
    keep = "" if parts.scheme.lower() in ("http", "https") else user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{keep}@{host}" if keep else host))


def _git_output(root: Path, *args: str) -> str | None:
    git = which("git")
    if git is None:
        return None
    try:
        return run([git, "-C", root, *args], timeout=30).stdout.strip() or None
    except (CommandFailed, CommandTimedOut):
        return None


def resolve_source(template: str | None = None, *, root: Path | None = None) -> TemplateSource:
    """Decide where ``dsdeploy new`` renders from and which ``_src_path`` others can update from.

    Order: ``template`` as named (a local folder made absolute); ``$DSDEPLOY_TEMPLATE_URL``; this
    checkout, recorded as its ``origin`` URL when it has one (a local path otherwise); the copy the
    wheel carries (no history, so ``copier update`` needs a URL: the notes say so). A URL is
    rendered from as given and recorded without credentials.
    """
    named = template or os.environ.get(TEMPLATE_URL_ENV, "").strip() or None
    if named:
        local = Path(named).expanduser()
        if local.is_dir():
            path = str(local.resolve())
            note = (
                ()
                if _git_output(local, "rev-parse", "--git-dir")
                else (f"{path} is not a git checkout: `copier update` needs a template with history",)
            )
            return TemplateSource(path, path, note)
        return TemplateSource(named, without_credentials(named))
    root = root or template_root()
    if _git_output(root, "rev-parse", "--git-dir") is None:
        return TemplateSource(
            str(root),
            str(root),
            (
                f"rendered from the template bundled with dsdeploy ({root}), which has no history: "
                f"for `copier update`, render with --template GIT-URL or set {TEMPLATE_URL_ENV}",
            ),
        )
    url = _git_output(root, "remote", "get-url", "origin")
    if url is None:
        return TemplateSource(
            str(root),
            str(root),
            (f"{root} has no 'origin' remote: only this machine can update from it; use --template GIT-URL",),
        )
    url = without_credentials(url)
    notes: tuple[str, ...] = ()
    if not _git_output(root, "branch", "--remotes", "--contains", "HEAD"):
        notes = (f"HEAD of {root} is not pushed to {url}: push it, or `copier update` will not find it",)
    return TemplateSource(str(root), url, notes)


def snapshot_template(into: Path, source: Path | None = None) -> Path:
    """Copy ``copier.yml`` and ``template/`` to ``into`` as a plain (non-git) folder.

    Copier clones a git template for every render; rendering many variants from a plain copy
    skips that clone and also renders uncommitted changes without a dirty-tree warning.
    """
    source = source or template_root()
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "copier.yml", into / "copier.yml")
    shutil.copytree(source / "template", into / "template", dirs_exist_ok=True)
    return into
