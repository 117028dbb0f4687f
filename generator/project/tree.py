"""Rendered projects as values: a tree of paths to content digests and modes, and its pieces.

Render by dependency produces each distinct file content once; a variant's tree names the
pieces it is made of. Trees are written to disk by hard-linking the pieces (tests: thousands of
read-only projects for the cost of their distinct files) or by copying them (a user's folders).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FileEntry:
    """One file of a rendered project.

    Attributes:
        digest: SHA-256 of its content (the piece it is).
        mode: Permission bits.
        source: The template file it comes from, relative to the template's copy root.
    """

    digest: str
    mode: int
    source: str


@dataclass(frozen=True)
class Tree:
    """A rendered project: files by relative POSIX path, and every folder copier creates."""

    files: Mapping[str, FileEntry]
    dirs: frozenset[str]

    def paths(self) -> Iterator[str]:
        """The relative paths of the files, sorted."""
        return iter(sorted(self.files))

    def part_digest(self, parts: Iterable[str]) -> str:
        """SHA-256 over the paths and content digests of the files under ``parts`` (folders or files).

        Two trees give the same digest exactly when those files are the same on disk (paths and
        contents), as :func:`generator.project.fingerprint.tree_digest` tells of written trees,
        without writing or reading anything.
        """
        prefixes = tuple(sorted(parts))
        digest = hashlib.sha256()
        for relpath in sorted(self.files):
            if any(relpath == part or relpath.startswith(f"{part}/") for part in prefixes):
                digest.update(f"{relpath}\0{self.files[relpath].digest}\0".encode())
        return digest.hexdigest()


@dataclass
class PieceStore:
    """Distinct file contents by SHA-256 digest; the pieces trees are assembled from."""

    contents: dict[str, bytes] = field(default_factory=dict)

    def add(self, content: bytes) -> str:
        """Store ``content`` (once) and return its digest."""
        digest = hashlib.sha256(content).hexdigest()
        self.contents.setdefault(digest, content)
        return digest

    def __getitem__(self, digest: str) -> bytes:
        return self.contents[digest]


def write_tree(tree: Tree, store: PieceStore, dest: Path, *, link_dir: Path | None = None) -> Path:
    """Write ``tree`` to ``dest`` (created), and return ``dest``.

    Args:
        tree: The project to write.
        store: Where its pieces' contents are.
        dest: The project folder to create; it must not hold files of the tree already.
        link_dir: Hard-link every file to a piece kept in this folder (written on first use)
            instead of writing a copy. Linked files share their content: treat them as read-only.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for relpath in sorted(tree.dirs):
        (dest / relpath).mkdir(parents=True, exist_ok=True)
    for relpath, entry in tree.files.items():
        target = dest / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()  # never write through a link into a piece shared by other projects
        if link_dir is None:
            target.write_bytes(store[entry.digest])
            target.chmod(entry.mode)
            continue
        piece = link_dir / f"{entry.digest}-{entry.mode:o}"
        if not piece.exists():
            link_dir.mkdir(parents=True, exist_ok=True)
            # Written whole under a scratch name of its own (threads share a pid), then published
            # by a link that fails when another writer got there first. Never renamed over: a
            # link() racing a rename onto its source finds the replaced inode gone (ENOENT).
            fd, scratch = tempfile.mkstemp(prefix=f".{piece.name}.", dir=link_dir)
            with os.fdopen(fd, "wb") as out:
                out.write(store[entry.digest])
            os.chmod(scratch, entry.mode)
            with contextlib.suppress(FileExistsError):
                os.link(scratch, piece)
            os.unlink(scratch)
        os.link(piece, target)
    return dest


@dataclass(frozen=True)
class DiskTree:
    """A project folder as read from disk, for byte-for-byte comparison."""

    files: Mapping[str, tuple[bytes, int]]
    dirs: frozenset[str]

    def differences(self, other: DiskTree) -> list[str]:
        """Human-readable differences from ``other`` (empty when equal)."""
        problems = [f"folder only in one: {d}" for d in sorted(self.dirs ^ other.dirs)]
        problems += [f"file only in one: {f}" for f in sorted(self.files.keys() ^ other.files.keys())]
        for relpath in sorted(self.files.keys() & other.files.keys()):
            (mine, my_mode), (theirs, their_mode) = self.files[relpath], other.files[relpath]
            if mine != theirs:
                problems.append(f"content differs: {relpath}")
            if my_mode != their_mode:
                problems.append(f"mode differs: {relpath} {my_mode:o} != {their_mode:o}")
        return problems


def read_tree(root: Path) -> DiskTree:
    """Every file (content and permission bits) and folder under ``root``."""
    files: dict[str, tuple[bytes, int]] = {}
    dirs: set[str] = set()
    for path in root.rglob("*"):
        relpath = path.relative_to(root).as_posix()
        if path.is_dir():
            dirs.add(relpath)
        else:
            files[relpath] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return DiskTree(files, frozenset(dirs))


def tree_to_disk_tree(tree: Tree, store: PieceStore) -> DiskTree:
    """The :class:`DiskTree` that writing ``tree`` produces (folders of files included)."""
    dirs = set(tree.dirs)
    for relpath in tree.files:
        parent = Path(relpath).parent
        while parent != Path():
            dirs.add(parent.as_posix())
            parent = parent.parent
    files = {relpath: (store[e.digest], e.mode) for relpath, e in tree.files.items()}
    return DiskTree(files, frozenset(dirs))
