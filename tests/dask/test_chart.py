"""Tier 2 for Dask: the chart's DaskJob, DaskCluster and DaskAutoscaler, for every Dask variant.

Manifests are validated against the operator's CRDs (:mod:`generator.chart.crds`) and the Kubernetes
schemas; every Dask pod must run the project image the way the server runs it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chart_groups import chart_key

from generator.chart.bad_values import schema_error_lines
from generator.chart.crds import MAX_CLUSTER_NAME_LENGTH, crd_schemas, installed_crd_schemas
from generator.chart.helm import Chart, Helm, find_helms
from generator.chart.kube_schemas import KubernetesSchemas
from generator.chart.manifests import SCHEMAS, ManifestChecker
from generator.project.render import read_answers
from generator.project.variants import Variant, variants

DASK_VARIANTS = [variant for variant in variants("full") if variant.as_dict()["with_dask"]]
DASK_KINDS = {"DaskJob", "DaskCluster", "DaskAutoscaler"}
Manifests = list[dict[str, Any]]


@functools.cache
def _helms() -> tuple[Helm, ...]:
    return tuple(find_helms())


@pytest.fixture(scope="session")
def checker() -> ManifestChecker:
    """A checker with the Dask CRDs loaded explicitly (a missing wheel fails here, with the fix)."""
    if not _helms():
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    # Every CRD the chart can use (KServe, HTTPRoute, PrometheusRule), and Dask's from its wheel.
    schemas = KubernetesSchemas(crd_schemas={**installed_crd_schemas(), **crd_schemas()})
    return ManifestChecker(helms=_helms(), schemas=schemas)


@pytest.fixture(scope="session")
def dask_chart(dask_project: Path) -> Chart:
    return Chart.find(dask_project)


@pytest.fixture(scope="session")
def rendered(
    checker: ManifestChecker, dask_chart: Chart, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Manifests]:
    """``rendered(values_set="dask", **overrides)``: the Dask project's manifests, cached."""
    scratch = tmp_path_factory.mktemp("dask-values")

    @functools.cache
    def _render(values_set: str, overrides: str) -> Manifests:
        files = list(dask_chart.values_files(values_set))
        if overrides != "{}":
            # JSON is YAML: the overrides go on top of the values set, as a second --values file.
            extra = scratch / f"overrides-{len(list(scratch.iterdir()))}.yaml"
            extra.write_text(overrides, encoding="utf-8")
            files.append(extra)
        helm = checker.require_helm()
        return helm.render(dask_chart.name, dask_chart.path, namespace=checker.namespace, values=files)

    def render(values_set: str = "dask", **overrides: Any) -> Manifests:
        return _render(values_set, json.dumps(overrides, sort_keys=True))

    return render


def of_kind(manifests: Manifests, kind: str) -> dict[str, Any]:
    [found] = [doc for doc in manifests if doc["kind"] == kind]
    return found


