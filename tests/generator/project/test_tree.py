"""Trees written by hard-linking shared pieces stay whole when several writers share the pieces."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from generator.project.tree import FileEntry, PieceStore, Tree, read_tree, write_tree


def _tree(store: PieceStore, files: int) -> Tree:
    def entry(i: int) -> FileEntry:
        return FileEntry(store.add(f"content {i}\n".encode() * 200), 0o644 if i % 2 else 0o755, "t")

    entries = {f"pkg/file_{i}.txt": entry(i) for i in range(files)}
    return Tree(files=entries, dirs=frozenset({"pkg"}))


def test_threads_writing_the_same_pieces_at_once_all_get_the_whole_tree(tmp_path):
    # Threads share one pid: a scratch name made of the pid let one writer's rename pull the file
    # from under another (CI's FileNotFoundError in the Kubeflow compiles), and renaming a piece
    # over one already published fails a link() made to the old one at that moment.
    store = PieceStore()
    tree = _tree(store, files=300)
    pieces, writers = tmp_path / "pieces", 8
    start = threading.Barrier(writers)

    def write(n: int):
        start.wait()
        return write_tree(tree, store, tmp_path / f"project-{n}", link_dir=pieces)

    with ThreadPoolExecutor(max_workers=writers) as pool:
        written = list(pool.map(write, range(writers)))

    expected = {path: (store[entry.digest], entry.mode) for path, entry in tree.files.items()}
    for project in written:
        assert dict(read_tree(project).files) == expected
    # Every scratch file is gone: the pieces folder holds the pieces and nothing else.
    published = sorted(f"{e.digest}-{e.mode:o}" for e in tree.files.values())
    assert sorted(p.name for p in pieces.iterdir()) == published
