"""Integrity cost: what checking the artifact's SHA-256 adds to loading it, against the load alone.

The service reads ``model.joblib`` once per start (per worker), and ``load_model`` now hashes the
open file before unpickling it (``serving/integrity.py``). This measures, for a small model (the
default project's kind: a random forest on iris, a few hundred kB) and a large one (the same
estimator with many deeper trees, ~100 MB), the median over ``--repeat`` rounds of:

- load: ``joblib.load`` of the open file (the baseline, what start-up paid before);
- check: ``integrity.verify`` on the same open file (the digest compared with signature.json);
- ratio: (check + load) / load.

The files are written by the template's own ``integrity.write_json``/``artifact_record`` beside
an artifact dumped here (so the generated project is not needed), with the checkout's Python.
Prints a table and the load average before and after; progress on stderr.

Usage: python benchmarks/integrity_cost.py [--repeat N] [--trees N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import joblib
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier

INTEGRITY = (
    Path(__file__).resolve().parents[1] / "template" / "src" / "{{package_name}}" / "serving" / "integrity.py"
)


def _integrity() -> ModuleType:
    # The template's file itself (standard library only), not a rendered project's copy.
    spec = importlib.util.spec_from_file_location("integrity", INTEGRITY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _artifact(folder: Path, estimator: object, integrity: ModuleType) -> Path:
    folder.mkdir()
    path = folder / "model.joblib"
    joblib.dump({"format": 2, "estimator": estimator}, path)
    integrity.write_json(folder / "signature.json", {"artifact": integrity.artifact_record(path)})
    return path


def _timed(path: Path, integrity: ModuleType, repeat: int) -> tuple[float, float]:
    loads, checks = [], []
    for _ in range(repeat):
        with path.open("rb") as handle:
            started = time.perf_counter()
            integrity.verify(path, handle)
            checks.append(time.perf_counter() - started)
            handle.seek(0)
            started = time.perf_counter()
            joblib.load(handle)
            loads.append(time.perf_counter() - started)
    return statistics.median(loads), statistics.median(checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds per model (default %(default)s)")
    parser.add_argument(
        "--trees", type=int, default=300, help="trees of the large model (default %(default)s)"
    )
    args = parser.parse_args()
    integrity = _integrity()
    before = os.getloadavg()[0]
    iris = load_iris()
    x, y = make_classification(n_samples=20_000, n_features=20, n_informative=10, random_state=0)
    models = {
        "small (iris forest)": RandomForestClassifier(n_estimators=100, random_state=0).fit(
            iris.data, iris.target
        ),
        f"large ({args.trees} deep trees)": RandomForestClassifier(
            n_estimators=args.trees, random_state=0
        ).fit(x, y),
    }
    print(f"{'model':<26} {'size':>9} {'load ms':>9} {'check ms':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="integrity-cost-") as tmp:
        for index, (name, estimator) in enumerate(models.items()):
            print(f"timing {name}", file=sys.stderr, flush=True)
            path = _artifact(Path(tmp) / str(index), estimator, integrity)
            load, check = _timed(path, integrity, args.repeat)
            size = path.stat().st_size / 1e6
            ratio = (load + check) / load
            print(f"{name:<26} {size:>7.1f}MB {load * 1e3:>9.1f} {check * 1e3:>9.1f} {ratio:>6.3f}")
    print(
        f"load average: {before:.2f} before, {os.getloadavg()[0]:.2f} after; medians of {args.repeat} rounds"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