def dask_pods(manifests: Manifests) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec inside the Dask resources, named ``Kind/role``."""
    job = of_kind(manifests, "DaskJob")["spec"]
    cluster = of_kind(manifests, "DaskCluster")["spec"]
    yield "DaskJob/job", job["job"]["spec"]
    for kind, spec in (("DaskJob", job["cluster"]["spec"]), ("DaskCluster", cluster)):
        yield f"{kind}/scheduler", spec["scheduler"]["spec"]
        yield f"{kind}/worker", spec["worker"]["spec"]


# ---------------------------------------------------------------------------------------------
# Every Dask variant
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dask_variant_checks(
    checker: ManifestChecker, matrix_render: Any, matrix_projects: Mapping[str, Path]
) -> dict[str, tuple[list[Any], set[str]]]:
    """Schema validation of every values set, and the kinds the ``dask`` set renders, once per
    distinct chart among the Dask variants (parsing the manifests per variant took 0.1 s each)."""
    # Charts that differ only in the framework's model format or the registry's repositories
    # (support/chart_groups.py; chart/test_variants.py proves it) render the same Dask objects
    # but for image names, which the schemas take as any string.
    groups: dict[str, list[str]] = {}
    masked: dict[str, str] = {}
    for variant in DASK_VARIANTS:
        key = chart_key(matrix_render.trees[variant.id], matrix_render.store, masked)
        groups.setdefault(key, []).append(variant.id)
    results = {}
    for ids in groups.values():
        rows, rendered_sets = checker.validate(Chart.find(matrix_projects[ids[0]]))
        kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered_sets["dask"]) if doc}
        results.update(dict.fromkeys(ids, (rows, kinds)))
    return results


@pytest.mark.parametrize("dask_variant", DASK_VARIANTS, ids=[variant.id for variant in DASK_VARIANTS])
def test_variant_dask_manifests_are_valid_against_the_crds(
    dask_variant_checks: dict[str, tuple[list[Any], set[str]]], dask_variant: Variant
) -> None:
    rows, kinds = dask_variant_checks[dask_variant.id]
    assert [f"{row.name}: {row.detail}" for row in rows if row.failed] == []
    assert {row.check for row in rows} == {SCHEMAS}
    assert kinds >= DASK_KINDS


# ---------------------------------------------------------------------------------------------
# What the Dask resources say
# ---------------------------------------------------------------------------------------------


def test_dask_resources_only_when_switched_on(rendered: Callable[..., Manifests]) -> None:
    assert not {doc["kind"] for doc in rendered("default")} & DASK_KINDS
    assert {doc["kind"] for doc in rendered("dask")} >= DASK_KINDS
    only_job = rendered("default", dask={"job": {"enabled": True}})
    assert {doc["kind"] for doc in only_job} & DASK_KINDS == {"DaskJob"}


def test_every_dask_pod_runs_the_image_like_the_server(rendered: Callable[..., Manifests]) -> None:
    manifests = rendered("dask")
    server = of_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    [server_container] = server["containers"]
    pods = dict(dask_pods(manifests))
    assert len(pods) == 5
    for name, pod in pods.items():
        [container] = pod["containers"]
        assert container["image"] == server_container["image"], name
        assert container["securityContext"] == server_container["securityContext"], name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
        assert pod["securityContext"] == server["securityContext"], name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["DASK_TEMPORARY_DIRECTORY"] == "/tmp", name


def test_job_runner_scores_the_values_input_into_the_output(
    rendered: Callable[..., Manifests], dask_project: Path
) -> None:
    package = read_answers(dask_project)["package_name"]
    job = of_kind(rendered("dask"), "DaskJob")["spec"]["job"]["spec"]
    [runner] = job["containers"]
    assert runner["command"] == ["python", "-m", f"{package}.batch"]
    assert runner["args"] == [
        "--input",
        "/data/input/*.parquet",
        "--output",
        "/data/predictions",
        "--overwrite",
        "--output-format",
        "csv",
        "--blocksize",
        "32MB",
    ]
    # A finished runner must stay finished: the operator reads the pod's phase.
    assert job["restartPolicy"] == "Never"
    assert {"mountPath": "/data", "name": "data"} in runner["volumeMounts"]


def test_workers_follow_the_values(rendered: Callable[..., Manifests]) -> None:
    worker = of_kind(rendered("dask"), "DaskJob")["spec"]["cluster"]["spec"]["worker"]
    assert worker["replicas"] == 4
    [container] = worker["spec"]["containers"]
    assert container["command"] == ["dask", "worker"]
    assert container["args"][container["args"].index("--nthreads") + 1] == "2"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert {"mountPath": "/data", "name": "data"} in container["volumeMounts"]


def test_numeric_quantities_reach_the_crd_as_strings(
    rendered: Callable[..., Manifests], checker: ManifestChecker
) -> None:
    # The Dask CRDs type quantities as strings; `cpu: 2` must not be sent as a number.
    manifests = rendered(
        "default", dask={"job": {"enabled": True}, "worker": {"resources": {"limits": {"cpu": 2}}}}
    )
    job = of_kind(manifests, "DaskJob")
    [container] = job["spec"]["cluster"]["spec"]["worker"]["spec"]["containers"]
    assert container["resources"]["limits"]["cpu"] == "2"
    assert checker.schemas.validate(job) == []


def test_autoscaler_scales_the_cluster_between_the_values(rendered: Callable[..., Manifests]) -> None:
    manifests = rendered("dask")
    autoscaler = of_kind(manifests, "DaskAutoscaler")
    cluster = of_kind(manifests, "DaskCluster")
    assert autoscaler["spec"] == {"cluster": cluster["metadata"]["name"], "minimum": 1, "maximum": 10}
    assert cluster["spec"]["worker"]["replicas"] == 1  # starts at the minimum
    assert cluster["spec"]["idleTimeout"] == 3600


def test_scheduler_service_selects_the_operators_scheduler_pod(rendered: Callable[..., Manifests]) -> None:
    for kind in ("DaskJob", "DaskCluster"):
        resource = of_kind(rendered("dask"), kind)
        spec = resource["spec"]["cluster"]["spec"] if kind == "DaskJob" else resource["spec"]
        selector = spec["scheduler"]["service"]["selector"]
        assert selector == {
            "dask.org/cluster-name": resource["metadata"]["name"],
            "dask.org/component": "scheduler",
        }
        ports = {port["name"] for port in spec["scheduler"]["spec"]["containers"][0]["ports"]}
        assert {port["targetPort"] for port in spec["scheduler"]["service"]["ports"]} <= ports


def test_names_fit_the_operators_limit_for_the_longest_fullname(
    rendered: Callable[..., Manifests], checker: ManifestChecker
) -> None:
    manifests = rendered("dask", fullnameOverride="x" * 63)
    for kind in ("DaskJob", "DaskCluster"):
        resource = of_kind(manifests, kind)
        assert len(resource["metadata"]["name"]) <= MAX_CLUSTER_NAME_LENGTH
        assert checker.schemas.validate(resource) == []


def test_autoscaler_minimum_above_maximum_fails_with_a_message(
    checker: ManifestChecker, dask_chart: Chart, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    scaler = {"enabled": True, "minimum": 6, "maximum": 5}
    values.write_text(
        json.dumps({"dask": {"cluster": {"enabled": True, "autoscaler": scaler}}}), encoding="utf-8"
    )
    code, _, stderr = checker.require_helm().template(
        dask_chart.name, dask_chart.path, namespace=checker.namespace, values=[values], check=False
    )
    assert code != 0
    assert "minimum (6) must not exceed dask.cluster.autoscaler.maximum (5)" in stderr


@pytest.mark.parametrize(
    ("values", "key"),
    [
        pytest.param({"worker": {"replicas": 0}}, "replicas", id="no-workers"),
        pytest.param({"job": {"enabled": "yes"}}, "enabled", id="enabled-type"),
        pytest.param({"job": {"inputs": "/data"}}, "inputs", id="unknown-key"),
        pytest.param({"job": {"command": []}}, "command", id="empty-command"),
        pytest.param({"tmp": {"sizeLimit": "lots"}}, "sizeLimit", id="quantity"),
        pytest.param({"cluster": {"autoscaler": {"maximum": 0}}}, "maximum", id="autoscaler-maximum"),
    ],
)
def test_schema_refuses_bad_dask_values(
    checker: ManifestChecker, dask_chart: Chart, tmp_path: Path, values: dict[str, Any], key: str
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps({"dask": values}), encoding="utf-8")
    for helm in checker.helms:
        code, _, stderr = helm.template(
            dask_chart.name, dask_chart.path, namespace=checker.namespace, values=[path], check=False
        )
        assert code != 0, helm.label
        errors = schema_error_lines(stderr)
        assert len(errors) == 1, errors
        assert key in errors[0]


def test_every_dask_value_is_documented(dask_chart: Chart) -> None:
    text = (dask_chart.path / "values.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*## @param (dask\.\S+)", text, flags=re.MULTILINE))

    def leaves(node: Any, prefix: str) -> set[str]:
        if not isinstance(node, dict) or prefix in documented:
            return {prefix}
        return set().union(*(leaves(child, f"{prefix}.{key}") for key, child in node.items()))

    assert leaves(yaml.safe_load(text)["dask"], "dask") <= documented


def test_schema_closes_every_dask_object(dask_chart: Chart) -> None:
    schema = json.loads((dask_chart.path / "values.schema.json").read_text(encoding="utf-8"))

    def open_objects(node: dict[str, Any], path: str) -> list[str]:
        found = [path] if "properties" in node and node.get("additionalProperties") is not False else []
        for key, child in node.get("properties", {}).items():
            found += open_objects(child, f"{path}.{key}")
        return found

    assert open_objects(schema["properties"]["dask"], "dask") == []


# ---------------------------------------------------------------------------------------------
# Who reaches a Dask cluster (NetworkPolicy semantics, evaluated on the rendered policies)
# ---------------------------------------------------------------------------------------------

NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    # matchLabels only: the chart writes no matchExpressions.
    assert set(selector or {}) <= {"matchLabels"}, selector
    return (selector or {}).get("matchLabels", {}).items() <= labels.items()


def _peer_admits(peer: Mapping[str, Any], namespace: str, client: Mapping[str, Any]) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], {NAMESPACE_LABEL: client["namespace"]})
    else:
        in_namespace = client["namespace"] == namespace
    return in_namespace and _matches(peer.get("podSelector"), client["labels"])


def admitted(policies: Manifests, target: Mapping[str, str], client: Mapping[str, Any], port: int) -> bool:
    """Whether the policies let ``client`` (labels, namespace) reach a pod labelled ``target`` on
    ``port``, as Kubernetes decides it: a pod no policy selects admits everything, else one rule
    of one selecting policy must admit the client and the port."""
    selecting = [doc for doc in policies if _matches(doc["spec"]["podSelector"], target)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = {item["port"] for item in rule.get("ports", [])}
            peers = rule.get("from")
            if (not ports or port in ports) and (
                not peers
                or any(_peer_admits(peer, policy["metadata"]["namespace"], client) for peer in peers)
            ):
                return True
    return False


def test_only_a_clusters_own_pods_and_the_operator_reach_its_scheduler(
    rendered: Callable[..., Manifests], checker: ManifestChecker
) -> None:
    manifests = rendered("dask")
    policies = [doc for doc in manifests if doc["kind"] == "NetworkPolicy"]
    namespace = checker.namespace
    job, cluster = (
        of_kind(manifests, "DaskJob")["metadata"]["name"],
        of_kind(manifests, "DaskCluster")["metadata"]["name"],
    )
    server = of_kind(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    def pod(cluster_name: str, component: str, where: str = namespace) -> dict[str, Any]:
        # The labels the Dask operator puts on the pods it creates.
        labels = {"dask.org/cluster-name": cluster_name, "dask.org/component": component}
        return {"labels": labels, "namespace": where}

    operator = {
        "labels": {"app.kubernetes.io/name": "dask-kubernetes-operator"},
        "namespace": "dask-operator",
    }
    notebook = {"labels": {"app.kubernetes.io/name": "batch-notebook"}, "namespace": namespace}
    for name, other in ((job, cluster), (cluster, job)):
        scheduler = pod(name, "scheduler")["labels"]
        worker = pod(name, "worker")["labels"]
        for port in (8786, 8787):
            assert admitted(policies, scheduler, pod(name, "worker"), port)
            assert admitted(policies, scheduler, pod(name, "job-runner"), port)
            assert admitted(policies, scheduler, operator, port)
            assert admitted(policies, scheduler, notebook, port)  # the values set's ingressFrom
            assert not admitted(policies, scheduler, pod(other, "worker"), port)
            assert not admitted(policies, scheduler, {"labels": server, "namespace": namespace}, port)
            assert not admitted(policies, scheduler, pod(name, "worker", where="elsewhere"), port)
            assert not admitted(policies, scheduler, {"labels": {}, "namespace": "dask-operator-x"}, port)
        # Workers listen on ports chosen at start: their own cluster reaches any, the operator none.
        assert admitted(policies, worker, pod(name, "scheduler"), 40123)
        assert admitted(policies, worker, pod(name, "worker"), 40123)
        assert not admitted(policies, worker, operator, 40123)
        assert not admitted(policies, worker, pod(other, "scheduler"), 40123)
    for policy in policies:
        assert checker.schemas.validate(policy) == []


def test_dask_network_policies_follow_network_policy_enabled(rendered: Callable[..., Manifests]) -> None:
    def dask_policies(manifests: Manifests) -> list[str]:
        return [
            doc["metadata"]["name"]
            for doc in manifests
            if doc["kind"] == "NetworkPolicy"
            and "dask.org/cluster-name" in doc["spec"]["podSelector"]["matchLabels"]
        ]

    assert dask_policies(rendered("default")) == []
    assert len(dask_policies(rendered("dask"))) == 2
    assert dask_policies(rendered("dask", networkPolicy={"enabled": False})) == []


def test_dashboard_is_on_the_job_schedulers_service_only_when_asked(
    rendered: Callable[..., Manifests],
) -> None:
    def service_ports(manifests: Manifests, kind: str) -> set[str]:
        spec = of_kind(manifests, kind)["spec"]
        spec = spec["cluster"]["spec"] if kind == "DaskJob" else spec
        return {port["name"] for port in spec["scheduler"]["service"]["ports"]}

    assert service_ports(rendered("dask"), "DaskJob") == {"tcp-comm"}
    asked = rendered("dask", dask={"dashboard": {"service": True}})
    assert service_ports(asked, "DaskJob") == {"tcp-comm", "http-dashboard"}
    # The operator looks the scheduler's HTTP API up by this port's name on a DaskCluster's Service.
    assert service_ports(rendered("dask"), "DaskCluster") == {"tcp-comm", "http-dashboard"}
