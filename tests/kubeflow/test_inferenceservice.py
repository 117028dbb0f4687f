"""The chart's optional KServe InferenceService: off by default, valid against KServe's CRD when on.

Validation is offline and as `dsdeploy check` does it, against the trimmed copy of the
InferenceService CRD in generator/chart/schemas/ (its header names the source and version), with
unknown fields refused.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.chart.helm import Chart, Helm, find_helms
from generator.errors import GeneratorError

NAMESPACE = "models"
STORAGE_URI = "pvc://model-store/my-model"


@functools.cache
def _helm() -> Helm | None:
    helms = find_helms()
    return helms[0] if helms else None


@pytest.fixture(scope="module")
def helm() -> Helm:
    found = _helm()
    if found is None:
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    return found


@pytest.fixture(scope="module")
def chart(default_project: Path) -> Chart:
    return Chart.find(default_project)


@pytest.fixture(scope="module")
def render_chart(helm: Helm, chart: Chart, tmp_path_factory: pytest.TempPathFactory):
    """``render_chart(values, *files)``: the chart's manifests with extra values (cached)."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def _render(values: dict[str, Any], *files: Path) -> list[dict[str, Any]]:
        key = yaml.safe_dump(values) + "|".join(map(str, files))
        if key not in cache:
            path = tmp_path_factory.mktemp("values") / "values.yaml"
            path.write_text(yaml.safe_dump(values), encoding="utf-8")
            cache[key] = helm.render(chart.name, chart.path, namespace=NAMESPACE, values=[*files, path])
        return copy.deepcopy(cache[key])

    return _render


def _only(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in manifests if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in container.get("env", [])}


@pytest.fixture(scope="module")
def isvc(render_chart) -> dict[str, Any]:
    return _only(render_chart({"kserve": {"enabled": True}}), "InferenceService")


@pytest.fixture(scope="module")
def predictor(isvc) -> dict[str, Any]:
    return isvc["spec"]["predictor"]


@pytest.fixture(scope="module")
def deployment(render_chart) -> dict[str, Any]:
    return _only(render_chart({"kserve": {"enabled": True}}), "Deployment")


def test_off_by_default(render_chart):
    assert not [doc for doc in render_chart({}) if doc["kind"] == "InferenceService"]


def test_enabled_renders_a_valid_inferenceservice(isvc, isvc_validator):
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert isvc["metadata"]["namespace"] == NAMESPACE
    assert isvc_validator.problems(isvc) == []


def test_every_option_at_once_stays_valid(render_chart, chart, isvc_validator):
    # ci/full-values.yaml switches on every chart option (pull secrets, env with valueFrom,
    # envFrom, a GPU, a pinned digest, ...); KServe on top with its own options.
    kserve = {
        "enabled": True,
        "storageUri": STORAGE_URI,
        "minReplicas": 0,
        "maxReplicas": 3,
        "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
    }
    isvc = _only(render_chart({"kserve": kserve}, chart.values_sets["full"]), "InferenceService")
    assert isvc_validator.problems(isvc) == []
    assert isvc["metadata"]["annotations"] == kserve["annotations"]
    assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["maxReplicas"]) == (0, 3)


def test_custom_predictor_runs_the_project_image_with_the_v2_protocol(predictor, deployment):
    [container] = predictor["containers"]
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == server["image"]
    assert _env(container)["PROTOCOL"] == "v2"
    assert _env(container)["MODEL_NAME"] == _env(server)["MODEL_NAME"]
    # Knative (KServe's serverless mode) accepts one port, named http1 or h2c.
    assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]


def test_security_context_is_the_deployments(predictor, deployment):
    pod = deployment["spec"]["template"]["spec"]
    [container] = predictor["containers"]
    assert predictor["securityContext"] == pod["securityContext"]
    assert container["securityContext"] == pod["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert predictor["automountServiceAccountToken"] is False
    assert predictor["serviceAccountName"] == pod["serviceAccountName"]


def test_tmp_is_the_only_writable_mount(predictor):
    [container] = predictor["containers"]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    [volume] = predictor["volumes"]
    assert volume["name"] == "tmp"
    assert "emptyDir" in volume


def test_probes_use_the_v2_health_routes_on_the_served_port(predictor):
    [container] = predictor["containers"]
    port = container["ports"][0]["containerPort"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": port}


def test_start_up_budget_is_the_deployments(render_chart, predictor, deployment):
    # Liveness alone (3 x 10 s) would restart a predictor still loading its model; the start-up
    # probe holds it off for the Deployment's budget, which covers uvicorn's 60 s worker check.
    [container] = predictor["containers"]
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    assert container["startupProbe"]["httpGet"] == {"path": "/v2/health/live", "port": port}
    budget = {key: value for key, value in server["startupProbe"].items() if key != "httpGet"}
    assert {key: value for key, value in container["startupProbe"].items() if key != "httpGet"} == budget
    assert budget["periodSeconds"] * budget["failureThreshold"] >= 60
    # For Knative Serving before 1.15, which refuses it.
    older = _only(render_chart({"kserve": {"enabled": True, "startupProbe": False}}), "InferenceService")
    assert "startupProbe" not in older["spec"]["predictor"]["containers"][0]


def test_storage_uri_serves_the_fetched_model(render_chart, predictor):
    isvc = _only(render_chart({"kserve": {"enabled": True, "storageUri": STORAGE_URI}}), "InferenceService")
    env = _env(isvc["spec"]["predictor"]["containers"][0])
    # KServe fetches STORAGE_URI into /mnt/models; the server loads the model in MODEL_DIR.
    assert (env["STORAGE_URI"], env["MODEL_DIR"]) == (STORAGE_URI, "/mnt/models")
    # Without it the image's own model (its MODEL_PATH) is served.
    assert not {"STORAGE_URI", "MODEL_DIR", "MODEL_PATH"} & set(_env(predictor["containers"][0]))


def test_validator_refuses_a_misspelt_field_and_a_duplicate_env(isvc, isvc_validator):
    typo = copy.deepcopy(isvc)
    typo["spec"]["predictor"]["containers"][0]["livenesProbe"] = {}
    assert any("livenesProbe" in problem for problem in isvc_validator.problems(typo))
    duplicate = copy.deepcopy(isvc)
    duplicate["spec"]["predictor"]["containers"][0]["env"].append({"name": "PROTOCOL", "value": "v1"})
    assert any("duplicate" in problem for problem in isvc_validator.problems(duplicate))
    wrong_type = copy.deepcopy(isvc)
    wrong_type["spec"]["predictor"]["minReplicas"] = "one"
    assert isvc_validator.problems(wrong_type)


@pytest.mark.parametrize(
    "kserve",
    [
        {"enabled": True, "storageUri": "model-store/my-model"},
        {"enabled": True, "maxReplicas": 0},
        {"enabled": True, "replicas": 2},
    ],
    ids=["uri-without-scheme", "no-replicas", "unknown-key"],
)
def test_values_schema_refuses_bad_kserve_values(render_chart, kserve):
    with pytest.raises(GeneratorError, match="kserve"):
        render_chart({"kserve": kserve})
