"""gRPC serving speed: the generated service's gRPC port beside its REST port and MLServer's gRPC.

Issue 30's goal: over gRPC (KServe's ``inference.GRPCInferenceService``, port 8081) the generated
service answers at least as many requests per second as over REST, at least twice MLServer's gRPC
on the same model and core, with a p99 no worse than MLServer's.

The default project's model is trained once by its own code (``serving.trained_project``); MLServer
1.7.1 serves the bare estimator saved from it with its scikit-learn runtime (one process, its
default adaptive batching off), ours serves the artifact (``python -m <package>.serve``, one
worker). Each server runs alone on --server-cpus, the load generator on --client-cpus:
- gRPC: h2load (nghttp2's HTTP/2 load generator, C) sends the same serialized one-row
  ``ModelInferRequest`` (FP64 ``contents``, framed as gRPC) on one HTTP/2 connection with 1, 8
  and 32 concurrent streams, as a gRPC client multiplexes its calls on one channel; latencies
  come from its per-request log. h2load sees HTTP statuses only, and gRPC puts its own status in
  trailers, so before and after each run a gRPC client (grpcio) sends the same request and
  checks the answer is the model's own labels, and a server that answered gRPC errors under load
  shows it in its labels' check or (ours) in its metrics;
- REST: wrk with the same one-row v2 request at 1, 8 and 32 connections (``serving.wrk``).
Rounds interleave the servers; figures are medians over --repeat rounds, with the machine's load.

Usage: python benchmarks/serving_grpc.py [--duration S] [--repeat N] [--server-cpus 0]
       [--client-cpus 1] [--streams 1,8,32] [--template PATH]
Needs h2load (Debian: apt-get install -y nghttp2-client), wrk, taskset, and the suite's test
extra (grpcio, tritonclient[grpc] for the request messages); PyPI for MLServer's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from serving import (
    CACHE,
    MLSERVER,
    MODEL_NAME,
    Figures,
    Target,
    TrainedProject,
    default_cpus,
    free_port,
    model_labels,
    pinned,
    python_and_wrk,
    rows_to_send,
    serving,
    trained_project,
    v2_body,
    v2_labels,
    venv_with,
    wrk,
)
from tritonclient.grpc import service_pb2

from generator.errors import GeneratorError
from generator.process import run

STREAMS = (1, 8, 32)
GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"
_SUMMARY = re.compile(
    r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)


@dataclass(frozen=True)
class GrpcServer:
    """A server to start, with the port its gRPC service listens on."""

    target: Target  # how to start it (its HTTP port for readiness and REST)
    grpc_port: int
    rest: bool  # whether its REST port is measured too


def infer_request(rows: list[list[float]]) -> service_pb2.ModelInferRequest:
    """One v2 request, the same rows as the REST body: one FP64 tensor [rows, 4]."""
    request = service_pb2.ModelInferRequest(model_name=MODEL_NAME)
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[len(rows), len(rows[0])])
    tensor.contents.fp64_contents.extend(value for row in rows for value in row)
    return request


def grpc_frame(message: bytes) -> bytes:
    """A gRPC message as it travels in an HTTP/2 DATA frame: uncompressed flag, length, bytes."""
    return struct.pack(">BI", 0, len(message)) + message


def grpc_labels(port: int, request: service_pb2.ModelInferRequest) -> list[int]:
    """The labels a server answers ``request`` with over gRPC (its first output)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            GRPC_METHOD,
            request_serializer=service_pb2.ModelInferRequest.SerializeToString,
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )
        answer = call(request, timeout=10)
    output = answer.outputs[0]
    if answer.raw_output_contents:
        dtype = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4"}[output.datatype]
        return [int(v) for v in np.frombuffer(answer.raw_output_contents[0], dtype=dtype)]
    contents = output.contents
    values = (
        contents.int64_contents or contents.int_contents or contents.fp64_contents or contents.fp32_contents
    )
    return [int(v) for v in values]


