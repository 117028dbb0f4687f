"""Hostile traffic: slow clients and big requests against the generated service, before and after.

Renders the default project twice, from a baseline template checkout (--baseline, default the
main checkout /work/main or $DSDEPLOY_BASELINE) and from this one, trains the model once, and
serves each in turn (`python -m <package>.serve`, its defaults, access log off, one worker,
pinned to the same CPUs) through two attacks of --duration seconds each:

- slow: --attackers connections (default 300) each declaring a 1 MiB body and trickling it one
  byte a second; a connection the server closes is opened again at once, so the attack lasts;
- big: one client posting 10,000-row requests (MAX_ROWS) back to back on one connection.

Meanwhile a probe (GET /v2/health/ready) and a normal request (POST /predict, 3 rows) are each
sent every 100 ms on new connections, with a 5 s timeout. Prints per server and attack the p50,
p99 and max latency of the probe and of the normal request, their statuses (timeouts as
"timeout"), how many slow connections the server closed, the server's peak RSS against the
chart's memory limit, and the machine's load. Figures only: nothing is asserted.

Usage: python benchmarks/slow_clients.py [--duration S] [--attackers N] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving
from _report import load, progress
from soak import rss_mib

from generator.process import run
from generator.project.render import render_project
from generator.project.variants import default_variant
from generator.tools import find_python

REPO = Path(__file__).resolve().parent.parent
BIG_ROWS = 10_000
TIMEOUT = 5.0


def _chart_memory_limit(project: Path) -> str:
    values = next((project / "charts").glob("*/values.yaml")).read_text(encoding="utf-8")
    limits = values[values.index("limits:") :]
    return re.search(r"memory:\s*(\S+)", limits).group(1)  # type: ignore[union-attr]


async def _exchange(port: int, request: bytes) -> tuple[float, str]:
    """Send ``request`` on a new connection; the seconds to its whole answer, and its status."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answer = await reader.read()  # Connection: close: to the end
            writer.close()
    except TimeoutError:
        return TIMEOUT, "timeout"
    except OSError as exc:
        return time.perf_counter() - start, type(exc).__name__
    status = answer.split(b" ", 2)[1].decode() if answer else "closed"
    return time.perf_counter() - start, status


async def _every(
    period: float, until: float, port: int, request: bytes, out: list[tuple[float, str]]
) -> None:
    tasks = []
    while time.monotonic() < until:
        tasks.append(asyncio.ensure_future(_exchange(port, request)))
        await asyncio.sleep(period)
    out.extend(await asyncio.gather(*tasks))


async def _trickler(port: int, until: float, closed: collections.Counter[str]) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1048576\r\n\r\n"
    )
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            closed[f"connect {type(exc).__name__}"] += 1
            await asyncio.sleep(1)
            continue
        try:
            writer.write(head)
            while time.monotonic() < until and not reader.at_eof():
                writer.write(b" ")
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(200), 1.0)
                except TimeoutError:
                    continue
                if answer or reader.at_eof():
                    closed[answer.split(b" ", 2)[1].decode() if answer else "closed"] += 1
                    break
        except OSError:
            closed["reset"] += 1
        finally:
            writer.close()


async def _big_sender(port: int, until: float, body: bytes, statuses: collections.Counter[str]) -> None:
    request = (
        b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < until:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        statuses[head.split(b" ", 2)[1].decode()] += 1
    writer.close()


async def _attack(kind: str, port: int, args: argparse.Namespace, rows: list[list[float]], pid: int) -> dict:
    until = time.monotonic() + args.duration
    probes: list[tuple[float, str]] = []
    normal: list[tuple[float, str]] = []
    closed: collections.Counter[str] = collections.Counter()
    big: collections.Counter[str] = collections.Counter()
    rss: list[float] = []
    probe = b"GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    body = json.dumps({"instances": rows[:3]}).encode()
    infer = (
        b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    if kind == "slow":
        attackers = [asyncio.ensure_future(_trickler(port, until, closed)) for _ in range(args.attackers)]
    else:
        big_body = json.dumps({"instances": [rows[i % len(rows)] for i in range(BIG_ROWS)]}).encode()
        attackers = [asyncio.ensure_future(_big_sender(port, until, big_body, big))]
    await asyncio.sleep(1.0)  # let the attack build up before measuring

    async def sample() -> None:
        while time.monotonic() < until:
            rss.append(rss_mib(pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample())
    await asyncio.gather(_every(0.1, until, port, probe, probes), _every(0.1, until, port, infer, normal))
    await asyncio.gather(*attackers, sampler, return_exceptions=True)
    return {
        "probe": _latencies(probes),
        "normal": _latencies(normal),
        "attack": dict(closed) if kind == "slow" else {f"big {k}": v for k, v in big.items()},
        "rss_peak_mib": round(max(rss), 1) if rss else None,
    }


def _latencies(samples: list[tuple[float, str]]) -> dict:
    seconds = sorted(s for s, _ in samples)
    return {
        "n": len(seconds),
        "p50_ms": round(1000 * statistics.median(seconds), 1),
        "p99_ms": round(1000 * seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))], 1),
        "max_ms": round(1000 * seconds[-1], 1),
        "statuses": dict(collections.Counter(status for _, status in samples)),
    }


