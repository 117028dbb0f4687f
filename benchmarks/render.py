"""Render speed: copier per variant against render by dependency over the whole matrix.

Prints, in one run, with the machine's load average before and after:
- one variant through the `copier copy` CLI from a template snapshot (the baseline) and from the
  git checkout (what a user runs; adds the clone);
- one variant with copier in-process (`generator.project.render.render_project`, what `dsdeploy render
  --copier` does per variant);
- the full matrix rendered by dependency (`generator.project.render_by_dependency`), amortised per
  variant: trees in memory, then written to disk (hard links to shared pieces), then the render
  tier's per-file checks (no Jinja left, YAML/TOML/JSON parse) once per distinct (path, content);
- each figure's ratio to the baseline.

`--simulate-axis model_framework=sklearn,xgboost,lightgbm` adds a question to the *snapshot*
(never to copier.yml) and makes the files a framework would change read it (pyproject.toml,
Dockerfile, README, the model's test), so the matrix and the distinct pieces grow as they
will when that question lands. Progress goes to stderr; the table to stdout.

Usage: python benchmarks/render.py [--repeat N] [--simulate-axis NAME=V1,V2,...] [--full-copier]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import yaml
from _report import STDERR, load, progress

from generator.console import progress as tracked
from generator.project.render import render_many, render_project
from generator.project.render_by_dependency import DependencyRenderer
from generator.project.source import snapshot_template, template_root
from generator.project.tree import PieceStore, Tree, write_tree
from generator.project.variants import default_variant, variants

HELM_TEMPLATES = re.compile(r"^charts/[^/]+/templates/")
JINJA_MARKERS = re.compile(r"(?<!\$)\{\{|\{%|\{#|%\}|#\}")
PARSERS: dict[str, Callable[[str], object]] = {
    ".yml": lambda text: list(yaml.safe_load_all(text)),
    ".yaml": lambda text: list(yaml.safe_load_all(text)),
    ".toml": tomllib.loads,
    ".json": json.loads,
}
# Files a framework question changes, and a line each can carry that reads it.
SIMULATED_READERS = (
    "pyproject.toml.jinja",
    "Dockerfile.jinja",
    "README.md.jinja",
    "tests/test_model.py.jinja",
)


def _median_seconds(label: str, action: Callable[[Path], object], repeat: int, scratch: Path) -> float:
    times = []
    with tracked(STDERR, label, total=repeat) as tracker:
        for i in range(repeat):
            dest = scratch / f"run-{time.monotonic_ns()}-{i}"
            start = time.perf_counter()
            action(dest)
            times.append(time.perf_counter() - start)
            tracker.advance(f"last {times[-1] * 1000:.0f} ms")
    return statistics.median(times)


def _copier_cli(source: Path) -> Callable[[Path], object]:
    def action(dest: Path) -> object:
        command = [sys.executable, "-m", "copier", "copy", "--defaults", "--quiet", "--vcs-ref", "HEAD"]
        return subprocess.run([*command, str(source), str(dest)], check=True, capture_output=True)

    return action


def simulate_axis(snapshot: Path, spec: str) -> str:
    """Add the question ``NAME=V1,V2,...`` to the snapshot and make the framework files read it."""
    name, _, values = spec.partition("=")
    choices = values.split(",")
    with (snapshot / "copier.yml").open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n{name}:\n  type: str\n  help: simulated axis\n  choices: {json.dumps(choices)}\n"
            f"  default: {json.dumps(choices[0])}\n"
        )
    for relpath in SIMULATED_READERS:
        path = snapshot / "template" / relpath
        path.write_text(path.read_text(encoding="utf-8") + f"# {name}: {{{{ {name} }}}}\n", encoding="utf-8")
    return name


def check_distinct(trees: dict[str, Tree], store: PieceStore) -> int:
    """The render tier's per-file checks, once per distinct (path, content); returns the count."""
    seen: set[tuple[str, str]] = set()
    for tree in trees.values():
        for relpath, entry in tree.files.items():
            if (relpath, entry.digest) in seen:
                continue
            seen.add((relpath, entry.digest))
            if HELM_TEMPLATES.match(relpath):
                continue
            text = store[entry.digest].decode("utf-8")
            assert not JINJA_MARKERS.search(text), relpath
            suffix = "." + relpath.rsplit(".", 1)[-1]
            if suffix in PARSERS:
                PARSERS[suffix](text)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per median (default 5)")
    parser.add_argument("--simulate-axis", metavar="NAME=V1,V2", help="add a question to the snapshot")
    parser.add_argument(
        "--full-copier", action="store_true", help="also render the whole matrix with copier, 2 processes"
    )
    args = parser.parse_args()
    load_before = load()
    progress(f"load average before: {load_before} on {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-") as tmp:
        scratch = Path(tmp)
        snapshot = snapshot_template(scratch / "template")
        if args.simulate_axis:
            progress(f"simulated axis {simulate_axis(snapshot, args.simulate_axis)} in the snapshot")
        matrix = variants("full", copier_yml=snapshot / "copier.yml")
        answers = default_variant(snapshot / "copier.yml").as_dict()

        cli = _median_seconds("copier CLI, snapshot", _copier_cli(snapshot), args.repeat, scratch)
        cli_git = (
            None
            if args.simulate_axis
            else _median_seconds(
                "copier CLI, git checkout", _copier_cli(template_root()), args.repeat, scratch
            )
        )
        in_process = _median_seconds(
            "copier in-process", lambda d: render_project(d, answers, template=snapshot), args.repeat, scratch
        )

        start = time.perf_counter()
        with (
            DependencyRenderer(snapshot) as renderer,
            tracked(STDERR, "render by dependency, in memory", total=len(matrix)) as tracker,
        ):
            trees = {}
            for variant in matrix:
                trees[variant.id] = renderer.render(variant.as_dict(), folder_name=variant.id)
                tracker.advance(variant.id)
            store, renders = renderer.store, renderer.renders
        rendered = time.perf_counter() - start
        start = time.perf_counter()
        out, pieces = scratch / "matrix", scratch / "pieces"
        with tracked(STDERR, "writing the trees (hard links)", total=len(trees)) as tracker:
            for variant_id, tree in trees.items():
                write_tree(tree, store, out / variant_id, link_dir=pieces)
                tracker.advance(variant_id)
        written = time.perf_counter() - start
        progress(f"  written in {written:.1f} s; per-file checks")
        start = time.perf_counter()
        distinct = check_distinct(trees, store)
        checked = time.perf_counter() - start
        full_copier = None
        if args.full_copier:
            start = time.perf_counter()
            with tracked(STDERR, "copier over the full matrix, 2 processes", total=len(matrix)) as tracker:
                render_many(
                    scratch / "copier-matrix",
                    {v.id: v.as_dict() for v in matrix},
                    jobs=2,
                    by_dependency=False,
                    on_done=lambda r: tracker.advance(r.variant_id),
                )
            full_copier = time.perf_counter() - start

    load_after = load()
    files = sum(len(tree.files) for tree in trees.values())
    print(f"matrix: {len(matrix)} variants, {files} files, {len(store.contents)} distinct contents")
    print(f"        {distinct} distinct (path, content) checked, {renders} Jinja renders (paths and files)")
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}; {os.cpu_count()} cores")
    print()
    print(f"{'measure':<58}{'time':>12}{'per variant':>14}{'vs CLI':>10}")
    rows: list[tuple[str, float, float]] = [("copier CLI, one variant, snapshot (baseline)", cli, cli)]
    if cli_git is not None:
        rows.append(("copier CLI, one variant, git checkout", cli_git, cli_git))
    rows.append(("copier in-process, one variant", in_process, in_process))
    n = len(matrix)
    rows += [
        ("by dependency: full matrix, trees in memory", rendered, rendered / n),
        ("by dependency: + written to disk (hard links)", rendered + written, (rendered + written) / n),
        (
            "by dependency: + per-file checks (rendered and checked)",
            rendered + written + checked,
            (rendered + written + checked) / n,
        ),
    ]
    if full_copier is not None:
        rows.append(("copier in-process, full matrix, 2 processes", full_copier, full_copier / n))
    else:
        rows.append(
            ("copier in-process, full matrix (estimate: n x one / 2)", in_process * n / 2, in_process / 2)
        )
    for label, seconds, per in rows:
        shown = f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
        print(f"{label:<58}{shown:>12}{per * 1000:>11.2f} ms{cli / per:>9.0f}x")


if __name__ == "__main__":
    main()
