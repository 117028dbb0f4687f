"""The suite's shared chart and pipeline work, grouped as before (baseline) and as now, timed in one run.

What tests/chart/test_variants.py, tests/dask/test_chart.py and tests/kubeflow/conftest.py do
once per worker before their tests: the chart checks (helm, schemas, checkov) of every chart
group, the Dask values sets validated, the Kubeflow pipelines compiled. Baseline: one group per
distinct chart but for the framework's model format (28; Dask 21), one Python per compile (42).
Now: the groups of tests/support/chart_groups.py (2; Dask 1) plus each registry's chart's default
values linted and validated (14), one Python per package source (6). Alternates baseline and now
ROUNDS times (default 2); prints each's median seconds, their ratio and the load.

    .venv/bin/python benchmarks/suite_groups.py [ROUNDS]
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _report import load, progress

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "kubeflow")]

from support.chart_groups import MODEL_FORMAT, chart_key  # noqa: E402
from support.rendering import MATRIX, MatrixProjects, MatrixRender  # noqa: E402

from generator.chart.helm import DEFAULT_SET, Chart  # noqa: E402
from generator.chart.manifests import ManifestChecker  # noqa: E402
from generator.process import run  # noqa: E402
from generator.project.render import read_answers  # noqa: E402
from generator.project.render_by_dependency import DependencyRenderer  # noqa: E402
from generator.project.source import snapshot_template  # noqa: E402
from generator.project.tree import Tree  # noqa: E402

KUBEFLOW_PARTS = ("src", "deploy/kubeflow/config.yaml")


def baseline_key(tree: Tree, matrix: MatrixRender) -> str:
    """The chart group key before: charts/ and deploy/, values.yaml's model format block masked."""
    digest = hashlib.sha256()
    for relpath in sorted(tree.files):
        if relpath.startswith(("charts/", "deploy/")):
            content = tree.files[relpath].digest
            if relpath.endswith("/values.yaml") and relpath.count("/") == 2:
                content = MODEL_FORMAT.sub("<framework>\n", matrix.store[content].decode())
            digest.update(f"{relpath}\0{content}\0".encode())
    return digest.hexdigest()


def groups(matrix: MatrixRender, ids: list[str], key: Callable[[str], str]) -> list[list[str]]:
    found: dict[str, list[str]] = {}
    for variant_id in ids:
        found.setdefault(key(variant_id), []).append(variant_id)
    return list(found.values())


def main(rounds: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="suite-groups-"))
    with DependencyRenderer(snapshot_template(scratch / "template")) as renderer:
        trees = {v.id: renderer.render(v.as_dict(), folder_name=v.id) for v in MATRIX}
        matrix = MatrixRender(trees, renderer.store, renderer.renders, 0.0)
    projects = MatrixProjects(matrix, scratch / "matrix", scratch / "pieces")
    checker = ManifestChecker()
    every = list(trees)
    masked: dict[str, str] = {}
    plain = groups(matrix, every, lambda v: baseline_key(trees[v], matrix))
    now = groups(matrix, every, lambda v: chart_key(trees[v], matrix.store, masked))
    by_registry: dict[str, str] = {}
    charts = groups(matrix, every, lambda v: chart_key(trees[v], matrix.store, by_registry, registry=False))
    dask_ids = [v.id for v in MATRIX if v.as_dict()["with_dask"] is True]
    dask_plain = groups(matrix, dask_ids, lambda v: trees[v].part_digest(("charts",)))
    dask_now = groups(matrix, dask_ids, lambda v: chart_key(trees[v], matrix.store, masked))
    kubeflow = sorted(v.id for v in MATRIX if v.as_dict()["with_kubeflow"] is True)
    compiles = groups(matrix, kubeflow, lambda v: trees[v].part_digest(KUBEFLOW_PARTS))
    sources: dict[str, list[list[str]]] = {}
    for ids in compiles:
        sources.setdefault(trees[ids[0]].part_digest(("src",)), []).append(ids)
    progress(
        f"charts {len(plain)} -> {len(now)} (+{len(charts)} default sets), dask {len(dask_plain)} -> "
        f"{len(dask_now)}, compiles {len(compiles)} in {len(compiles)} -> {len(sources)} Pythons"
    )
    cores = os.cpu_count() or 2

    def own(ids: list[str]) -> None:
        found = Chart.find(projects[ids[0]])
        chart = Chart(found.path, found.name, {DEFAULT_SET: found.values_sets[DEFAULT_SET]})
        checker.lint(chart)
        checker.validate(chart)

    def compile_alone(ids: list[str]) -> None:
        project = projects[ids[0]]
        package = read_answers(project)["package_name"]
        output = Path(tempfile.mkdtemp(dir=scratch)) / "pipeline.yaml"
        command = [sys.executable, "-m", f"{package}.pipeline", "--output", output]
        run(command, cwd=project, env={"PYTHONPATH": str(project / "src")}, timeout=300)

    def compile_together(same_source: list[list[str]]) -> None:
        folder = Path(tempfile.mkdtemp(dir=scratch))
        command: list[str | Path] = [sys.executable, ROOT / "tests/kubeflow/compile_pipelines.py"]
        command += [str(read_answers(projects[same_source[0][0]])["package_name"]), folder / "errors.json"]
        for index, ids in enumerate(same_source):
            command += [projects[ids[0]], folder / f"{index}.yaml"]
        run(command, timeout=300)

    def pool(function: Callable[[list[str]], None], items: list) -> None:
        with ThreadPoolExecutor(max_workers=cores) as threads:
            list(threads.map(function, items))

    cases = {
        "chart checks": (
            lambda: checker.check_projects([projects[ids[0]] for ids in plain]),
            lambda: (checker.check_projects([projects[ids[0]] for ids in now]), pool(own, charts)),
        ),
        "dask validation": (
            lambda: [checker.validate(Chart.find(projects[ids[0]])) for ids in dask_plain],
            lambda: [checker.validate(Chart.find(projects[ids[0]])) for ids in dask_now],
        ),
        "kubeflow compiles": (
            lambda: pool(compile_alone, compiles),
            lambda: pool(compile_together, list(sources.values())),
        ),
    }
    for name, (before, after) in cases.items():
        times: dict[str, list[float]] = {"baseline": [], "now": []}
        for round_ in range(rounds):
            for label, work in (("baseline", before), ("now", after)):
                start = time.perf_counter()
                work()
                times[label].append(time.perf_counter() - start)
                progress(f"{name} {label} round {round_ + 1}: {times[label][-1]:.1f} s (load {load()})")
        base, new = statistics.median(times["baseline"]), statistics.median(times["now"])
        saved = f"saved {base - new:.1f} s ({new / base:.2f}x)"
        print(f"{name}: baseline {base:.1f} s, now {new:.1f} s, {saved}; load {load()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
