"""A generated project's `make test`: a baseline release of the template against this checkout.

For the default project and a Kubeflow+Dask one, renders the template at a baseline git ref
(default 4676a5e, release 0.2.0, taken with `git archive`) and the working tree (uncommitted
changes included), runs `make lock` in each, then times `make test`: the first run (which also
creates and syncs `.venv`) and the median of `--repeat` more, baseline and new interleaved (in
alternating order) so a busy machine slows both alike. Prints a table (project, ref, first run,
median, tests passed, new over baseline for both) and the load average at the start and the end.

The runs see this process's environment (PYTHONDONTWRITEBYTECODE included, which decides
whether imports compile on every run: the table's header says which). uv must be on PATH and
the projects' Python installed (found as `dsdeploy` finds it: PATH or pyenv's versions); it
never downloads one. Progress goes to stderr; the table to stdout.

Usage: python benchmarks/project_test.py [--baseline REF] [--repeat N] [--projects default,kubeflow-dask]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _report import load, progress

from generator.process import run
from generator.project.render import read_answers, render_project
from generator.project.source import snapshot_template
from generator.tools import find_python, which

PROJECTS: dict[str, dict[str, Any]] = {
    "default": {},
    "kubeflow-dask": {"with_kubeflow": True, "with_dask": True},
}
PASSED = re.compile(r"(\d+) passed")
# This checkout, whichever checkout the imported `generator` package belongs to.
ROOT = Path(__file__).resolve().parents[1]
# Generous: the baseline's `make test` is the whole suite, servers and notebooks included.
TIMEOUT = 3600


@dataclass
class Runs:
    """One project rendered from one ref, and its `make test` runs."""

    project: str
    ref: str
    path: Path
    env: Mapping[str, str | None]
    first: float = 0.0
    repeats: list[float] = field(default_factory=list)
    passed: str = "-"

    @property
    def median(self) -> float:
        return statistics.median(self.repeats) if self.repeats else float("nan")


def archive(ref: str, into: Path) -> Path:
    """``copier.yml`` and ``template/`` of ``ref`` in this repository, as a plain folder."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "copier.yml", "template"],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as members:
        members.extractall(into, filter="data")
    return into


def environment(project: Path) -> dict[str, str | None]:
    """What `make` runs with: the project's Python handed to uv, no colour, no outer venv."""
    version = str(read_answers(project)["python_version"])
    python = find_python(version)
    if python is None:
        raise SystemExit(f"no Python {version} on this machine (PATH or pyenv): install it first")
    return {"UV_PYTHON": str(python), "NO_COLOR": "1", "VIRTUAL_ENV": None}


def make_test(runs: Runs) -> float:
    """One timed `make test`; records the tests passed (or the failure) from pytest's summary."""
    start = time.perf_counter()
    done = run(["make", "test"], cwd=runs.path, env=runs.env, timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - start
    summary = next((line for line in reversed(done.stdout.splitlines()) if " in " in line), "")
    found = PASSED.search(summary)
    runs.passed = found.group(1) if found and done.returncode == 0 else "FAILED"
    progress(f"  {runs.project} @ {runs.ref}: {seconds:.1f} s, {summary.strip('= ')} (load {load()})")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", default="4676a5e", help="git ref of the baseline template (default 0.2.0)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs after the first, for the median (default 3)"
    )
    parser.add_argument(
        "--projects", default=",".join(PROJECTS), help=f"comma-separated, of {', '.join(PROJECTS)}"
    )
    args = parser.parse_args()
    for tool in ("make", "uv", "git"):
        if which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH")
    names = [name for name in args.projects.split(",") if name]
    load_before = load()
    progress(f"load average before: {load_before} on {os.cpu_count()} cores")

    results: list[tuple[Runs, Runs]] = []
    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-test-") as tmp:
        scratch = Path(tmp)
        sources = {
            args.baseline: archive(args.baseline, scratch / "baseline"),
            "working tree": snapshot_template(scratch / "current", ROOT),
        }
        for name in names:
            pair = []
            for ref, source in sources.items():
                path = render_project(scratch / f"{name}-{len(pair)}", PROJECTS[name], template=source)
                env = environment(path)
                run(["git", "init", "--quiet"], cwd=path)
                progress(f"{name} @ {ref}: make lock")
                run(["make", "lock"], cwd=path, env=env, timeout=600)
                pair.append(Runs(name, ref, path, env))
            baseline, new = pair
            for runs in pair:  # the first run syncs .venv (and, where the Makefile says so, compiles)
                runs.first = make_test(runs)
            for repeat in range(args.repeat):
                # Alternate which goes first: neither always follows the other's leftovers.
                for runs in pair if repeat % 2 else pair[::-1]:
                    runs.repeats.append(make_test(runs))
            results.append((baseline, new))
    load_after = load()

    bytecode = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    print(
        f"`make test` after `make lock`; median of {args.repeat} runs after the first; working tree: {ROOT}"
    )
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}; {os.cpu_count()} cores")
    print(f"PYTHONDONTWRITEBYTECODE {bytecode}")
    print()
    print(
        f"{'project':<16}{'ref':<15}{'first run s':>12}{'median s':>10}{'tests passed':>14}"
        f"{'new/baseline first':>20}{'median':>8}"
    )
    for baseline, new in results:
        ratios = f"{new.first / baseline.first:>19.2f}x{new.median / baseline.median:>7.2f}x"
        for runs, tail in ((baseline, ""), (new, ratios)):
            print(
                f"{runs.project:<16}{runs.ref:<15}{runs.first:>12.1f}{runs.median:>10.1f}{runs.passed:>14}{tail}"
            )


if __name__ == "__main__":
    main()
