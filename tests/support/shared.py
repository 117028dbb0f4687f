"""Work done once per run, whichever pytest-xdist worker asks first.

Session fixtures run once per worker. For the few that are costly and leave their result outside
the process (an image in the engine's store), the workers share one record: the first to ask
makes it under a file lock, the others wait on the lock and read what it wrote. This is the
pattern pytest-xdist documents ("Making session-scoped fixtures execute only once"); the record
lives in the run's temporary root, which every worker of one run shares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from filelock import FileLock

T = TypeVar("T")


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this run shares (the session's own one without xdist)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <run root>/popen-gwN.
    return base.parent if re.fullmatch(r"popen-gw\d+", base.name) else base


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory,
    key: str,
    make: Callable[[], T],
    dump: Callable[[T], Any],
    load: Callable[[Any], T],
) -> T:
    """``make()`` once per run for ``key``; later callers, in any worker, get ``load(dump(it))``.

    ``dump`` turns the result into JSON data and ``load`` back. A ``make`` that raises records
    nothing, so the next caller tries again (and fails or skips the same way, with its own message).
    """
    folder = run_root(tmp_path_factory) / "shared"
    folder.mkdir(exist_ok=True)
    record = folder / f"{key}.json"
    with FileLock(folder / f"{key}.lock"):
        if record.is_file():
            return load(json.loads(record.read_text(encoding="utf-8")))
        made = make()
        record.write_text(json.dumps(dump(made)), encoding="utf-8")
        return made
