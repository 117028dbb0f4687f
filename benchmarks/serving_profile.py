"""Where a request's time goes: one worker of the generated service profiled under single-row load.

Issue 34 asks where each request's microseconds go: HTTP parsing, JSON, validation, the batcher's
hand-offs, metrics, the response. This renders the default project (this checkout's template;
with --baseline REF also the template of that git ref, taken with `git archive`, as serving.py
does), installs each in its cached environment (serving.py's), trains it with its own `train`
module and serves that artifact. For each connection count of --connections (default 1 and 32)
and each project in turn (interleaved, so that a busy machine hurts all alike) it starts the
server (`python -m <package>.serve`, one worker, its defaults otherwise: access log on) pinned to
--server-cpus (default 0), warms it up for 2 s with wrk pinned to --client-cpus (default 1), then
sends single-row v2 requests (serving.py's single mix) for --duration seconds twice:

1. undisturbed: req/s and the server's CPU time per request (its CPU ticks from /proc over the
   run, divided by the requests answered);
2. profiled: the same load while py-spy samples the server (`py-spy record --rate 250 --format
   raw`, on the client CPU). py-spy's default blocking mode stops the server for each sample:
   accurate stacks, a slower server; hence the first run for the figures.

Each sampled stack (idle ones are not sampled) goes to the category of its innermost frame that
matches one of CATEGORIES (checked in order for that frame; "other" if no frame matches). Per
project and connection count it prints each category's share of the samples and its µs per
request (share times the undisturbed CPU µs per request), with req/s, the samples and the load
average; --top N adds the N hottest leaf frames (where to look for what to fix). With --json it
prints one object instead: {"<ours|REF>": {"<connections>": {"rps": .., "cpu_us": .., "samples":
.., "load": .., "categories": {"<category>": {"share": .., "us": ..}}, "top": [[frame, share], ..]}}}

Usage: python benchmarks/serving_profile.py [--duration S] [--connections 1,32] [--baseline REF]
       [--server-cpus 0] [--client-cpus 1] [--top N] [--template PATH] [--json]
Needs wrk and taskset (as serving.py) and py-spy (pip install py-spy; found on PATH or beside
this Python), allowed to ptrace the server (root, or kernel.yama.ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import serving
from _report import load, progress

from generator.errors import GeneratorError

WARMUP = 2.0  # seconds of load before measuring: first calls import lazily and fill caches
RATE = 250  # py-spy samples per second

# (category, pattern on one frame, "function (path/file.py:line)" as py-spy prints it). A sample
# is put in the first category matching its innermost frame that matches any; the order settles
# frames two patterns match. The project's own modules are matched as `/serving/<module>.py`,
# whatever the package's name.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("access log", r"logging/|uvicorn/logging|Logger\.info|/serving/access_log\.py"),
    ("model call", r"sklearn/|/serving/artifact\.py"),
    ("JSON parse + validation (pydantic)", r"model_validate_json|pydantic/"),
    ("request checks", r"/serving/(checks|tensors|features|signature)\.py"),
    ("answer + JSON encoding", r"/serving/(answers|steps)\.py|uuid\.py|json/"),
    ("metrics", r"/serving/metrics\.py|prometheus_client/"),
    ("batcher hand-offs", r"/serving/batching\.py|asyncio/futures|Future|asyncio/tasks"),
    ("socket write (syscall)", r"_SelectorSocketTransport\.write"),
    (
        "HTTP response framing (uvicorn)",
        r"RequestResponseCycle\.send |_LingeringClose\.\S+ \(\S*/serving/limits\.py",
    ),
    (
        "HTTP parsing + read (uvicorn, limits)",
        r"_read_ready|data_received|on_(url|header|headers_complete|body|message_complete|message_begin)"
        r"|GuardedHttp\.\S+ \(\S*/serving/limits\.py",
    ),
    (
        "ASGI layers (middlewares, scope)",
        r"/serving/(fast_path|limits|asgi)\.py|starlette/|fastapi/|proxy_headers|run_asgi|RequestMetrics",
    ),
    ("event loop", r"asyncio/|selectors\.py"),
)
OTHER = "other"
_RULES = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]


@dataclass
class Profile:
    """One project at one connection count: the undisturbed figures and the sampled stacks."""

    rps: float
    cpu_us: float  # server CPU µs per request, undisturbed run
    profiled_rps: float
    load: str
    samples: int = 0
    categories: collections.Counter[str] = field(default_factory=collections.Counter)
    leaves: collections.Counter[str] = field(default_factory=collections.Counter)

    def public(self, top: int) -> dict[str, object]:
        """The figures --json promises."""
        total = max(self.samples, 1)
        return {
            "rps": round(self.rps, 1),
            "cpu_us": round(self.cpu_us, 1),
            "profiled_rps": round(self.profiled_rps, 1),
            "samples": self.samples,
            "load": self.load,
            "categories": {
                name: {
                    "share": round(self.categories[name] / total, 4),
                    "us": round(self.cpu_us * self.categories[name] / total, 1),
                }
                for name in _names()
            },
            "top": [[frame, round(n / total, 4)] for frame, n in self.leaves.most_common(top)],
        }


def _names() -> list[str]:
    return [name for name, _ in CATEGORIES] + [OTHER]


def classify(frames: list[str]) -> str:
    """The category of a stack (outermost frame first): that of its innermost frame matching one."""
    for frame in reversed(frames):
        for name, pattern in _RULES:
            if pattern.search(frame):
                return name
    return OTHER


def read_raw(path: Path, profile: Profile) -> None:
    """Add py-spy's raw output (one `frame;frame;... count` line per distinct stack) to ``profile``."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        profile.samples += int(count)
        profile.categories[classify(frames)] += int(count)
        profile.leaves[frames[-1]] += int(count)


