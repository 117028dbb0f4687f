"""Serving speed: the generated service against MLServer and BentoML on the same model.

Trains the default project's model once with the project's own code and serves it with (the
peers load the bare fitted estimator saved from the project's artifact; ours its artifact):
- ours: the generated project's service (`python -m <package>.serve`, its defaults);
- mlserver: MLServer with its scikit-learn runtime, Open Inference Protocol v2 like ours;
- bentoml: a BentoML service with one `predict` API taking `{"instances": [[...]]}`;
- granian: ours, the same ASGI app, served by granian (Rust HTTP) instead of uvicorn+httptools
  (`granian --interface asgi <package>.serving.service:app`, access log on like uvicorn's).
Each runs in a virtual environment of its own that this script creates (cached under
`.work/bench-venvs/`), with its defaults otherwise (the peers' own adaptive batching is off by
default and stays off), once per worker count of --workers (default 1 and 2): ours with
`WORKERS=n` (n uvicorn processes sharing the port), MLServer with `parallel_workers=n` (its HTTP
process hands predictions to n inference processes; 1 worker means parallel_workers=0, the
model in the HTTP process), BentoML with one worker only. Each is loaded in turn, in the same
run, by wrk with the same request mix (single-row and 16-row requests alternating) at 1, 8 and
32 connections. Every server runs on the same CPUs, whatever its worker count (taskset,
--server-cpus), and wrk on --client-cpus: by default the last CPU for wrk and the others for
the server; with only two CPUs the server gets both and wrk shares the second (a 2-worker
server is then measured against a load generator on one of its cores: say so with figures).

Prints req/s, p50, p99, errors and the server's CPU time per request (all its processes) per
server, worker count and connection count (medians over --repeat rounds, servers interleaved
within each round so that a busy machine hurts all alike), ours against each peer at the same
worker count, and ours at n workers against ours at one. With --json it prints one object:
{"<server>-w<n>": {"<connections>": {"rps": .., "p50_ms": .., "p99_ms": .., "errors": ..}}}

A guard against regressions: --baseline REF (repeatable) serves the template of an earlier
commit or release of this repository beside this checkout's, in the same rounds, interleaved,
each project trained by its own code; the table then gives this checkout's ratio to each
baseline per connection count (`ours-w1 / <REF>-w1`). Quote it for every change to the service.
Requests are one row each by default (--mix single), the hot case of an online service;
--mix mixed alternates one-row and 16-row requests.

Usage: python benchmarks/serving.py [--duration S] [--repeat N] [--servers ours,mlserver,bentoml]
       [--workers 1,2] [--server-cpus 0,1] [--client-cpus 1] [--baseline REF] [--mix single|mixed]
       [--template PATH] [--json]
Needs wrk (Debian: apt-get install -y wrk) and taskset; PyPI for the peers' environments.
--template renders another checkout of the template instead of this one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GeneratorError
from generator.process import run
from generator.project.render import render_project
from generator.project.variants import default_variant
from generator.tools import find_python

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".work" / "bench-venvs"
CONNECTIONS = (1, 8, 32)
SERVERS = ("ours", "granian", "mlserver", "bentoml")
MODEL_NAME = "iris"
BATCH_ROWS = 16
# The peers, pinned: a figure means something only with the version it was measured on.
MLSERVER = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1")
BENTOML = ("bentoml==1.4.40",)
GRANIAN = ("granian==2.8.9",)  # the same app under another ASGI server (Rust HTTP), to compare
READY_TIMEOUT = 180.0  # seconds for a server to load; imports are slow on a busy machine
MAX_REQUESTS = 2_000_000  # per wrk run, on top of --duration: both bound a run

# wrk's script: alternate one-row and 16-row POSTs, stop at the request cap, report as JSON.
WRK_SCRIPT = """\
local function slurp(name)
  local f = assert(io.open(name, "rb")); local s = f:read("*a"); f:close(); return s
