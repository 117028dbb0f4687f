"""What the migration scripts share: git, the template's history, files held back from a merge.

Copier runs a migration from its own clone of the template (history and tags included), in the
project's folder, on copier's interpreter: standard library and PyYAML only. A ``before`` stage
holds back the user's edited copy of a file the release rewrites and puts the old release's
content in the index, so copier sees no local change and writes the new file cleanly; the
``after`` stage then merges the held copy in or sets it aside, and releases the index entry.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]  # copier's checkout of the template, with history
ANSWERS_FILE = ".copier-answers.yml"


class Migration:
    """One release's migration: its report prefix and the place it holds files in ``.git``."""

    def __init__(self, version: str) -> None:
        """``version``: the release the migration moves projects to, e.g. ``0.3.0``."""
        self.version = version
        self.prefix = f"dsdeploy migration {version}:"

    def say(self, message: str) -> None:
        """One report line on stderr (copier passes a migration's output through)."""
        sys.stderr.write(f"{self.prefix} {message}\n")

    def git(self, *args: str, stdin: str | None = None) -> str:
        """Run git in the project; stop with its stderr on failure."""
        done = subprocess.run(["git", *args], input=stdin, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{self.prefix} git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def old_file(self, version_from: str, path: str) -> str:
        """``path`` (under the template's root) as it was at ``version_from``.

        ``version_from`` is a tag, or ``git describe`` of a commit. A commit copier made of a
        dirty local template is not in the history: its release tag is.
        """
        tag = re.sub(r"-\d+-g[0-9a-f]+$", "", version_from)
        for rev in dict.fromkeys((version_from, tag)):
            done = subprocess.run(
                ["git", "-C", str(TEMPLATE), "show", f"{rev}:{path}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                return done.stdout
        raise SystemExit(
            f"{self.prefix} {path} at {version_from} is not in the template's history at {TEMPLATE}: "
            "update from a full clone of the template, tags included."
        )

    def stash(self) -> Path:
        """Where held-back files wait between the two stages (inside .git, never committed)."""
        return Path(self.git("rev-parse", "--absolute-git-dir").strip()) / f"dsdeploy-migrate-{self.version}"

    def hold_back(self, path: Path, base: str) -> None:
        """Keep the user's ``path`` in the stash when it differs from ``base``, and stage ``base``.

        ``base`` is the old release's content: staged, copier's merge sees no local change.
        """
        if not path.is_file() or path.read_text(encoding="utf-8") == base:
            return
        held = self.stash() / path
        held.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, held)
        sha = self.git("hash-object", "-w", "--stdin", stdin=base).strip()
        self.git("update-index", "--cacheinfo", f"100644,{sha},{path.as_posix()}")

    def held(self, path: Path) -> str | None:
        """The user's copy of ``path`` that ``before`` held back, if any."""
        held = self.stash() / path
        return held.read_text(encoding="utf-8") if held.is_file() else None

    def release(self, path: Path) -> None:
        """Put ``path``'s index entry back to HEAD's (``hold_back`` staged the old content)."""
        self.git("reset", "-q", "--", path.as_posix())

    def finish(self) -> None:
        """Drop the stash once every held file is merged or set aside."""
        shutil.rmtree(self.stash(), ignore_errors=True)


def merge_lines(user: str, base: str, new: str) -> tuple[str, bool]:
    """``git merge-file`` of three texts with copier's conflict labels: the text, and whether clean."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, text in (("user", user), ("base", base), ("new", new)):
            paths.append(Path(tmp, name))
            paths[-1].write_text(text, encoding="utf-8")
        done = subprocess.run(
            ["git", "merge-file", "-p", "-L", "before updating", "-L", "last update", "-L", "after updating",
             *map(str, paths)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode < 0 or done.returncode > 127:
        raise SystemExit(f"dsdeploy migration: git merge-file failed: {done.stderr.strip()}")
    return done.stdout, done.returncode == 0


def user_imports() -> Iterator[tuple[Path, ast.Import | ast.ImportFrom]]:
    """Each import statement in the project's own Python files (``serving/`` and dot folders aside)."""
    for path in sorted(Path().glob("**/*.py")):
        if any(part.startswith(".") for part in path.parts) or "serving" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield path, node


def package_name() -> str:
    """The project's package, from its answers file (copier has not loaded answers before ``before``)."""
    import yaml  # copier's own dependency: this runs on copier's interpreter

    answers = yaml.safe_load(Path(ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    return str(answers["package_name"])


def run_stage(argv: list[str], before: Callable[[str, str], None], after: Callable[[str, str], None]) -> int:
    """A migration script's command line: ``before|after VERSION_FROM``, in the project folder."""
    if len(argv) != 2 or argv[0] not in {"before", "after"}:
        sys.stderr.write(f"usage: {Path(sys.argv[0]).name} before|after VERSION_FROM\n")
        return 2
    stage, version_from = argv
    (before if stage == "before" else after)(package_name(), version_from)
    return 0
