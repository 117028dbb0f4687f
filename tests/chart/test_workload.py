"""The rendered workload honours the chart contract: security defaults, probes, image, names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from generator.chart.helm import Chart

Manifests = list[dict[str, Any]]
UID = 10001


@pytest.fixture(scope="module")
def deployment(rendered: Callable[[str], Manifests], only: Any) -> dict[str, Any]:
    return only(rendered("default"), "Deployment")


@pytest.fixture(scope="module")
def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def server(pod_spec: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec["containers"]
    return container


def test_pod_security_context_defaults(pod_spec: dict[str, Any]) -> None:
    assert pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["terminationGracePeriodSeconds"] > 0


def test_container_security_context_defaults(server: dict[str, Any]) -> None:
    context = server["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"]) == (UID, UID)
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tmp_is_the_only_writable_mount(pod_spec: dict[str, Any], server: dict[str, Any]) -> None:
    assert server["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    [volume] = pod_spec["volumes"]
    assert volume["name"] == "tmp"
    assert "sizeLimit" in volume["emptyDir"]


def test_probes_use_the_v2_health_routes_on_the_named_port(server: dict[str, Any]) -> None:
    assert server["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},  # the image's GRPC_PORT
    ]
    expected = {
        "startupProbe": "/v2/health/live",
        "livenessProbe": "/v2/health/live",
        "readinessProbe": "/v2/health/ready",
    }
    for probe, path in expected.items():
        assert server[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    # Start-up has a budget of its own, longer than liveness would allow.
    startup = server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"]
    assert startup > server["livenessProbe"]["periodSeconds"] * server["livenessProbe"]["failureThreshold"]


def test_image_defaults_to_the_published_repository_and_app_version(
    server: dict[str, Any], default_chart: Chart
) -> None:
    meta = yaml.safe_load((default_chart.path / "Chart.yaml").read_text(encoding="utf-8"))
    values = yaml.safe_load((default_chart.path / "values.yaml").read_text(encoding="utf-8"))
    # The registry answer names the image CI pushes; the chart pulls that same name by default.
    assert values["image"]["repository"].endswith(f"/{default_chart.name}")
    assert server["image"] == f"{values['image']['repository']}:{meta['appVersion']}"
    assert server["imagePullPolicy"] == "IfNotPresent"
    # The image's CMD starts the server: the chart must not override it.
    assert "command" not in server
    assert "args" not in server


def test_model_name_defaults_to_the_slug(server: dict[str, Any], default_chart: Chart) -> None:
    assert {"name": "MODEL_NAME", "value": default_chart.name} in server["env"]


def test_resources_have_requests_and_limits(server: dict[str, Any]) -> None:
    assert set(server["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(server["resources"]["requests"]) & set(server["resources"]["limits"])


def test_full_values_add_gpu_env_digest_and_scheduling(
    rendered: Callable[[str], Manifests], only: Any
) -> None:
    spec = only(rendered("full"), "Deployment")["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["memory"] == "256Mi"  # GPU merged in, nothing lost
    names = [env["name"] for env in container["env"]]
    # The chart's own variables first, then the user's (env), which may override them.
    batching = ["BATCH_MAX_SIZE", "BATCH_MAX_WAIT_MS", "QUEUE_MAX_SIZE"]
    limits = ["REQUEST_TIMEOUT", "MAX_CONNECTIONS"]
    serving = [*batching, *limits, "DRIFT_FEATURES", "PAYLOAD_LOG_RATE", "WORKERS", "SHUTDOWN_TIMEOUT"]
    assert names == ["MODEL_NAME", *serving, "MODEL_PAGE", "PUBLIC_EXAMPLE", "LOG_LEVEL", "POD_NAME"]
    assert container["env"][0]["value"] == "iris"
    assert container["image"].startswith("registry.example.com/team/model@sha256:")
    assert "replicas" not in spec  # the HPA owns the replica count
    assert pod["tolerations"]
    assert pod["nodeSelector"]
    assert pod["affinity"]
    zone, host = pod["topologySpreadConstraints"]
    # An entry without a labelSelector gets the server pods' labels; a given one is kept.
    assert zone["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert host["labelSelector"] == {"matchLabels": {"app.kubernetes.io/component": "server"}}


def test_service_selects_the_server_pods_only(rendered: Callable[[str], Manifests], only: Any) -> None:
    manifests = rendered("default")
    selector = only(manifests, "Service")["spec"]["selector"]
    pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    hook_labels = only(manifests, "Pod", hook=True)["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert not selector.items() <= hook_labels.items(), "the Service would route to the test pod"
    http, grpc = only(manifests, "Service")["spec"]["ports"]
    assert (http["name"], http["targetPort"]) == ("http", "http")
    assert grpc == {
        "name": "grpc",
        "port": 8081,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "grpc",
    }


def test_closed_network_policy_admits_the_test_pod(rendered: Callable[[str], Manifests], only: Any) -> None:
    manifests = rendered("full")
    policy = only(manifests, "NetworkPolicy")["spec"]
    server_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    hook_labels = only(manifests, "Pod", hook=True)["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= server_labels.items()
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]
    admitted = [peer["podSelector"]["matchLabels"] for peer in rule["from"] if "podSelector" in peer]
    assert any(labels.items() <= hook_labels.items() for labels in admitted)


def test_test_hook_runs_the_project_image_like_the_server(
    rendered: Callable[[str], Manifests], only: Any
) -> None:
    for values_set in ("default", "full"):
        manifests = rendered(values_set)
        pod_spec = only(manifests, "Deployment")["spec"]["template"]["spec"]
        hook = only(manifests, "Pod", hook=True)
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
        [client] = hook["spec"]["containers"]
        assert client["image"] == pod_spec["containers"][0]["image"]
        assert client["securityContext"] == pod_spec["containers"][0]["securityContext"]
        assert hook["spec"]["securityContext"] == pod_spec["securityContext"]
        assert hook["spec"]["restartPolicy"] == "Never"
        # The project's own smoke module, with the Service's URL and the served model's name.
        assert client["command"][:2] == ["python", "-m"]
        assert client["command"][2].endswith(".serving.smoke")
        assert client["args"][:3] == ["$(SERVICE_URL)", "--model", "$(MODEL_NAME)"]


def test_every_checkov_skip_is_justified(rendered: Callable[[str], Manifests]) -> None:
    skips = {
        key: value
        for values_set in ("default", "full", "minimal")
        for doc in rendered(values_set)
        for key, value in (doc["metadata"].get("annotations") or {}).items()
        if key.startswith("checkov.io/skip")
    }
    assert skips
    for value in skips.values():
        check, _, reason = value.partition("=")
        assert check.startswith(("CKV_K8S_", "CKV2_K8S_")), value
        assert len(reason.split()) >= 5, value


def test_kind_cluster_config(default_project: Any, default_chart: Chart) -> None:
    config = yaml.safe_load(
        (default_project / "deploy" / "kind" / "cluster.yaml").read_text(encoding="utf-8")
    )
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == default_chart.name
    assert [node["role"] for node in config["nodes"]] == ["control-plane"]


def test_longest_slug_keeps_every_name_and_label_within_kubernetes_limits(render: Any, checker: Any) -> None:
    # 53 characters is the longest slug copier accepts; JSON schemas do not check name lengths.
    # Only some names must be DNS labels (Services), but the chart keeps all within 63, as
    # `helm create` does, so a name never fails on one kind and not another.
    slug = "m" + "x" * 51 + "1"
    chart = Chart.find(render({"project_name": "Long", "project_slug": slug, "package_name": "long_model"}))
    assert chart.name == slug
    for values_set in chart.values_sets:
        for doc in checker.render(chart, values_set):
            metadata = doc["metadata"]
            assert len(metadata["name"]) <= 63, metadata["name"]
            labels = {**metadata.get("labels", {}), **_pod_labels(doc)}
            for key, value in labels.items():
                assert len(key.rsplit("/", 1)[-1]) <= 63, key
                assert len(str(value)) <= 63, (key, value)


def _pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    template = doc.get("spec", {}).get("template", {})
    return template.get("metadata", {}).get("labels", {}) if isinstance(template, dict) else {}
