"""`make import-model` of a pickle in the sandbox (a container of the deps stage) against on the host.

Prints (figures, not assertions):
- the first sandboxed import, which builds the deps stage (from the build cache when `make build`
  or the suite built it with the same lock and base);
- the median of --repeat rounds of each: `make import-model` (sandboxed, the stage built) and
  `make import-model SANDBOX=0` (unpickled on the host), interleaved, alternating which goes first;
- the load average before and after.

The model is a scikit-learn LogisticRegression on iris saved with joblib, with five example rows.
Usage: python benchmarks/import_sandbox.py [--repeat N]. Needs Docker with buildx, a base image
(scripts/setup-docker.sh), make and uv on PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import uuid
from pathlib import Path

from _project import buildable_default_project, timed_make

from generator.process import run
from generator.tools import require

FIT = """
import joblib, json, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
x, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=500).fit(x, y), sys.argv[1])
with open(sys.argv[2], "w") as file:
    json.dump({"instances": x[::30].tolist()}, file)
"""


def _make(project: Path, *args: str, image: str) -> float:
    return timed_make(
        project, *args, env={"UV_PYTHON_DOWNLOADS": "never", "SANDBOX_IMAGE": image}, unset=("SANDBOX",)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both imports (default 3)")
    args = parser.parse_args()
    image = f"dsdeploy-bench/import-sandbox-deps:{uuid.uuid4().hex[:8]}"
    load_before = " ".join(f"{value:.1f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-import-sandbox-") as tmp:
        project, common = buildable_default_project(Path(tmp) / "project")
        _make(project, "sync", image=image)
        model, example = Path(tmp) / "model.joblib", Path(tmp) / "rows.json"
        run([project / ".venv" / "bin" / "python", "-c", FIT, model, example])
        imports = {
            "sandbox": ("import-model", f"MODEL={model}", f"EXAMPLE={example}", *common),
            "host": ("import-model", f"MODEL={model}", f"EXAMPLE={example}", "SANDBOX=0"),
        }
        try:
            first = _make(project, *imports["sandbox"], image=image)
            rounds: dict[str, list[float]] = {"sandbox": [], "host": []}
            for round_ in range(args.repeat):
                for name in sorted(imports, reverse=round_ % 2 == 1):  # alternate which goes first
                    rounds[name].append(_make(project, *imports[name], image=image))
        finally:
            run([require("docker"), "image", "rm", image], check=False)
    sandbox, host = statistics.median(rounds["sandbox"]), statistics.median(rounds["host"])
    print(f"first sandboxed import   {first:7.2f} s   (builds the deps stage, from cache if built before)")
    print(f"import-model (sandbox)   {sandbox:7.2f} s   (median of {args.repeat})")
    ratio = f"sandbox {sandbox / host:.2f}x, {sandbox - host:+.1f} s"
    print(f"import-model SANDBOX=0   {host:7.2f} s   ({ratio})")
    load_after = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average             {load_before} before, {load_after} after")


if __name__ == "__main__":
    main()