end
local headers = {["Content-Type"] = "application/json"}
local path, max_requests = os.getenv("BENCH_PATH"), tonumber(os.getenv("BENCH_MAX_REQUESTS"))
local requests_, count, answered = {}, 0, 0
init = function(args)
  requests_[1] = wrk.format("POST", path, headers, slurp(os.getenv("BENCH_ONE")))
  requests_[2] = wrk.format("POST", path, headers, slurp(os.getenv("BENCH_MANY")))
end
request = function() count = count + 1; return requests_[count % 2 + 1] end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= max_requests then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""

BENTO_SERVICE = """\
import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=1)
class Model:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.predict(instances)
"""


@dataclass(frozen=True)
class Figures:
    """One wrk run against one server at one connection count."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # server CPU time per request, all its processes: steadier than req/s on a busy machine

    @classmethod
    def median(cls, runs: Sequence[Figures]) -> Figures:
        """The median of each figure over ``runs`` (errors: their sum)."""
        return cls(
            rps=statistics.median(f.rps for f in runs),
            p50_ms=statistics.median(f.p50_ms for f in runs),
            p99_ms=statistics.median(f.p99_ms for f in runs),
            errors=sum(f.errors for f in runs),
            cpu_ms=statistics.median(f.cpu_ms for f in runs),
        )

    def public(self) -> dict[str, float | int]:
        """The figures --json promises."""
        return {"rps": self.rps, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "errors": self.errors}


@dataclass(frozen=True)
class Target:
    """How to start one server and what to send it."""

    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    ready_path: str
    infer_path: str
    bodies: tuple[bytes, bytes]  # one row, BATCH_ROWS rows
    labels: Callable[[bytes], list[int]]  # an answer's labels
    port_env: Callable[[int], dict[str, str]]  # the variables that set its port


# ---------------------------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------------------------


def venv_with(name: str, python: Path, requirements: Sequence[str], *, log: Callable[[str], None]) -> Path:
    """A cached venv with ``requirements`` installed; its key is the Python and the list."""
    key = hashlib.sha256("\n".join([str(python), *requirements]).encode()).hexdigest()[:12]
    venv = CACHE / f"{name}-{key}"
    if (venv / ".complete").exists():
        return venv
    log(f"creating {venv.relative_to(REPO)} ({', '.join(requirements)})")
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv:
        run([uv, "venv", "--quiet", "--python", python, venv], timeout=300)
        # Bytecode now: servers start faster, and nothing is compiled while they are measured.
        run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                venv / "bin" / "python",
                *requirements,
            ],
            timeout=1800,
        )
    else:
        run([python, "-m", "venv", venv], timeout=300)
        run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", *requirements], timeout=1800)
    (venv / ".complete").write_text("ok\n", encoding="utf-8")
    return venv


def _sklearn_version(python: Path) -> str:
    code = "import sklearn; print(sklearn.__version__)"
    return run([python, "-c", code]).stdout.strip()


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------


def pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus is not None else command


@dataclass(frozen=True)
class Running:
    """A started server: its URL, and its process group for CPU time and liveness."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and every live process it started.

        By parentage, not process group: BentoML's supervisor starts its workers in groups of
        their own.
        """
        stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, ticks)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # gone meanwhile
            fields = text[text.rindex(")") + 2 :].split()
            stats[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        family = {self.process.pid}
        grew = True
        while grew:
            children = {pid for pid, (parent, _) in stats.items() if parent in family} - family
            family |= children
            grew = bool(children)
        return sum(stats[pid][1] for pid in family if pid in stats) / os.sysconf("SC_CLK_TCK")

    def check_alive(self, name: str) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise GeneratorError(f"{name} exited during the run (code {self.process.returncode}):\n{tail}")


@contextmanager
def serving(target: Target, port: int, cpus: str | None, logs: Path) -> Iterator[Running]:
    """Start ``target`` on ``port``, wait until ready, yield it, stop it (process group)."""
    log_file = logs / f"{target.name}-{port}.log"
    env = {**os.environ, **target.env, **target.port_env(port)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the venvs hold compiled bytecode: let it be used
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            pinned(target.command, cpus),
            cwd=target.cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ok(url + target.ready_path):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-3000:]
                raise GeneratorError(f"{target.name} did not become ready on {url}:\n{tail}")
            time.sleep(0.3)
        yield Running(url, process, log_file)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


# No proxies: calls to 127.0.0.1 must not leave the machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _ok(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with _OPENER.open(request, timeout=30) as response:
        return bytes(response.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_answers(target: Target, server: Running, expected: tuple[list[int], list[int]]) -> None:
    for body, labels in zip(target.bodies, expected, strict=True):
        try:
            got = target.labels(_post(server.url + target.infer_path, body))
        except OSError as exc:  # urllib's HTTPError and URLError included
            tail = server.log.read_text(errors="replace")[-3000:]
            raise GeneratorError(f"{target.name} did not answer {target.infer_path}: {exc}\n{tail}") from None
        if got != labels:
            raise GeneratorError(f"{target.name} answered {got}, expected {labels}: not the same model")


def wrk(
    server: Running, target: Target, connections: int, duration: float, cpus: str | None, work: Path
) -> Figures:
    script = work / "mix.lua"
    one, many = work / f"{target.name}-one.json", work / f"{target.name}-many.json"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    one.write_bytes(target.bodies[0])
    many.write_bytes(target.bodies[1])
    command = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            server.url,
        ],
        cpus,
    )
    env = {
        "BENCH_PATH": target.infer_path,
        "BENCH_ONE": str(one),
        "BENCH_MANY": str(many),
        "BENCH_MAX_REQUESTS": str(MAX_REQUESTS),
    }
    cpu_before = server.cpu_seconds()
    output = run(command, env=env, timeout=duration + 60).stdout
    cpu = server.cpu_seconds() - cpu_before
    server.check_alive(target.name)  # figures from a server that died mid-run mean nothing
    result = json.loads(output.strip().splitlines()[-1])
    requests = max(int(result["requests"]), 1)
    return Figures(
        rps=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=int(result["errors"]),
        cpu_ms=cpu * 1000 / requests,
    )


# ---------------------------------------------------------------------------------------------
# Set-up: one project, one model file, three servers
# ---------------------------------------------------------------------------------------------


def rows_to_send() -> tuple[list[list[float]], list[list[float]]]:
    # Fixed, distinct iris-like rows; the 16-row request spans all three classes.
    many = [[4.6 + 0.15 * i, 3.4 - 0.06 * i, 1.2 + 0.35 * i, 0.2 + 0.14 * i] for i in range(BATCH_ROWS)]
    return [many[0]], many


def v2_body(rows: list[list[float]]) -> bytes:
    data = [value for row in rows for value in row]
    tensor = {"name": "input-0", "shape": [len(rows), 4], "datatype": "FP64", "data": data}
    return json.dumps({"inputs": [tensor]}).encode()


Rows = list[list[float]]


def _bodies(one: Rows, many: Rows, mix: str) -> tuple[Rows, Rows]:
    """The two requests wrk alternates: one row and 16 rows (``mixed``), or one row twice (``single``)."""
    return (one, many) if mix == "mixed" else (one, one)


def v2_labels(answer: bytes) -> list[int]:
    return [int(label) for label in json.loads(answer)["outputs"][0]["data"]]


def _targets(
    work: Path,
    python: Path,
    servers: Sequence[str],
    workers: Sequence[int],
    log: Callable[[str], None],
    template: Path | None = None,
    ours_env: dict[str, str] | None = None,
    baselines: Sequence[tuple[str, Path]] = (),
    mix: str = "single",
) -> tuple[list[Target], tuple[list[int], list[int]]]:
    ours = trained_project(work, "ours", python, template, log)
    project, package, python_ours = ours.project, ours.package, ours.python
    deps = _project_requirements(project)

    # Ours serves its artifact (as a project does; a bare estimator would lack the signature that
    # shapes its checks), and the bare estimator saved from it is the one file the peers load.
    model_file = work / "model.joblib"
    one, many = rows_to_send()
    expected_one, expected_many = model_labels(ours, [one, many], save_estimator=model_file)
    sklearn_pin = f"scikit-learn=={_sklearn_version(python_ours)}"  # unpickling needs the same version
    rows = _bodies(one, many, mix)
    bodies = (v2_body(rows[0]), v2_body(rows[1]))
    if mix != "mixed":
        expected_many = expected_one

    targets = (
        [ours.target(f"ours-w{count}", bodies, workers=count, env=ours_env) for count in workers]
        if "ours" in servers
        else []
    )
    for ref, ref_template in baselines:
        # A release of the template, its project trained by its own code (its artifact's format
        # is its own): the same data and seed give the same model, which the answers check.
        baseline = trained_project(work, ref, python, ref_template, log)
        targets.append(baseline.target(f"{ref}-w1", bodies, env=ours_env))
    if "granian" in servers:
        granian_venv = venv_with("granian", python, [*deps, *GRANIAN], log=log)
        _install_project(granian_venv / "bin" / "python", project)
    for count in workers if "granian" in servers else ():
        targets.append(
            Target(
                f"granian-w{count}",
                [
                    str(granian_venv / "bin" / "granian"),
                    "--interface",
                    "asgi",
                    "--no-ws",
                    "--access-log",
                    "--workers",
                    str(count),
                    f"{package}.serving.service:app",
                ],
                project,
                {
                    "MODEL_PATH": str(ours.artifact),
                    "MODEL_NAME": MODEL_NAME,
                    "GRANIAN_HOST": "127.0.0.1",
                    **(ours_env or {}),
                },
                "/v2/health/ready",
                f"/v2/models/{MODEL_NAME}/infer",
                bodies,
                v2_labels,
                lambda port: {"GRANIAN_PORT": str(port)},
            )
        )
    mlserver_workers = workers if "mlserver" in servers else ()
    if mlserver_workers:
        venv = venv_with("mlserver", python, [*MLSERVER, sklearn_pin], log=log)
        folder = work / "mlserver"
        folder.mkdir()
        (folder / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": MODEL_NAME,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": str(model_file)},
                }
            ),
            encoding="utf-8",
        )
    for count in mlserver_workers:
        targets.append(
            Target(
                f"mlserver-w{count}",
                [str(venv / "bin" / "mlserver"), "start", str(folder)],
                folder,
                # One worker: with parallel_workers=0 MLServer predicts in its HTTP process.
                # Its default, 1, adds an inference process and a hop to it per request (and
                # MLServer 1.7.1's inference process dies at start with the uvloop it resolves
                # to today, "There is no current event loop"); n > 1 is n inference processes.
                {
                    "MLSERVER_HOST": "127.0.0.1",
                    "MLSERVER_PARALLEL_WORKERS": str(count if count > 1 else 0),
                },
                "/v2/health/ready",
                f"/v2/models/{MODEL_NAME}/infer",
                bodies,
                v2_labels,
                lambda port: {
                    "MLSERVER_HTTP_PORT": str(port),
                    "MLSERVER_GRPC_PORT": str(free_port()),
                    "MLSERVER_METRICS_PORT": str(free_port()),
                },
            )
        )
    if "bentoml" in servers:
        venv = venv_with("bentoml", python, [*BENTOML, sklearn_pin], log=log)
        folder = work / "bentoml"
        folder.mkdir()
        (folder / "service.py").write_text(BENTO_SERVICE, encoding="utf-8")
        targets.append(
            Target(
                "bentoml-w1",
                [str(venv / "bin" / "bentoml"), "serve", "service:Model", "--host", "127.0.0.1"],
                folder,
                {"BENCH_MODEL": str(model_file), "BENTOML_DO_NOT_TRACK": "true"},
                "/readyz",
                "/predict",
                (json.dumps({"instances": rows[0]}).encode(), json.dumps({"instances": rows[1]}).encode()),
                lambda answer: [int(label) for label in json.loads(answer)],
                lambda port: {"BENTOML_PORT": str(port)},
            )
        )
    return targets, (expected_one, expected_many)


def _install_ours(
    project: Path, python: Path, template: Path | None, name: str, log: Callable[[str], None]
) -> tuple[Path, str, Path]:
    """Render the default project from ``template``, install it in its venv (cached by requirements).

    Returns:
        The project, its package and its venv's Python.
    """
    answers = default_variant().as_dict()
    render_project(project, answers, template=template)
    package = answers.get("package_name") or _package_of(project)
    venv = venv_with(name, python, _project_requirements(project), log=log)
    python_venv = venv / "bin" / "python"
    _install_project(python_venv, project)
    return project, package, python_venv


def _install_project(python_venv: Path, project: Path) -> None:
    """Install the rendered ``project`` itself (not its dependencies: the venv has them)."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv:
        install = [uv, "pip", "install", "--quiet", "--no-deps", "--reinstall", "--compile-bytecode"]
        run([*install, "--python", python_venv, project], timeout=600)
    else:
        run([python_venv, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", project])


@dataclass(frozen=True)
class TrainedProject:
    """A rendered default project, installed in its venv and trained by its own code."""

    project: Path
    package: str
    python: Path  # its venv's
    artifact: Path  # what its `train` wrote

    def target(
        self, name: str, bodies: tuple[bytes, bytes], *, workers: int = 1, env: dict[str, str] | None = None
    ) -> Target:
        """The project's own service (`python -m <package>.serve`) serving its artifact."""
        return Target(
            name,
            [str(self.python), "-m", f"{self.package}.serve"],
            self.project,
            {
                "MODEL_PATH": str(self.artifact),
                "MODEL_NAME": MODEL_NAME,
                "HOST": "127.0.0.1",
                "WORKERS": str(workers),
                **(env or {}),
            },
            "/v2/health/ready",
            f"/v2/models/{MODEL_NAME}/infer",
            bodies,
            v2_labels,
            lambda port: {"PORT": str(port)},
        )


def trained_project(
    work: Path, name: str, python: Path, template: Path | None, log: Callable[[str], None]
) -> TrainedProject:
    """Render ``template`` (this checkout's when None) as ``name``, install it, train it."""
    venv_name = "ours" if name == "ours" else f"ours-{name}"
    project, package, venv_python = _install_ours(work / f"project-{name}", python, template, venv_name, log)
    artifacts = work / f"artifacts-{name}"
    run([venv_python, "-m", f"{package}.train", "--output", artifacts], cwd=project, timeout=600)
    return TrainedProject(project, package, venv_python, artifacts / "model.joblib")


def model_labels(
    trained: TrainedProject, row_sets: Sequence[Rows], save_estimator: Path | None = None
) -> list[list[int]]:
    """The trained model's own labels for each set of rows (and its bare estimator, saved if asked)."""
    save = f"joblib.dump(estimator, {str(save_estimator)!r})" if save_estimator else ""
    code = textwrap.dedent(
        f"""
        import json, joblib
        estimator = joblib.load({str(trained.artifact)!r})["estimator"]
        {save}
        print(json.dumps([estimator.predict(rows).tolist() for rows in {list(row_sets)!r}]))
        """
    )
    return list(json.loads(run([trained.python, "-c", code]).stdout))


def template_at(ref: str, work: Path) -> Path:
    """The template as it was at the git ``ref`` (``git archive``), for a baseline."""
    folder = work / f"template-{ref}"
    folder.mkdir()
    archive = work / f"template-{ref}.tar"
    run(["git", "-C", REPO, "archive", "--output", archive, ref, "copier.yml", "template"])
    run(["tar", "-x", "-f", archive, "-C", folder])
    return folder


def _package_of(project: Path) -> str:
    [package] = [path.name for path in (project / "src").iterdir() if (path / "__init__.py").exists()]
    return package


def _project_requirements(project: Path) -> list[str]:
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


# ---------------------------------------------------------------------------------------------
# Measuring and reporting
# ---------------------------------------------------------------------------------------------


def measure(
    targets: Sequence[Target],
    expected: tuple[list[int], list[int]],
    *,
    connections: Sequence[int],
    duration: float,
    warmup: float,
    repeat: int,
    work: Path,
    log: Callable[[str], None],
    cpus: tuple[str | None, str | None] = (None, None),
) -> dict[str, dict[int, Figures]]:
    """Run every target at every connection count, ``repeat`` rounds; medians per cell.

    ``cpus`` are the server's and wrk's CPU lists for taskset (None: not pinned).
    """
    runs: dict[str, dict[int, list[Figures]]] = {t.name: {c: [] for c in connections} for t in targets}
    for round_ in range(repeat):
        for target in targets:
            try:
                _measure_one(
                    target,
                    expected,
                    runs[target.name],
                    connections=connections,
                    duration=duration,
                    warmup=warmup,
                    work=work,
                    log=log,
                    cpus=cpus,
                    label=f"round {round_ + 1}/{repeat}",
                )
            except GeneratorError as exc:
                # A peer that cannot run this way (MLServer's inference processes, say) is left
                # out of the table; the others are still measured.
                lines = [line for line in str(exc).splitlines() if line.strip()]
                log(f"round {round_ + 1}/{repeat} {target.name}: not measured: {lines[0]}")
                log("\n".join(f"    {line}" for line in lines[1:][-6:]))
                runs.pop(target.name, None)
        targets = [target for target in targets if target.name in runs]
    return {
        name: {count: Figures.median(figures) for count, figures in by_count.items()}
        for name, by_count in runs.items()
    }


def _measure_one(
    target: Target,
    expected: tuple[list[int], list[int]],
    runs: dict[int, list[Figures]],
    *,
    connections: Sequence[int],
    duration: float,
    warmup: float,
    work: Path,
    log: Callable[[str], None],
    cpus: tuple[str | None, str | None],
    label: str,
) -> None:
    """One round of one server: start it, check its answers, warm it up, run each connection count."""
    server_cpu, client_cpu = cpus
    with serving(target, free_port(), server_cpu, work) as server:
        check_answers(target, server, expected)
        # Warm-up: first calls import lazily and fill caches on every server.
        wrk(server, target, max(connections), warmup, client_cpu, work)
        for count in connections:
            figures = wrk(server, target, count, duration, client_cpu, work)
            runs[count].append(figures)
            log(
                f"{label} {target.name:<12}{count:>3} conn: "
                f"{figures.rps:8.0f} req/s  p50 {figures.p50_ms:7.2f} ms  "
                f"p99 {figures.p99_ms:7.2f} ms  errors {figures.errors}  "
                f"cpu {figures.cpu_ms:.2f} ms/req"
            )


def python_and_wrk(parser: argparse.ArgumentParser, version: str) -> str:
    """The interpreter of ``version`` for the environments; stops with the fix if it or wrk is missing."""
    python = find_python(version)
    if python is None:
        parser.error(f"no Python {version} found (on PATH or under pyenv)")
    if shutil.which("wrk") is None:
        parser.error("wrk is needed: apt-get install -y wrk (Debian/Ubuntu)")
    return python


def default_cpus() -> tuple[str | None, str | None]:
    """Server and wrk CPU lists: the last CPU for wrk, the others for the server.

    With two CPUs the server gets both (a two-worker server needs two) and wrk shares the
    second; with one, or without taskset, nothing is pinned.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None, None
    server = cpus if len(cpus) == 2 else cpus[:-1]
    return ",".join(map(str, server)), str(cpus[-1])


def _ratios(title: str, mine: dict[int, Figures], other: dict[int, Figures]) -> list[str]:
    lines = [
        "",
        f"{title}: {'conn':>4}{'req/s':>8}{'p50':>8}{'p99':>8}{'cpu/req':>9}   (req/s: higher is better)",
    ]
    for count, f in mine.items():
        o = other[count]
        lines.append(
            f"{'':<{len(title) + 2}}{count:>4}{f.rps / o.rps:>7.2f}x{f.p50_ms / o.p50_ms:>7.2f}x"
            f"{f.p99_ms / o.p99_ms:>7.2f}x{f.cpu_ms / o.cpu_ms:>8.2f}x"
        )
    return lines


def table(results: dict[str, dict[int, Figures]]) -> str:
    """The figures, then ours against each peer at the same worker count, then ours against one worker."""
    lines = [
        f"{'server':<13}{'conn':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99/p50':>9}{'errors':>8}"
        f"{'cpu ms/req':>12}"
    ]
    for name, by_count in results.items():
        for count, f in by_count.items():
            lines.append(
                f"{name:<13}{count:>5}{f.rps:>10.0f}{f.p50_ms:>9.2f}{f.p99_ms:>9.2f}"
                f"{f.p99_ms / f.p50_ms if f.p50_ms else 0:>9.1f}{f.errors:>8}{f.cpu_ms:>12.3f}"
            )
    for name in results:
        server, _, workers = name.rpartition("-w")
        ours = results.get(f"ours-w{workers}")
        if server != "ours" and ours is not None:
            lines += _ratios(f"ours-w{workers} / {name}", ours, results[name])
    one = results.get("ours-w1")
    for name in results:
        if name.startswith("ours-w") and name != "ours-w1" and one is not None:
            lines += _ratios(f"{name} / ours-w1", results[name], one)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of load before measuring (default 3)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians (default 3)")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated subset of ours,mlserver,bentoml"
    )
    parser.add_argument(
        "--connections", default=",".join(map(str, CONNECTIONS)), help="comma-separated (default 1,8,32)"
    )
    parser.add_argument(
        "--python", default="3.12", help="Python version of the three environments (default 3.12)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated worker counts of each server (default 1,2)"
    )
    parser.add_argument(
        "--server-cpus",
        help="CPU list for the servers (taskset -c); default: all but the last, or both of two",
    )
    parser.add_argument("--client-cpus", help="CPU list for wrk (taskset -c); default: the last CPU")
    parser.add_argument(
        "--template", type=Path, help="template checkout to render (default: this one), e.g. an older commit"
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="REF",
        help="a git ref of this repository (a release, a commit) whose template is served beside this "
        "checkout's, interleaved, with ratios per connection count; repeatable, e.g. --baseline 4676a5e",
    )
    parser.add_argument(
        "--mix",
        choices=("single", "mixed"),
        default="single",
        help="single: one-row requests only (default); mixed: one-row and 16-row requests alternating",
    )
    parser.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for ours (and granian), e.g. ACCESS_LOG=false; repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()

    servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = sorted(set(servers) - set(SERVERS))
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}: choose from {', '.join(SERVERS)}")
    connections = [int(count) for count in args.connections.split(",")]
    workers = [int(count) for count in args.workers.split(",")]
    server_cpus, client_cpus = default_cpus()
    cpus = (args.server_cpus or server_cpus, args.client_cpus or client_cpus)
    python = python_and_wrk(parser, args.python)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsdeploy-serving-") as tmp:
        work = Path(tmp)
        ours_env = dict(item.split("=", 1) for item in args.ours_env)
        baselines = [(ref, template_at(ref, work)) for ref in args.baseline]
        targets, expected = _targets(
            work, python, servers, workers, log, args.template, ours_env, baselines, args.mix
        )
        log(f"load {os.getloadavg()[0]:.2f}; server on CPUs {cpus[0]}, wrk on CPUs {cpus[1]}")
        results = measure(
            targets,
            expected,
            connections=connections,
            duration=args.duration,
            warmup=args.warmup,
            repeat=args.repeat,
            work=work,
            log=log,
            cpus=cpus,
        )
    if args.json:
        print(json.dumps({name: {str(c): f.public() for c, f in by.items()} for name, by in results.items()}))
    else:
        print(table(results))


if __name__ == "__main__":
    main()