def find_py_spy() -> str | None:
    """py-spy on PATH, or beside this Python (installed in its environment)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


# ---------------------------------------------------------------------------------------------
# Set-up: the projects, trained, and what to send them
# ---------------------------------------------------------------------------------------------


def _targets(
    work: Path, python: Path, template: Path, baselines: list[str]
) -> tuple[list[serving.Target], list[int]]:
    """One serving.Target per project (this checkout's first, then each baseline) and the labels expected.

    Each project is trained by its own code and serves its own artifact; the labels are this
    checkout's model's for serving.py's single row, which every project must answer alike.
    """
    one, _ = serving.rows_to_send()
    body = serving.v2_body(one)
    targets: list[serving.Target] = []
    expected: list[int] = []
    for ref in [None, *baselines]:
        name = ref or "ours"
        progress(f"{name}: rendering, installing, training")
        source = serving.template_at(ref, work) if ref else template
        trained = serving.trained_project(work, name, python, source, progress)
        if ref is None:
            [expected] = serving.model_labels(trained, [one])
        targets.append(trained.target(name, (body, body)))
    return targets, expected


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def profile_one(
    target: serving.Target,
    expected: list[int],
    connections: int,
    *,
    duration: float,
    cpus: tuple[str, str],
    py_spy: str,
    work: Path,
) -> Profile:
    """Start ``target``, warm it up, measure it undisturbed, then again under py-spy; stop it."""
    server_cpus, client_cpus = cpus
    with serving.serving(target, serving.free_port(), server_cpus, work) as server:
        serving.check_answers(target, server, (expected, expected))
        serving.wrk(server, target, connections, WARMUP, client_cpus, work)
        plain = serving.wrk(server, target, connections, duration, client_cpus, work)
        raw = work / f"{target.name}-{connections}.raw"
        spy_log = work / f"{target.name}-{connections}.py-spy.log"
        command = serving.pinned(
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--output",
                str(raw),
                "--duration",
                str(max(1, round(duration))),
            ],
            client_cpus,
        )
        with spy_log.open("wb") as out:
            spy = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            profiled = serving.wrk(server, target, connections, duration, client_cpus, work)
            code = spy.wait(timeout=duration + 60)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if code != 0 or not raw.exists():
            tail = spy_log.read_text(errors="replace")[-2000:]
            raise GeneratorError(f"py-spy failed on {target.name} (code {code}):\n{tail}")
    result = Profile(rps=plain.rps, cpu_us=plain.cpu_ms * 1000, profiled_rps=profiled.rps, load=load())
    read_raw(raw, result)
    return result


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def table(results: dict[str, dict[int, Profile]], top: int) -> str:
    """Per project and connection count: each category's share and µs per request, then the hottest leaves."""
    lines: list[str] = []
    for name, by_count in results.items():
        for count, p in by_count.items():
            total = max(p.samples, 1)
            lines += [
                "",
                f"{name}, {count} connection{'s' if count != 1 else ''}: {p.rps:.0f} req/s, "
                f"{p.cpu_us:.0f} µs CPU per request (undisturbed); {p.profiled_rps:.0f} req/s under "
                f"py-spy, {p.samples} samples; load {p.load}",
                f"  {'category':<40}{'share':>8}{'µs/req':>9}",
            ]
            for category in _names():
                n = p.categories[category]
                lines.append(f"  {category:<40}{100 * n / total:>7.1f}%{p.cpu_us * n / total:>9.1f}")
            if top:
                lines.append("  hottest leaf frames (share of samples, µs/req):")
                for frame, n in p.leaves.most_common(top):
                    lines.append(f"  {100 * n / total:>6.1f}%{p.cpu_us * n / total:>7.1f}  {frame}")
    return "\n".join(lines[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--connections", default="1,32", help="comma-separated (default 1,32)")
    parser.add_argument("--server-cpus", default="0", help="CPU list for the server (taskset -c; default 0)")
    parser.add_argument("--client-cpus", default="1", help="CPU list for wrk and py-spy (default 1)")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="REF",
        help="a git ref of this repository whose template is profiled too, interleaved; repeatable",
    )
    parser.add_argument("--top", type=int, default=0, help="also print the N hottest leaf frames")
    parser.add_argument(
        "--template", type=Path, help="template checkout to render (default: this one), e.g. an older commit"
    )
    parser.add_argument("--python", default="3.12", help="Python version of the environments (default 3.12)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = parser.parse_args()

    connections = [int(count) for count in args.connections.split(",")]
    python = serving.python_and_wrk(parser, args.python)
    py_spy = find_py_spy()
    if py_spy is None:
        parser.error("py-spy is needed: pip install py-spy (on PATH or in this Python's environment)")
    if shutil.which("taskset") is None:
        parser.error("taskset is needed (util-linux)")

    serving.CACHE.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, Profile]] = {}
    with tempfile.TemporaryDirectory(prefix="dsdeploy-profile-") as tmp:
        work = Path(tmp)
        targets, expected = _targets(work, Path(python), args.template or serving.REPO, args.baseline)
        progress(f"load {load()}; server on CPUs {args.server_cpus}, wrk and py-spy on {args.client_cpus}")
        for count in connections:
            for target in targets:
                progress(f"{target.name}, {count} conn: {args.duration:g} s undisturbed, then profiled")
                result = profile_one(
                    target,
                    expected,
                    count,
                    duration=args.duration,
                    cpus=(args.server_cpus, args.client_cpus),
                    py_spy=py_spy,
                    work=work,
                )
                results.setdefault(target.name, {})[count] = result
                progress(
                    f"{target.name}, {count} conn: {result.rps:.0f} req/s, {result.cpu_us:.0f} µs CPU/req, "
                    f"{result.samples} samples"
                )
    if args.json:
        print(
            json.dumps(
                {
                    name: {str(c): p.public(args.top) for c, p in by_count.items()}
                    for name, by_count in results.items()
                }
            )
        )
    else:
        print(table(results, args.top))


if __name__ == "__main__":
    main()
