"""dask.tls.secretName: the environment the chart gives the Dask pods makes real Dask processes
speak TLS, with mutual authentication, and nothing else.

The scheduler and a worker start as local processes (the ``dask`` of this environment, from
dask-kubernetes' dependencies) with the command, arguments and environment of the rendered
DaskJob, the Secret's keys filled in with a throwaway certificate; the job runner's environment
then runs a task, and a client without the certificate is turned away.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.chart.crds import crd_schemas
from generator.chart.helm import Chart, find_helms
from generator.chart.kube_schemas import KubernetesSchemas
from generator.chart.manifests import ManifestChecker
from generator.process import stop

SECRET = "dask-tls"
DASK = Path(sys.executable).with_name("dask")
CLIENT = """
from distributed import Client
with Client(timeout=20) as client:
    print(client.submit(sum, [1, 2, 3]).result(), *client.scheduler_info()["workers"])
"""
PLAIN_CLIENT = """
import sys
from distributed import Client
try:
    Client(sys.argv[1], timeout=3).close()
except OSError as error:
    print("refused:", type(error).__name__)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(container: dict[str, Any], secret: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet builds it from literal values and Secret keys."""
    env = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET, item
            env[item["name"]] = secret[ref["key"]]
        else:
            env[item["name"]] = item["value"]
    return env


@pytest.fixture(scope="module")
def render_job(
    dask_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[dict[str, Any]], Any]:
    """``render_job(dask_values)``: the Dask project's DaskJob, checked against the operator's CRD."""
    helms = find_helms()
    if not helms:
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    checker = ManifestChecker(helms=helms, schemas=KubernetesSchemas(crd_schemas=crd_schemas()))
    chart = Chart.find(dask_project)

    def render(dask: dict[str, Any]) -> Any:
        values = tmp_path_factory.mktemp("tls") / "values.yaml"
        values.write_text(yaml.safe_dump({"dask": {"job": {"enabled": True}, **dask}}), encoding="utf-8")
        helm = checker.require_helm()
        manifests = helm.render(chart.name, chart.path, namespace=checker.namespace, values=[values])
        [found] = [doc for doc in manifests if doc["kind"] == "DaskJob"]
        assert checker.schemas.validate(found) == []
        return found

    return render


@pytest.fixture(scope="module")
def job(render_job: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return dict(render_job({"tls": {"secretName": SECRET}}))


def test_tls_env_only_when_a_secret_is_named(render_job: Callable[[dict[str, Any]], Any]) -> None:
    plain = render_job({})
    names = {item["name"] for item in plain["spec"]["job"]["spec"]["containers"][0]["env"]}
    assert not {name for name in names if "TLS" in name or name == "DASK_SCHEDULER_ADDRESS"}


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)


def _wait_for(
    log: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float = 60
) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := re.search(pattern, log.read_text(errors="replace")):
            return found
        assert process.poll() is None, log.read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-2000:]}")


def test_tls_secret_makes_the_cluster_speak_tls_only(job: dict[str, Any], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    if not DASK.exists():
        pytest.skip(f"no `dask` command beside {sys.executable}")
    temporary = distributed.Security.temporary()
    secret = {
        "ca.crt": temporary.tls_ca_file,
        "tls.crt": temporary.tls_scheduler_cert,
        "tls.key": temporary.tls_scheduler_key,
    }
    cluster = job["spec"]["cluster"]["spec"]
    [scheduler] = cluster["scheduler"]["spec"]["containers"]
    [worker] = cluster["worker"]["spec"]["containers"]
    [runner] = job["spec"]["job"]["spec"]["containers"]
    base = {key: value for key, value in os.environ.items() if not key.startswith("DASK_")}
    base["DASK_TEMPORARY_DIRECTORY"] = str(tmp_path)

    comm, dashboard = _free_port(), _free_port()
    ports = {"8786": str(comm), ":8787": f":{dashboard}", ":8788": f":{_free_port()}"}
    scheduler_command = [
        str(DASK),
        *scheduler["command"][1:],
        *(ports.get(arg, arg) for arg in scheduler["args"]),
    ]
    scheduler_env = {**base, **_env(scheduler, secret), "DASK_TEMPORARY_DIRECTORY": str(tmp_path)}
    with _process(scheduler_command, scheduler_env, tmp_path / "scheduler.log") as started:
        address = _wait_for(tmp_path / "scheduler.log", r"Scheduler at:\s+(\S+)", started).group(1)
        assert address.startswith("tls://")
        for container in (worker, runner):
            rendered = _env(container, secret)["DASK_SCHEDULER_ADDRESS"]
            assert (
                rendered
                == f"tls://{job['metadata']['name']}-scheduler.{job['metadata']['namespace']}.svc.cluster.local:8786"
            )
        local = f"tls://127.0.0.1:{comm}"

        def env_of(container: dict[str, Any]) -> dict[str, str]:
            env = {**base, **_env(container, secret), "DASK_SCHEDULER_ADDRESS": local}
            return {**env, "DASK_TEMPORARY_DIRECTORY": str(tmp_path), "DASK_WORKER_NAME": "worker-1"}

        args = [ports.get(arg, arg).replace("$(DASK_WORKER_NAME)", "worker-1") for arg in worker["args"]]
        args = [str(tmp_path) if arg == "/tmp" else arg for arg in args]
        with _process(
            [str(DASK), *worker["command"][1:], *args], env_of(worker), tmp_path / "worker.log"
        ) as joined:
            _wait_for(tmp_path / "scheduler.log", r"Register worker", joined)
            # The job runner's environment runs a task; a client without the certificate (over
            # plain TCP) is turned away. Both at once: each starts a Python that imports Dask.
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
            with (
                subprocess.Popen([sys.executable, "-c", CLIENT], env=env_of(runner), **pipes) as tls_client,
                subprocess.Popen(
                    [sys.executable, "-c", PLAIN_CLIENT, f"tcp://127.0.0.1:{comm}"], env=base, **pipes
                ) as plain,
            ):
                answer, answer_errors = tls_client.communicate(timeout=60)
                refusal, refusal_errors = plain.communicate(timeout=60)
            assert tls_client.returncode == 0, answer_errors[-2000:]
            total, *workers = answer.split()
            assert total == "6"
            assert workers
            assert all(address.startswith("tls://") for address in workers)
            assert refusal.startswith("refused:"), (refusal, refusal_errors[-2000:])
