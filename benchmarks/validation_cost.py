"""Validation cost: what a 1 MiB body of bad values costs the service, a baseline against this checkout.

Renders the default project from the working tree, runs `make lock train`, and builds two copies
of its package that differ only in `serving/`: the baseline's (a git ref, default `main`, taken
with `git archive`) and the working tree's. Each copy runs in a process of its own, in the
project's environment, with the real app (`create_app`, the fast path and the routes, through
Starlette's TestClient: no network) and three bodies of about 1 MiB:

- valid: `/predict` with 1 MiB of the model's example rows;
- nulls: `/predict` with rows of `null` (`{"instances": [[null, null, ...], ...]}`);
- strings: a v2 infer request whose FP64 tensor `data` holds strings.

`MAX_REQUEST_BYTES` is 2 MiB and `MAX_ROWS` 1,000,000 in both, so the bodies reach validation.
Per body: the answer's status, the median time per request over `--repeat` requests, and the
peak of Python allocations during one request (tracemalloc, which also counts what pydantic
allocates; a separate request, as tracing slows it down). Prints a table with new over baseline
and the load average before and after. Progress on stderr, the table on stdout.

Usage: python benchmarks/validation_cost.py [--baseline REF] [--repeat N] [--project PATH]
`--project` reuses a project already rendered from this template and trained (`make lock train`).
Needs `make`, `uv` (on PATH) and the project's Python (PATH or pyenv).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from _report import load, progress
from project_test import ROOT, archive, environment

from generator.process import run
from generator.project.render import read_answers, render_project
from generator.project.source import snapshot_template

# Runs inside the project's environment, with one variant's package first on sys.path.
CHILD = r"""
import json, statistics, sys, time, tracemalloc
from pathlib import Path
sys.path.insert(0, sys.argv[1])
package, model_path, repeat = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
service = __import__(f"{package}.serving.service", fromlist=["create_app"])
settings_module = __import__(f"{package}.serving.settings", fromlist=["Settings"])
from fastapi.testclient import TestClient

assert service.__file__.startswith(sys.argv[1]), service.__file__
settings = settings_module.Settings(
    model_path=model_path, max_request_bytes=2 << 20, max_rows=1_000_000, access_log=False
)
MIB = 1 << 20
with TestClient(service.create_app(settings)) as client:
    name = client.get("/v2").json()["name"]
    metadata = client.get(f"/v2/models/{name}").json()
    row = metadata["parameters"]["example"]["instances"][0]
    width = len(row)

    def rows_of(text):
        count = MIB // (len(text) + 1)
        return count, ",".join([text] * count)

    _, valid = rows_of(json.dumps(row))
    _, nulls = rows_of(json.dumps([None] * width))
    count = MIB // (4 * width)
    strings = ",".join(['"a"'] * (count * width))
    bodies = {
        "valid": ("/predict", '{"instances": [' + valid + "]}"),
        "nulls": ("/predict", '{"instances": [' + nulls + "]}"),
        "strings": (
            f"/v2/models/{name}/infer",
            '{"inputs": [{"name": "x", "shape": [%d, %d], "datatype": "FP64", "data": [%s]}]}'
            % (count, width, strings),
        ),
    }
    results = {}
    for label, (path, text) in bodies.items():
        body = text.encode()
        headers = {"content-type": "application/json"}
        status = client.post(path, content=body, headers=headers).status_code  # warm-up
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            client.post(path, content=body, headers=headers)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        client.post(path, content=body, headers=headers)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ms = 1000 * statistics.median(times)
        results[label] = {"bytes": len(body), "status": status, "ms": ms, "peak_mib": peak / MIB}
print(json.dumps(results))
"""


def variant(project: Path, package: str, serving: Path, into: Path) -> Path:
    """A copy of the project's package with ``serving`` as its ``serving/``; returns its parent."""
    target = into / package
    shutil.copytree(project / "src" / package, target, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(target / "serving")
    shutil.copytree(serving, target / "serving", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def measure(project: Path, package: str, path: Path, repeat: int) -> dict[str, dict[str, float]]:
    python = project / ".venv" / "bin" / "python"
    model = project / "artifacts" / "model.joblib"
    done = subprocess.run(
        [str(python), "-c", CHILD, str(path), package, str(model), str(repeat)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=project,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the benchmark process failed:\n{done.stderr[-3000:]}")
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="main", help="git ref of the baseline template (default main)")
    parser.add_argument("--repeat", type=int, default=5, help="requests per body, for the median (default 5)")
    parser.add_argument("--project", type=Path, help="a trained project rendered from this checkout")
    args = parser.parse_args()
    load_before = load()
    progress(f"load average before: {load_before} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-validation-") as tmp:
        scratch = Path(tmp)
        project = args.project
        if project is None:
            source = snapshot_template(scratch / "current", ROOT)
            project = render_project(scratch / "project", {}, template=source)
            env = environment(project)
            run(["git", "init", "--quiet"], cwd=project)
            progress("make lock train")
            run(["make", "lock", "train"], cwd=project, env=env, timeout=1200)
        package = str(read_answers(project)["package_name"])
        serving = Path("src") / "{{package_name}}" / "serving"
        baseline = archive(args.baseline, scratch / "baseline")
        paths = {
            args.baseline: variant(project, package, baseline / "template" / serving, scratch / "old"),
            "working tree": variant(project, package, ROOT / "template" / serving, scratch / "new"),
        }
        results = {}
        for ref, path in paths.items():
            progress(f"{ref}: {args.repeat} requests per body (load {load()})")
            results[ref] = measure(project, package, path, args.repeat)
    load_after = load()
    old, new = results[args.baseline], results["working tree"]
    print(f"validation cost per request, median of {args.repeat}; baseline {args.baseline} against {ROOT}")
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}; {os.cpu_count()} cores")
    print()
    print("| body | bytes | status old/new | ms old | ms new | new/old | MiB old | MiB new | new/old |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label in old:
        o, n = old[label], new[label]
        print(
            f"| {label} | {int(n['bytes'])} | {int(o['status'])}/{int(n['status'])} | {o['ms']:.1f} | "
            f"{n['ms']:.1f} | {n['ms'] / o['ms']:.2f}x | {o['peak_mib']:.1f} | {n['peak_mib']:.1f} | "
            f"{n['peak_mib'] / o['peak_mib']:.2f}x |"
        )


if __name__ == "__main__":
    main()
