"""Soak: the generated service under steady load for minutes, its memory and its errors.

Renders the default project, trains its model and serves it as `benchmarks/serving.py` does
(`python -m <package>.serve`, its defaults, access log on), then loads it with wrk at
--connections (default 32) for --duration seconds (default 300) with the same request mix
(single-row and 16-row v2 requests alternating), in --slices slices. After a warm-up it records
the resident memory of the server (all its processes) and again after every slice. Prints the
RSS at the start and end, its peak, the growth, requests, req/s and errors; exits 1 when the RSS
grew by --max-growth (default 10%) or more, or when any request failed.

Usage: python benchmarks/soak.py [--duration S] [--connections N] [--slices N] [--workers N]
Needs wrk (Debian: apt-get install -y wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and every live process below it, in MiB."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
    family, grew = {pid}, True
    while grew:
        children = {child for child, parent in parents.items() if parent in family} - family
        family |= children
        grew = bool(children)
    total_kib = 0
    for member in family:
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total_kib += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--slices", type=int, default=10, help="RSS samples during the run (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="server workers (default 1)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before the first sample")
    parser.add_argument("--max-growth", type=float, default=10.0, help="percent RSS growth that fails")
    parser.add_argument("--python", default="3.12", help="Python version of the environment (default 3.12)")
    args = parser.parse_args()
    python = serving.python_and_wrk(parser, args.python)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    serving.CACHE.mkdir(parents=True, exist_ok=True)
    server_cpus, client_cpus = serving.default_cpus()
    with tempfile.TemporaryDirectory(prefix="dsdeploy-soak-") as tmp:
        work = Path(tmp)
        targets, expected = serving._targets(work, python, ["ours"], [args.workers], log)
        [target] = targets
        with serving._serving(target, serving._free_port(), server_cpus, work) as server:
            serving._check_answers(target, server, expected)
            serving._wrk(server, target, args.connections, args.warmup, client_cpus, work)
            samples = [rss_mib(server.process.pid)]
            requests = errors = 0
            seconds = 0.0
            load = [os.getloadavg()[0]]
            for number in range(args.slices):
                part = args.duration / args.slices
                figures = serving._wrk(server, target, args.connections, part, client_cpus, work)
                server.check_alive(target.name)
                requests += round(figures.rps * part)
                errors += figures.errors
                seconds += part
                samples.append(rss_mib(server.process.pid))
                load.append(os.getloadavg()[0])
                log(
                    f"slice {number + 1}/{args.slices}: {figures.rps:7.0f} req/s  "
                    f"p50 {figures.p50_ms:6.2f} ms  p99 {figures.p99_ms:6.2f} ms  "
                    f"errors {figures.errors}  RSS {samples[-1]:.1f} MiB"
                )
            serving._check_answers(target, server, expected)
    growth = 100 * (samples[-1] - samples[0]) / samples[0]
    result = {
        "duration_s": args.duration,
        "connections": args.connections,
        "workers": args.workers,
        "requests": requests,
        "rps": round(requests / seconds),
        "errors": errors,
        "rss_start_mib": round(samples[0], 1),
        "rss_end_mib": round(samples[-1], 1),
        "rss_peak_mib": round(max(samples), 1),
        "rss_growth_pct": round(growth, 2),
        "load_average": [round(value, 2) for value in load],
    }
    print(json.dumps(result))
    if growth >= args.max_growth or errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
