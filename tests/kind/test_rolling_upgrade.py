"""kind tier: ``helm upgrade`` to a new image tag under load from inside the cluster loses no request.

The default project is deployed (two replicas, the chart's rollout defaults: surge one pod, none
unavailable, a native preStop sleep), then upgraded to the same project released as the next
version while a pod in the cluster keeps 32 keep-alive connections busy through the Service.
Every answer must come from the old or the new version, the switch must show, and nothing may
fail. Skips with the usual one-line reason where kind cannot create a cluster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from generator.cluster import deploy, deploy_plan, kind
from generator.cluster.kube import clients, wait_rollout
from generator.containers.v2_client import image_example
from generator.image.image_ref import ImageRef
from generator.image.project_image import ImagePrerequisiteMissing, prepare_image
from generator.process import run

logger = logging.getLogger(__name__)
pytestmark = pytest.mark.kind

CONNECTIONS = 32
LOADER = "rollout-loader"
LOAD_BOUND = 600  # seconds the loader runs at most
NEXT_VERSION = "0.2.0"
QUIET = 20  # seconds of new-version-only answers after which the loader stops

# Runs in the project image inside the cluster: CONNECTIONS keep-alive clients of the Service
# until the new version alone has answered for QUIET seconds (or LOAD_BOUND), then one JSON line.
# A request that finds its kept-alive connection closed by the server before any answer is sent
# again once on a new connection, as HTTP clients do (urllib3, Go's net/http); it is counted.
LOADER_SCRIPT = """
import http.client, json, sys, threading, time
host, port, path, new, connections, bound, quiet = sys.argv[1:8]
port, connections, bound, quiet = int(port), int(connections), float(bound), float(quiet)
body = json.loads(sys.argv[8])
payload = json.dumps(body).encode()
lock = threading.Lock()
stats = {"total": 0, "failed": 0, "retried": 0, "by_version": {}, "failures": {}}
last_old = [time.monotonic()]
seen_new = [False]
stop = threading.Event()
start = time.monotonic()
def once(connection):
    connection.request("POST", path, payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    raw = response.read()
    return response.status, raw, response.will_close
def client():
    connection = http.client.HTTPConnection(host, port, timeout=10)
    while not stop.is_set():
        retried = False
        try:
            try:
                status, raw, close = once(connection)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                retried = True
                status, raw, close = once(connection)
            version = json.loads(raw)["model_version"] if status == 200 else None
            what = None if status == 200 else f"HTTP {status}"
            if close:
                connection.close()
        except Exception as exc:
            version, what = None, type(exc).__name__
            connection.close()
        with lock:
            stats["total"] += 1
            stats["retried"] += retried
            if version is None:
                stats["failed"] += 1
                stats["failures"][what] = stats["failures"].get(what, 0) + 1
            else:
                stats["by_version"][version] = stats["by_version"].get(version, 0) + 1
                if version == new:
                    seen_new[0] = True
                else:
                    last_old[0] = time.monotonic()
threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
for thread in threads:
    thread.start()
while time.monotonic() - start < bound:
    if seen_new[0] and time.monotonic() - last_old[0] > quiet:
        break
    time.sleep(0.5)
stop.set()
for thread in threads:
    thread.join(timeout=15)
print(json.dumps(stats), flush=True)
"""


def project_version(project: Path) -> str:
    """The version the project builds with no git and no IMAGE_VERSION: pyproject's fallback."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return str(pyproject["tool"]["hatch"]["version"]["raw-options"]["fallback_version"])


@pytest.fixture(scope="module")
def next_version_image(
    served_image: str, default_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The default project released as its next version, built; the service reports it as model_version.

    Built here rather than with ``build_served``: the build digest leaves the version out, so
    that would hand back the default image.
    """
    project = tmp_path_factory.mktemp("next-version") / default_project.name
    shutil.copytree(default_project, project)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    current = f'fallback_version = "{project_version(default_project)}"'
    assert current in text
    pyproject.write_text(text.replace(current, f'fallback_version = "{NEXT_VERSION}"', 1), encoding="utf-8")
    tag = f"{served_image}-next"
    try:
        prepare_image(project, tmp_path_factory.mktemp("next-build"), tag=tag)
    except ImagePrerequisiteMissing as exc:
        pytest.skip(str(exc))
    return tag


def loader_pod(image: str, host: str, port: int, path: str, new_version: str, body: Any) -> dict[str, Any]:
    """A one-shot pod in the project image running LOADER_SCRIPT, hardened like the chart's pods."""
    args = [
        host,
        str(port),
        path,
        new_version,
        str(CONNECTIONS),
        str(LOAD_BOUND),
        str(QUIET),
        json.dumps(body),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": LOADER, "labels": {"app.kubernetes.io/name": LOADER}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "load",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", LOADER_SCRIPT, *args],
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def wait_phase(core: Any, namespace: str, phases: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = str(core.read_namespaced_pod(LOADER, namespace).status.phase)
        if phase in phases:
            return phase
        time.sleep(1)
    raise AssertionError(f"{LOADER} not {phases} within {timeout:.0f} s")


def test_helm_upgrade_under_load_loses_no_request(
    default_project: Path,
    next_version_image: str,
    served_image: str,
    kind_cluster: str,
    tmp_path: Path,
) -> None:
    new_image = next_version_image
    old_version, new_version = project_version(default_project), NEXT_VERSION
    values = tmp_path / "two-replicas-values.yaml"
    values.write_text(json.dumps({"replicaCount": 2}), encoding="utf-8")
    report = deploy.deploy_to_kind(
        default_project, cluster=kind_cluster, image=served_image, values=(values,), keep=True
    )
    kubeconfig = kind.write_kubeconfig(kind_cluster, tmp_path / "kubeconfig")
    api = clients(kubeconfig)
    plan = report.plan
    try:
        assert report.ok, report.infer.detail
        kind.load_image(kind_cluster, new_image)
        (service,) = api.core.list_namespaced_service(plan.namespace, label_selector=plan.selector).items
        example = image_example(served_image)
        body = example.infer_request(example.rows[:1])
        host = f"{service.metadata.name}.{plan.namespace}.svc"
        pod = loader_pod(
            served_image,
            host,
            service.spec.ports[0].port,
            f"/v2/models/{report.model_name}/infer",
            new_version,
            body,
        )
        api.core.create_namespaced_pod(plan.namespace, pod)
        wait_phase(api.core, plan.namespace, {"Running", "Succeeded", "Failed"}, 120)
        time.sleep(5)  # load on the old version first

        upgrade = deploy_plan.plan_deploy(
            default_project,
            ImageRef.parse(new_image),
            cluster=kind_cluster,
            values=(values,),
            helm=plan.helm,
            namespace=plan.namespace,
        )
        run(upgrade.install_command(kubeconfig), timeout=upgrade.timeout + 60)
        wait_rollout(api, plan.namespace, plan.selector, timeout=upgrade.timeout)

        phase = wait_phase(api.core, plan.namespace, {"Succeeded", "Failed"}, LOAD_BOUND + 60)
        log = api.core.read_namespaced_pod_log(LOADER, plan.namespace)
        assert phase == "Succeeded", log
        stats = json.loads(log.strip().splitlines()[-1])
        logger.info("helm upgrade under load: %s", json.dumps(stats))

        assert stats["failed"] == 0, stats
        assert set(stats["by_version"]) == {old_version, new_version}, stats
        assert stats["total"] > 10 * CONNECTIONS, stats
    finally:
        with contextlib.suppress(ApiException):  # not created when an earlier step failed
            api.core.delete_namespaced_pod(LOADER, plan.namespace, grace_period_seconds=0)
        deploy.teardown(report)
