"""The Dask operator's CRD schemas: the pinned release, made strict where the API server is."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from generator.chart.crds import (
    DASK_KUBERNETES_VERSION,
    MAX_CLUSTER_NAME_LENGTH,
    crd_schemas,
    dask_crds,
    installed_version,
    operator_chart,
)
from generator.chart.kube_schemas import KubernetesSchemas

KINDS = {"DaskAutoscaler", "DaskCluster", "DaskJob", "DaskWorkerGroup"}


def minimal_job(name: str = "scoring-batch") -> dict[str, Any]:
    """The smallest DaskJob the operator's schema accepts."""
    pod = {"containers": [{"name": "c", "image": "model:1"}]}
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": {"name": name, "namespace": "models", "labels": {"app": "x"}},
        "spec": {
            "job": {"spec": pod},
            "cluster": {"spec": {"scheduler": {"spec": pod, "service": {}}, "worker": {"spec": pod}}},
        },
    }


@pytest.fixture(scope="module")
def schemas() -> KubernetesSchemas:
    return KubernetesSchemas(crd_schemas=crd_schemas())


def test_crds_come_from_the_pinned_release() -> None:
    assert installed_version() == DASK_KUBERNETES_VERSION, (
        f"dask-kubernetes {installed_version()} installed; the CRDs are pinned to {DASK_KUBERNETES_VERSION}"
    )
    assert {crd["spec"]["names"]["kind"] for crd in dask_crds()} == KINDS
    assert (operator_chart() / "crds" / "daskjob.yaml").is_file()


def test_every_kind_has_a_v1_schema() -> None:
    assert set(crd_schemas()) == {("kubernetes.dask.org/v1", kind) for kind in KINDS}


def test_minimal_job_is_valid(schemas: KubernetesSchemas) -> None:
    assert schemas.validate(minimal_job()) == []


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            ("spec", "cluster", "spec", "worker", "replica"), 2, "'replica' was unexpected", id="typo"
        ),
        pytest.param(
            ("spec", "job", "spec", "containers", 0, "imagePullPolicy"), 1, "not of type", id="type"
        ),
        pytest.param(("metadata", "label"), {}, "'label' was unexpected", id="metadata-typo"),
        # These CRDs type probe ports as strings: a named port passes, a number does not.
        pytest.param(
            ("spec", "job", "spec", "containers", 0, "livenessProbe"),
            {"httpGet": {"path": "/health", "port": 8787}},
            "8787 is not of type 'string'",
            id="numeric-probe-port",
        ),
    ],
)
def test_strict_schema_refuses_what_the_api_server_would(
    schemas: KubernetesSchemas, path: tuple[Any, ...], value: Any, message: str
) -> None:
    job = minimal_job()
    node: Any = job
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    problems = schemas.validate(job)
    assert len(problems) == 1
    assert message in problems[0].message


def test_the_operators_own_schema_would_let_a_typo_through() -> None:
    # Why the schema is made strict: as published, an unknown field passes JSON-schema validation
    # (the API server silently drops it), so a misspelt template key would go unnoticed.
    crd = next(crd for crd in dask_crds() if crd["spec"]["names"]["kind"] == "DaskJob")
    published = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    job = minimal_job()
    job["spec"]["cluster"]["spec"]["worker"]["replica"] = 2
    assert list(jsonschema.Draft7Validator(published).iter_errors(job)) == []
    assert crd_schemas()[("kubernetes.dask.org/v1", "DaskJob")] != published


@pytest.mark.parametrize("kind", ["DaskJob", "DaskCluster"])
def test_cluster_names_over_the_operator_limit_are_refused(schemas: KubernetesSchemas, kind: str) -> None:
    # The operator names the scheduler Service "<name>-scheduler" and refuses longer names.
    manifest = copy.deepcopy(minimal_job("a" * MAX_CLUSTER_NAME_LENGTH))
    manifest["kind"] = kind
    if kind == "DaskCluster":
        manifest["spec"] = manifest["spec"]["cluster"]["spec"]
    assert schemas.validate(manifest) == []
    manifest["metadata"]["name"] += "a"
    [problem] = schemas.validate(manifest)
    assert problem.path == "metadata.name"
    assert "too long" in problem.message
