"""Tier 4 for Dask: the Dask operator on kind runs the chart's DaskJob to completion.

The operator is installed from the Helm chart bundled in the pinned ``dask-kubernetes`` wheel
(its nodes pull ``ghcr.io/dask/dask-kubernetes-operator``); the job's input and output live on a
PersistentVolumeClaim of kind's local-path provisioner, shared by the workers and the runner. The
runner first writes example input there, then scores it. Skips with kind's reason where kind
cannot create a cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from generator.chart.crds import API_GROUP, DASK_KUBERNETES_VERSION, operator_chart
from generator.chart.helm import require_helm
from generator.cluster import kind
from generator.containers.batch import parse_summary
from generator.image.build import BuildResult
from generator.process import run
from generator.project.render import read_answers

pytestmark = pytest.mark.kind

KIND_CLUSTER = "dsdeploy-dask"
NAMESPACE = "models"
PVC = "batch-data"
EXAMPLE_ROWS = 20_000
TIMEOUT = 600


@pytest.fixture(scope="module")
def kubeconfig(
    dask_image: tuple[Path, BuildResult], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A kind cluster with the project image loaded and the Dask operator installed."""
    project, build = dask_image
    created = not kind.cluster_exists(KIND_CLUSTER)
    if created:
        kind.create_cluster(KIND_CLUSTER, project / "deploy" / "kind" / "cluster.yaml")
    try:
        path = kind.write_kubeconfig(KIND_CLUSTER, tmp_path_factory.mktemp("kind") / "kubeconfig")
        kind.load_image(KIND_CLUSTER, build.tag)
        # The bundled chart carries placeholder versions (set by the project's release tooling):
        # the operator image is the pinned release.
        install = [require_helm().path, "upgrade", "--install", "dask-operator", operator_chart()]
        scope = ["--kubeconfig", path, "--namespace", "dask-operator", "--create-namespace"]
        wait = ["--wait", "--timeout", f"{TIMEOUT}s"]
        run([*install, *scope, "--set", f"image.tag={DASK_KUBERNETES_VERSION}", *wait], timeout=TIMEOUT + 60)
        yield path
    finally:
        if created:
            kind.delete_cluster(KIND_CLUSTER)


def job_values(build: BuildResult, package: str, folder: Path) -> Path:
    """Values that switch the DaskJob on, with input and output on the shared claim."""
    repository, tag = build.tag.rsplit(":", 1)
    script = (
        f"python -m {package}.batch --write-example /data/input/example.parquet --rows {EXAMPLE_ROWS}"
        f' && exec python -m {package}.batch "$@"'
    )
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "tests": {"enabled": False},
        "dask": {
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": PVC}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "worker": {"replicas": 2},
            "job": {
                "enabled": True,
                "input": "/data/input/example.parquet",
                "output": "/data/predictions",
                "command": ["sh", "-c", script, "batch"],
                "args": ["--overwrite", "--no-progress"],
            },
        },
    }
    path = folder / "dask-job-values.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def wait_for_job(custom: Any, name: str) -> dict[str, Any]:
    """The DaskJob once its status is final (Successful or Failed)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        job = custom.get_namespaced_custom_object(API_GROUP, "v1", NAMESPACE, "daskjobs", name)
        if (job.get("status") or {}).get("jobStatus") in ("Successful", "Failed"):
            return dict(job)
        time.sleep(5)
    pytest.fail(f"DaskJob {name} did not finish within {TIMEOUT} s: status {job.get('status')}")


def test_daskjob_runs_to_completion(
    kubeconfig: Path,
    dask_image: tuple[Path, BuildResult],
    dask_package: str,
    tmp_path: Path,
    record_figure: Callable[[str], None],
) -> None:
    project, build = dask_image
    slug = read_answers(project)["project_slug"]
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
    helm = require_helm()
    scope = ["--kubeconfig", str(kubeconfig), "--namespace", NAMESPACE]
    run([helm.path, "uninstall", slug, *scope, "--ignore-not-found", "--wait"], check=False)
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:  # 409: it exists already
            raise
    claim = {
        "metadata": {"name": PVC},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    core.create_namespaced_persistent_volume_claim(NAMESPACE, claim)
    started = time.monotonic()
    try:
        values = job_values(build, dask_package, tmp_path)
        install = [helm.path, "upgrade", "--install", slug, project / "charts" / slug, *scope]
        run([*install, "--values", values, "--wait", "--timeout", f"{TIMEOUT}s"], timeout=TIMEOUT + 60)
        name = f"{slug[:47].rstrip('-')}-batch"
        job = wait_for_job(custom, name)
        logs = core.read_namespaced_pod_log(job["status"]["jobRunnerPodName"], NAMESPACE)
        assert job["status"]["jobStatus"] == "Successful", logs
        summary = parse_summary(logs)
        assert summary["rows"] == EXAMPLE_ROWS
        assert summary["workers"] == 2
        record_figure(
            f"kind DaskJob: {summary['rows']} rows, {summary['partitions']} partitions, "
            f"{summary['workers']} workers, {time.monotonic() - started:.0f} s from install to Successful"
        )
    finally:
        run([helm.path, "uninstall", slug, *scope, "--wait"], check=False)
        core.delete_namespaced_persistent_volume_claim(PVC, NAMESPACE)
