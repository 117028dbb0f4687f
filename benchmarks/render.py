"""Render speed: in-process render vs the copier CLI, and the full matrix in parallel.

Prints medians over repeated runs, measured in the same run as their baseline:
- one variant rendered in-process from a template snapshot (what `dsdeploy render` does);
- one variant through the `copier copy` CLI from the git checkout (what a user runs), the baseline;
- the same CLI on the snapshot (to separate process start-up from the git clone);
- the full matrix with `--jobs 2`.

Usage: python benchmarks/render.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from generator.render import render_many, render_project, snapshot_template, template_root
from generator.variants import default_variant, variants


def _median_seconds(action: Callable[[Path], object], repeat: int, scratch: Path) -> float:
    times = []
    for i in range(repeat):
        dest = scratch / f"run-{time.monotonic_ns()}-{i}"
        start = time.perf_counter()
        action(dest)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _copier_cli(source: Path) -> Callable[[Path], object]:
    def action(dest: Path) -> object:
        command = [sys.executable, "-m", "copier", "copy", "--defaults", "--quiet", "--vcs-ref", "HEAD"]
        return subprocess.run([*command, str(source), str(dest)], check=True, capture_output=True)

    return action


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="runs per median (default 7)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-") as tmp:
        scratch = Path(tmp)
        snapshot = snapshot_template(scratch / "template")
        answers = default_variant().as_dict()

        in_process = _median_seconds(
            lambda d: render_project(d, answers, template=snapshot), args.repeat, scratch
        )
        cli_git = _median_seconds(_copier_cli(template_root()), args.repeat, scratch)
        cli_snapshot = _median_seconds(_copier_cli(snapshot), args.repeat, scratch)

        matrix = {v.id: v.as_dict() for v in variants("full")}
        matrix_times = []
        for i in range(3):
            start = time.perf_counter()
            render_many(scratch / f"matrix-{i}", matrix, jobs=2)
            matrix_times.append(time.perf_counter() - start)
        matrix_median = statistics.median(matrix_times)

    print(f"{'measure':<48}{'median':>12}{'vs copier CLI':>16}")
    rows = [
        ("one variant, copier CLI from git checkout", cli_git),
        ("one variant, copier CLI from snapshot", cli_snapshot),
        ("one variant, dsdeploy in-process (snapshot)", in_process),
    ]
    for label, seconds in rows:
        print(f"{label:<48}{seconds * 1000:>10.0f}ms{cli_git / seconds:>15.1f}x")
    per_variant = matrix_median / len(matrix)
    print(f"{f'full matrix ({len(matrix)} variants), --jobs 2':<48}{matrix_median:>11.2f}s")
    print(f"{'  per variant':<48}{per_variant * 1000:>10.0f}ms{cli_git / per_variant:>15.1f}x")


if __name__ == "__main__":
    main()
