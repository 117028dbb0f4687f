"""Run a project's Dask batch scoring on a real distributed cluster made of its own image.

:func:`dask_cluster` starts, on a user-defined Docker network of its own, one scheduler
(``dask scheduler``) and N workers (``dask worker``), each a container of the project image run
the way the chart runs its Dask pods: uid 10001, read-only root filesystem with a tmpfs at
``/tmp`` (Dask's scratch and spill space), no capabilities, no privilege escalation. It waits
until every worker has joined and always removes the containers and the network.
:func:`run_batch_job` then runs ``python -m <package>.batch`` from a further container on that
network, against that scheduler, and returns the run's own summary.

Host folders are shared by bind mounts at the same paths in every container, as a volume would
be in Kubernetes: workers read the input and write the output themselves.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from generator.engine.client import docker_client
from generator.engine.run import hardened_run_options
from generator.errors import GeneratorError

SCHEDULER_PORT = 8786
# Dask spills partitions that do not fit in memory to /tmp: more room than the service needs.
TMPFS = "rw,nosuid,nodev,size=512m"
LABEL = "dsdeploy.dask"

# Asks the scheduler, from inside its own container, to wait for the workers to join.
_WAIT_FOR_WORKERS = """
import sys
from distributed import Client
with Client("tcp://127.0.0.1:{port}", timeout=30) as client:
    client.wait_for_workers({workers}, timeout={timeout})
    print(len(client.scheduler_info()["workers"]))
"""


@dataclass(frozen=True)
class DaskContainers:
    """A running Dask cluster of containers.

    Attributes:
        image: The image every container runs.
        network: The Docker network they share.
        scheduler: Name of the scheduler's container (also its host name on the network).
        workers: Names of the workers' containers.
        mounts: Host folder -> (container path, read-only), mounted in workers and job runners.
    """

    image: str
    network: str
    scheduler: str
    workers: tuple[str, ...]
    mounts: Mapping[Path, tuple[str, bool]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """The scheduler's address on the network, e.g. ``tcp://dsdeploy-dask-1a2b-scheduler:8786``."""
        return f"tcp://{self.scheduler}:{SCHEDULER_PORT}"


@dataclass(frozen=True)
class BatchRun:
    """One run of the batch job against a container cluster.

    Attributes:
        summary: The JSON summary the batch CLI printed (rows, partitions, workers, seconds,
            tasks_per_worker, input, output).
        wall_seconds: From starting the job container to its exit (imports and connecting included).
        logs: The job container's output.
    """

    summary: Mapping[str, Any]
    wall_seconds: float
    logs: str

    @property
    def rows(self) -> int:
        """Rows scored."""
        return int(self.summary["rows"])

    @property
    def partitions(self) -> int:
        """Partitions the input was split into."""
        return int(self.summary["partitions"])

    @property
    def workers(self) -> int:
        """Workers connected to the scheduler at the end of the run."""
        return int(self.summary["workers"])


def _volumes(mounts: Mapping[Path, tuple[str, bool]]) -> dict[str, dict[str, str]]:
    return {
        str(host): {"bind": path, "mode": "ro" if read_only else "rw"}
        for host, (path, read_only) in mounts.items()
    }


def _remove_all(containers: list[Container]) -> None:
    for container in reversed(containers):
        container.remove(force=True)


def _logs(container: Container, tail: int = 40) -> str:
    return str(container.logs(tail=tail).decode(errors="replace"))


@contextmanager
def dask_cluster(
    image: str,
    *,
    workers: int = 2,
    threads: int = 1,
    mounts: Mapping[Path, tuple[str, bool]] | None = None,
    timeout: float = 120,
) -> Iterator[DaskContainers]:
    """Start a scheduler and ``workers`` workers from ``image``; remove everything afterwards.

    Args:
        image: A project image built with Dask (``with_dask``).
        workers: Worker containers (one worker process each).
        threads: Threads per worker.
        mounts: Host folder -> (container path, read-only), mounted in every worker.
        timeout: Seconds to wait for the scheduler and every worker to be up.

    Yields:
        The cluster, with every worker connected.

    Raises:
        GeneratorError: The engine cannot be reached, or the cluster did not come up in time
            (the message has the scheduler's log).
    """
    client = docker_client()
    name = f"dsdeploy-dask-{uuid.uuid4().hex[:8]}"
    shared = {
        **hardened_run_options(),
        "tmpfs": {"/tmp": TMPFS},  # noqa: S108 - the container's own tmpfs
        "network": name,
        "labels": {LABEL: name},
        "detach": True,
        # Dask reads its temporary directory from here as the chart's pods do.
        "environment": {"DASK_TEMPORARY_DIRECTORY": "/tmp"},  # noqa: S108 - the container's tmpfs
    }
    with ExitStack() as cleanup:
        network = client.networks.create(name, driver="bridge", labels={LABEL: name})
        cleanup.callback(network.remove)
        started: list[Container] = []
        # Registered after the network: containers go first, then the network they were on.
        cleanup.callback(_remove_all, started)
        scheduler_name = f"{name}-scheduler"
        try:
            started.append(
                client.containers.run(
                    image,
                    ["dask", "scheduler", "--port", str(SCHEDULER_PORT), "--dashboard-address", ":8787"],
                    name=scheduler_name,
                    hostname=scheduler_name,
                    **shared,
                )
            )
            worker_names = tuple(f"{name}-worker-{number}" for number in range(1, workers + 1))
            for worker_name in worker_names:
                started.append(
                    client.containers.run(
                        image,
                        [
                            "dask",
                            "worker",
                            f"tcp://{scheduler_name}:{SCHEDULER_PORT}",
                            "--name",
                            worker_name,
                            "--nthreads",
                            str(threads),
                            "--local-directory",
                            "/tmp",  # noqa: S108 - the container's tmpfs
                        ],
                        name=worker_name,
                        hostname=worker_name,
                        volumes=_volumes(mounts or {}),
                        **shared,
                    )
                )
        except docker.errors.DockerException as exc:
            raise GeneratorError(f"cannot start the Dask containers from {image}: {exc}") from exc
        _wait_for_workers(started[0], workers, timeout)
        yield DaskContainers(image, name, scheduler_name, worker_names, dict(mounts or {}))