@contextmanager
def _project(name: str, template: Path, work: Path, python: Path) -> Iterator[tuple[Path, Path, str]]:
    project = work / name
    answers = default_variant().as_dict()
    render_project(project, answers, template=template)
    package = answers.get("package_name") or serving._package_of(project)
    venv = serving._venv("ours", python, serving._project_requirements(project), log=progress)
    yield project, venv / "bin" / "python", package


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per attack (default 15)")
    parser.add_argument("--attackers", type=int, default=300, help="slow connections (default 300)")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=Path(os.environ.get("DSDEPLOY_BASELINE", "/work/main")),
        help="template checkout to compare with (default /work/main)",
    )
    parser.add_argument("--python", default="3.12", help="Python of the servers' environment (default 3.12)")
    args = parser.parse_args()
    python = find_python(args.python)
    serving.CACHE.mkdir(parents=True, exist_ok=True)
    server_cpus, _ = serving.default_cpus()
    results: dict[str, dict] = {}
    progress(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="dsdeploy-slow-") as tmp:
        work = Path(tmp)
        for name, template in (("before", args.baseline), ("after", REPO)):
            with _project(name, template, work, python) as (project, py, package):
                env = {"PYTHONPATH": str(project / "src")}  # this render's code, not the venv's copy
                artifacts = work / f"{name}-artifacts"
                run([py, "-m", f"{package}.train", "--output", artifacts], cwd=project, env=env, timeout=600)
                signature = json.loads((artifacts / "signature.json").read_text(encoding="utf-8"))
                rows = [list(map(float, row)) for row in signature["example"]["instances"]]
                target = serving.Target(
                    name=name,
                    command=[str(py), "-m", f"{package}.serve"],
                    cwd=project,
                    env={**env, "MODEL_PATH": str(artifacts / "model.joblib"), "ACCESS_LOG": "false"},
                    port_env=lambda port: {"PORT": str(port), "HOST": "127.0.0.1"},
                    ready_path="/v2/health/ready",
                    infer_path="/predict",
                    bodies=(),
                    labels=lambda answer: [],
                )
                for kind in ("slow", "big"):
                    progress(f"{name}: {kind} attack for {args.duration:g} s")
                    with serving._serving(target, serving._free_port(), server_cpus, work) as server:
                        port = int(server.url.rsplit(":", 1)[1])
                        figures = asyncio.run(_attack(kind, port, args, rows, server.process.pid))
                        figures["memory_limit"] = _chart_memory_limit(project)
                        results[f"{name} {kind}"] = figures
    print(f"load after: {load()}; {args.attackers} slow connections, {args.duration:g} s per attack")
    print(f"{'server attack':<14} {'who':<7} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
    for key, figures in results.items():
        for who in ("probe", "normal"):
            f = figures[who]
            latency = f"{f['p50_ms']:>8} {f['p99_ms']:>8} {f['max_ms']:>8}"
            print(f"{key:<14} {who:<7} {f['n']:>4} {latency}  {f['statuses']}")
        print(
            f"{key:<14} attack: {figures['attack']}  RSS peak {figures['rss_peak_mib']} MiB "
            f"(chart limit {figures['memory_limit']})"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
