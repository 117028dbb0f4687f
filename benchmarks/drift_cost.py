"""Drift cost: the generated service's requests per second with its drift counts off and on.

Renders the default project from this checkout, trains its model (training writes the reference
profile beside it) and serves it as `benchmarks/serving.py` does (`python -m <package>.serve`,
its defaults, access log on), twice: with `DRIFT_FEATURES=0` (nothing counted: the service as it
was before drift) and with the default (every feature watched: each model call's rows and answers
counted into the profile's bins, the counters published once a second). wrk sends single-row v2
requests at 8 connections (--connections); the two servers take turns, off then on, for --repeat
rounds, so a machine getting busier hurts both alike. Prints the medians of both (req/s, p50, p99,
server CPU per request), on/off ratios (the issue's goal: on within 5% of off in req/s) and the
load average before and after.

Usage: python benchmarks/drift_cost.py [--duration S] [--repeat N] [--connections 8] [--workers 1]
Needs wrk (Debian: apt-get install -y wrk) and taskset.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving
from _report import load, progress

OFF, ON = "drift-off", "drift-on"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load first (default 3)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds, off then on; medians (default 5)")
    parser.add_argument("--connections", default="8", help="comma-separated connection counts (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--python", default="3.12", help="Python version of the environment (default 3.12)")
    args = parser.parse_args()
    python = serving.python_and_wrk(parser, args.python)
    connections = [int(count) for count in args.connections.split(",")]
    cpus = serving.default_cpus()
    before = load()
    serving.CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsdeploy-drift-cost-") as tmp:
        work = Path(tmp)
        ours = serving.trained_project(work, "ours", python, None, progress)
        one, _ = serving.rows_to_send()
        labels = serving.model_labels(ours, [one])[0]
        bodies = (serving.v2_body(one), serving.v2_body(one))
        targets = [
            ours.target(OFF, bodies, workers=args.workers, env={"DRIFT_FEATURES": "0"}),
            ours.target(ON, bodies, workers=args.workers),
        ]
        progress(f"load {load()}; server on CPUs {cpus[0]}, wrk on CPUs {cpus[1]}")
        rounds = [
            serving.measure(
                targets,
                (labels, labels),
                connections=connections,
                duration=args.duration,
                warmup=args.warmup,
                repeat=1,
                work=work,
                log=progress,
                cpus=cpus,
            )
            for _ in range(args.repeat)
        ]
    if any(len(measured) < len(targets) for measured in rounds):
        sys.exit("a server was not measured in every round: its log is above")
    results = {
        target.name: {
            count: serving.Figures.median([r[target.name][count] for r in rounds]) for count in connections
        }
        for target in targets
    }
    print(
        f"drift counts off (DRIFT_FEATURES=0) and on (default): one-row v2 requests, {args.workers} worker(s)"
    )
    print(f"medians of {args.repeat} interleaved rounds of {args.duration:g} s each")
    print(f"load average (1/5/15 min) before {before}, after {load()}")
    print(serving.table(results))
    print("\n".join(serving._ratios(f"{ON} / {OFF}", results[ON], results[OFF])))
    # Each round's own ratio: the two servers of a round ran seconds apart, under the same load.
    for count in connections:
        paired = [r[ON][count].rps / r[OFF][count].rps for r in rounds]
        cpu = [r[ON][count].cpu_ms / r[OFF][count].cpu_ms for r in rounds]
        print(
            f"{count} conn, per round on/off: req/s {' '.join(f'{x:.3f}' for x in paired)} "
            f"(median {statistics.median(paired):.3f}); cpu/req {' '.join(f'{x:.3f}' for x in cpu)} "
            f"(median {statistics.median(cpu):.3f})"
        )


if __name__ == "__main__":
    main()