def h2load(port: int, body: Path, streams: int, duration: float, cpus: str | None, work: Path) -> Figures:
    """h2load's requests per second and latency percentiles for ``streams`` concurrent gRPC calls."""
    log = work / f"h2load-{port}-{streams}.tsv"
    log.unlink(missing_ok=True)
    command = [
        "h2load",
        "-t1",
        "-c1",
        f"-m{streams}",
        f"-D{duration:g}",
        "-d",
        str(body),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        f"--log-file={log}",
        f"http://127.0.0.1:{port}{GRPC_METHOD}",
    ]
    output = run(pinned(command, cpus), timeout=duration + 60).stdout
    match = _SUMMARY.search(output)
    if match is None:
        raise GeneratorError(f"h2load printed no summary:\n{output[-2000:]}")
    _, done, succeeded, failed, errored = map(int, match.groups())
    latencies = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.strip())
    if not latencies:
        raise GeneratorError(f"h2load logged no request:\n{output[-2000:]}")
    return Figures(
        rps=done / duration,
        p50_ms=latencies[len(latencies) // 2] / 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000,
        # Non-2xx answers and broken streams (gRPC's own status is checked by ``grpc_labels``).
        errors=max(failed, done - succeeded) + errored,
        cpu_ms=0.0,
    )


def _with_cpu(figures: Figures, cpu_seconds: float) -> Figures:
    requests = max(figures.rps, 1e-9)
    return Figures(figures.rps, figures.p50_ms, figures.p99_ms, figures.errors, cpu_seconds * 1000 / requests)


def measure(
    servers: Sequence[GrpcServer],
    expected: list[int],
    rows: list[list[float]],
    *,
    streams: Sequence[int],
    duration: float,
    warmup: float,
    repeat: int,
    cpus: tuple[str | None, str | None],
    work: Path,
    log: Callable[[str], None],
) -> dict[str, dict[int, Figures]]:
    """Every server, every stream count, ``repeat`` interleaved rounds: medians per cell."""
    request = infer_request(rows)
    body = work / "grpc-one.bin"
    body.write_bytes(grpc_frame(request.SerializeToString()))
    runs: dict[str, dict[int, list[Figures]]] = {}
    server_cpu, client_cpu = cpus
    for round_ in range(repeat):
        for server in servers:
            name = server.target.name
            with serving(server.target, free_port(), server_cpu, work) as running:
                try:
                    labels = grpc_labels(server.grpc_port, request)
                except grpc.RpcError as exc:
                    tail = running.log.read_text(errors="replace")[-3000:]
                    raise GeneratorError(f"{name} did not answer over gRPC: {exc}\n{tail}") from None
                if labels != expected:
                    raise GeneratorError(f"{name} answered {labels} over gRPC, expected {expected}")
                h2load(server.grpc_port, body, max(streams), warmup, client_cpu, work)
                for count in streams:
                    before = running.cpu_seconds()
                    figures = h2load(server.grpc_port, body, count, duration, client_cpu, work)
                    figures = _with_cpu(figures, (running.cpu_seconds() - before) / duration)
                    running.check_alive(name)
                    if grpc_labels(server.grpc_port, request) != expected:
                        raise GeneratorError(f"{name} answered other labels over gRPC after the load")
                    runs.setdefault(f"{name}-grpc", {}).setdefault(count, []).append(figures)
                    log(_line(round_, repeat, f"{name}-grpc", count, figures))
                if server.rest:
                    for count in streams:
                        figures = wrk(running, server.target, count, duration, client_cpu, work)
                        runs.setdefault(f"{name}-rest", {}).setdefault(count, []).append(figures)
                        log(_line(round_, repeat, f"{name}-rest", count, figures))
    return {
        name: {count: Figures.median(figures) for count, figures in by_count.items()}
        for name, by_count in runs.items()
    }


def _line(round_: int, repeat: int, name: str, count: int, f: Figures) -> str:
    return (
        f"round {round_ + 1}/{repeat} {name:<14}{count:>3} streams: {f.rps:8.0f} req/s  "
        f"p50 {f.p50_ms:6.2f} ms  p99 {f.p99_ms:6.2f} ms  errors {f.errors}  cpu {f.cpu_ms:.3f} ms/req"
    )


def table(results: dict[str, dict[int, Figures]]) -> str:
    """The figures, then ours' gRPC against its REST and against MLServer's gRPC."""
    lines = [
        f"{'server':<16}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'cpu ms/req':>12}"
    ]
    for name, by_count in results.items():
        for count, f in by_count.items():
            lines.append(
                f"{name:<16}{count:>5}{f.rps:>10.0f}{f.p50_ms:>9.2f}{f.p99_ms:>9.2f}{f.errors:>8}{f.cpu_ms:>12.3f}"
            )
    ours = results.get("ours-grpc")
    for other in ("ours-rest", "mlserver-grpc"):
        if ours is None or other not in results:
            continue
        lines += [
            "",
            f"ours-grpc / {other}: {'conc':>4}{'req/s':>8}{'p50':>8}{'p99':>8}   (req/s: higher is better)",
        ]
        for count, f in ours.items():
            o = results[other][count]
            lines.append(
                f"{'':<{len(other) + 13}}{count:>4}{f.rps / o.rps:>7.2f}x{f.p50_ms / o.p50_ms:>7.2f}x"
                f"{f.p99_ms / o.p99_ms:>7.2f}x"
            )
    return "\n".join(lines)


def servers_for(
    trained: TrainedProject, work: Path, python: str, estimator: Path, log: Callable[[str], None]
) -> list[GrpcServer]:
    """Ours (gRPC and REST from one process) and MLServer (gRPC) on the same model."""
    one, _ = rows_to_send()
    bodies = (v2_body(one), v2_body(one))
    ours_port = free_port()
    ours = trained.target("ours", bodies, env={"GRPC_PORT": str(ours_port)})
    sklearn = run([trained.python, "-c", "import sklearn; print(sklearn.__version__)"]).stdout.strip()
    venv = venv_with("mlserver", Path(python), [*MLSERVER, f"scikit-learn=={sklearn}"], log=log)
    folder = work / "mlserver"
    folder.mkdir()
    settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(estimator)},
    }
    (folder / "model-settings.json").write_text(json.dumps(settings), encoding="utf-8")
    ml_port = free_port()
    mlserver = Target(
        "mlserver",
        [str(venv / "bin" / "mlserver"), "start", str(folder)],
        folder,
        # parallel_workers=0: predictions in its one process, as ours has one worker.
        {"MLSERVER_HOST": "127.0.0.1", "MLSERVER_PARALLEL_WORKERS": "0", "MLSERVER_GRPC_PORT": str(ml_port)},
        "/v2/health/ready",
        f"/v2/models/{MODEL_NAME}/infer",
        bodies,
        v2_labels,
        lambda port: {"MLSERVER_HTTP_PORT": str(port), "MLSERVER_METRICS_PORT": str(free_port())},
    )
    return [GrpcServer(ours, ours_port, rest=True), GrpcServer(mlserver, ml_port, rest=False)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per measured run (default 6)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians (default 3)")
    parser.add_argument(
        "--streams", default=",".join(map(str, STREAMS)), help="concurrent calls (default 1,8,32)"
    )
    parser.add_argument("--python", default="3.12", help="Python of the environments (default 3.12)")
    parser.add_argument("--server-cpus", help="CPU list for the servers (default: as serving.py)")
    parser.add_argument("--client-cpus", help="CPU list for h2load and wrk (default: the last CPU)")
    parser.add_argument("--template", type=Path, help="template checkout to render (default: this one)")
    args = parser.parse_args()
    python = python_and_wrk(parser, args.python)
    if not any((Path(d) / "h2load").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        parser.error("h2load is needed: apt-get install -y nghttp2-client (Debian/Ubuntu)")
    server_cpus, client_cpus = default_cpus()
    cpus = (args.server_cpus or server_cpus, args.client_cpus or client_cpus)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsdeploy-grpc-") as tmp:
        work = Path(tmp)
        trained = trained_project(work, "ours", Path(python), args.template, log)
        one, _ = rows_to_send()
        estimator = work / "model.joblib"
        [expected] = model_labels(trained, [one], save_estimator=estimator)
        servers = servers_for(trained, work, python, estimator, log)
        log(f"load {os.getloadavg()[0]:.2f}; servers on CPUs {cpus[0]}, load generators on CPUs {cpus[1]}")
        results = measure(
            servers,
            expected,
            one,
            streams=[int(n) for n in args.streams.split(",")],
            duration=args.duration,
            warmup=args.warmup,
            repeat=args.repeat,
            cpus=cpus,
            work=work,
            log=log,
        )
        log(f"load {os.getloadavg()[0]:.2f} at the end")
    print(table(results))


if __name__ == "__main__":
    main()