def _wait_for_workers(scheduler: Container, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    script = _WAIT_FOR_WORKERS.format(port=SCHEDULER_PORT, workers=workers, timeout=max(1, int(timeout)))
    while True:
        scheduler.reload()
        if scheduler.status == "exited":
            raise GeneratorError(f"the Dask scheduler exited:\n{_logs(scheduler)}")
        code, output = scheduler.exec_run(["python", "-c", script], user="10001")
        if code == 0 and output.decode().strip() == str(workers):
            return
        if time.monotonic() > deadline:
            raise GeneratorError(
                f"{workers} Dask workers did not join within {timeout:.0f} s:\n"
                f"{output.decode(errors='replace')[-2000:]}\nscheduler log:\n{_logs(scheduler)}"
            )
        time.sleep(1)


def run_batch_job(
    cluster: DaskContainers,
    package: str,
    arguments: Sequence[str],
    *,
    timeout: float = 600,
) -> BatchRun:
    """Run ``python -m <package>.batch --scheduler <cluster> ...`` in a container on the network.

    The job container runs like the cluster's (uid 10001, read-only root, tmpfs ``/tmp``) and
    gets the cluster's mounts.

    Args:
        cluster: A cluster from :func:`dask_cluster`.
        package: The project's Python package (``my_model``).
        arguments: Arguments after ``--scheduler``: ``--input``, ``--output`` and options.
        timeout: Seconds the job may take.

    Returns:
        The job's summary and wall time.

    Raises:
        GeneratorError: The job failed or timed out (the message has its log).
    """
    client = docker_client()
    command = ["python", "-m", f"{package}.batch", "--scheduler", cluster.address, *arguments]
    started = time.monotonic()
    try:
        container = client.containers.run(
            cluster.image,
            command,
            name=f"{cluster.network}-job",
            network=cluster.network,
            labels={LABEL: cluster.network},
            volumes=_volumes(cluster.mounts),
            detach=True,
            environment={"DASK_TEMPORARY_DIRECTORY": "/tmp"},  # noqa: S108 - the container's tmpfs
            **{**hardened_run_options(), "tmpfs": {"/tmp": TMPFS}},  # noqa: S108
        )
    except docker.errors.DockerException as exc:
        raise GeneratorError(f"cannot start the batch job from {cluster.image}: {exc}") from exc
    try:
        try:
            status = container.wait(timeout=timeout)
        except Exception as exc:  # the SDK raises requests' timeout types; any of them means the same
            raise GeneratorError(
                f"the batch job did not finish within {timeout:.0f} s:\n{_logs(container)}"
            ) from exc
        wall = time.monotonic() - started
        logs = str(container.logs().decode(errors="replace"))
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0:
        raise GeneratorError(f"the batch job exited with {status.get('StatusCode')}:\n{logs[-4000:]}")
    return BatchRun(parse_summary(logs), wall, logs)


def parse_summary(logs: str) -> dict[str, Any]:
    """The JSON summary line the batch CLI prints last (after progress bars and log lines).

    Raises:
        GeneratorError: The output holds no JSON summary.
    """
    for line in reversed(logs.replace("\r", "\n").splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except ValueError:
                continue
    raise GeneratorError(f"the batch job printed no JSON summary:\n{logs[-2000:]}")


def leftovers() -> list[str]:
    """Names of containers and networks this module started that still exist (should be none)."""
    client = docker_client()
    containers = client.containers.list(all=True, filters={"label": LABEL})
    networks = client.networks.list(filters={"label": LABEL})
    return [str(container.name) for container in containers] + [str(network.name) for network in networks]
