"""The chart's optional KServe InferenceService: off by default, valid against KServe's CRD when on.

Validation is offline and as `dsdeploy check` does it, against the trimmed copy of the
InferenceService CRD in generator/chart/schemas/ (its header names the source and version), with
unknown fields refused.
"""

from __future__ import annotations

import copy
import functools
import re
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


# --- Runtime mode: a ServingRuntime for the project image, and an InferenceService that names it --

MODEL_IMAGE_URI = "oci://registry.example.com/models/my-model:1.0.0"
RUNTIME = {"enabled": True, "mode": "runtime", "storageUri": MODEL_IMAGE_URI}
STANDARD = {"serving.kserve.io/deploymentMode": "Standard"}
# KServe's own names for the frameworks (config/runtimes/), with the major version each project locks.
KSERVE_FORMATS = {"sklearn": ("sklearn", "1"), "xgboost": ("xgboost", "3"), "lightgbm": ("lightgbm", "4")}


@pytest.fixture(scope="module")
def runtime_manifests(render_chart) -> list[dict[str, Any]]:
    return render_chart({"kserve": RUNTIME})


@pytest.fixture(scope="module")
def serving_runtime(runtime_manifests) -> dict[str, Any]:
    return _only(runtime_manifests, "ServingRuntime")


def test_runtime_mode_renders_a_valid_runtime_and_an_inferenceservice_that_names_it(
    runtime_manifests, serving_runtime, isvc_validator
):
    isvc = _only(runtime_manifests, "InferenceService")
    assert isvc_validator.problems(serving_runtime) == []
    assert isvc_validator.problems(isvc) == []
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == serving_runtime["metadata"]["name"]
    assert model["storageUri"] == MODEL_IMAGE_URI
    # KServe refuses a runtime that does not declare the InferenceService's format and version.
    [declared] = serving_runtime["spec"]["supportedModelFormats"]
    assert {key: declared[key] for key in ("name", "version")} == model["modelFormat"]
    assert serving_runtime["spec"]["protocolVersions"] == ["v2", "grpc-v2"]
    # The runtime's container is the pod's: none of the custom predictor's own.
    assert "containers" not in isvc["spec"]["predictor"]


def test_runtime_serves_the_project_image_hardened_as_the_deployment(serving_runtime, deployment):
    [container] = serving_runtime["spec"]["containers"]
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == server["image"]
    assert container["securityContext"] == server["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert [volume["name"] for volume in serving_runtime["spec"]["volumes"]] == ["tmp"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http1": 8080, "grpc": 8081}
    for kind, path in (("startup", "live"), ("liveness", "live"), ("readiness", "ready")):
        assert container[f"{kind}Probe"]["httpGet"] == {"path": f"/v2/health/{path}", "port": 8080}


def test_runtime_leaves_the_model_name_to_kserve(serving_runtime):
    # KServe fills {{.Name}} (the InferenceService's name) into the container with Go templates
    # after Helm is done; Helm must write the braces through, not evaluate them.
    env = _env(serving_runtime["spec"]["containers"][0])
    assert env["MODEL_NAME"] == "{{.Name}}"
    assert env["MODEL_DIR"] == "/mnt/models"


def test_cluster_runtime_and_an_installed_runtime(render_chart, isvc_validator):
    runtime = {**RUNTIME, "runtime": {"kind": "ClusterServingRuntime", "name": "shared-model"}}
    manifests = render_chart({"kserve": runtime})
    cluster = _only(manifests, "ClusterServingRuntime")
    assert "namespace" not in cluster["metadata"]  # cluster-scoped
    assert cluster["metadata"]["name"] == "shared-model"
    assert isvc_validator.problems(cluster) == []
    # create=false: an administrator installed it once; the InferenceService still names it.
    installed = render_chart({"kserve": {**runtime, "runtime": {**runtime["runtime"], "create": False}}})
    assert not [doc for doc in installed if doc["kind"].endswith("ServingRuntime")]
    assert _only(installed, "InferenceService")["spec"]["predictor"]["model"]["runtime"] == "shared-model"


def test_auto_select_carries_a_priority(serving_runtime, render_chart):
    # Off by default: the runtime serves this project's model files only, not any sklearn model.
    [declared] = serving_runtime["spec"]["supportedModelFormats"]
    assert declared["autoSelect"] is False
    assert "priority" not in declared
    chosen = _only(render_chart({"kserve": {**RUNTIME, "runtime": {"autoSelect": True}}}), "ServingRuntime")
    [declared] = chosen["spec"]["supportedModelFormats"]
    # KServe refuses two auto-selected runtimes of one format and protocol with the same priority:
    # its own (kserve-sklearnserver, kserve-mlserver) take 1 and 2.
    assert declared["autoSelect"] is True
    assert declared["priority"] > 2


def test_runtime_takes_the_model_image_without_a_storage_uri(render_chart, chart):
    # `make model-image` (model.image): KServe pulls it as a modelcar, oci://; a digest pins it.
    repository = yaml.safe_load((chart.path / "values.yaml").read_text())["model"]["image"]["repository"]
    kserve = {**RUNTIME, "storageUri": ""}
    tagged = _only(render_chart({"kserve": kserve, "model": {"image": {"tag": "1.2.4"}}}), "InferenceService")
    assert tagged["spec"]["predictor"]["model"]["storageUri"] == f"oci://{repository}:1.2.4"
    digest = "sha256:" + "0" * 64
    pinned = render_chart({"kserve": kserve, "model": {"image": {"tag": "1.2.4", "digest": digest}}})
    assert (
        _only(pinned, "InferenceService")["spec"]["predictor"]["model"]["storageUri"]
        == f"oci://{repository}@{digest}"
    )
    # A storageUri of its own wins.
    both = render_chart({"kserve": RUNTIME, "model": {"image": {"tag": "1.2.4"}}})
    assert _only(both, "InferenceService")["spec"]["predictor"]["model"]["storageUri"] == MODEL_IMAGE_URI


@pytest.mark.parametrize("mode", ["custom", "runtime"])
def test_canary_traffic_percent_in_serverless_mode(render_chart, isvc_validator, mode):
    # Knative splits the traffic between revisions; it allows the container one port.
    serverless = {"serving.kserve.io/deploymentMode": "Serverless"}
    kserve = {**RUNTIME, "mode": mode, "annotations": serverless, "runtime": {"grpcPort": False}}
    isvc = _only(render_chart({"kserve": {**kserve, "canaryTrafficPercent": 10}}), "InferenceService")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert isvc_validator.problems(isvc) == []
    # Unset (null): no canary, all traffic to the newest revision.
    plain = _only(render_chart({"kserve": kserve}), "InferenceService")
    assert "canaryTrafficPercent" not in plain["spec"]["predictor"]


@pytest.mark.parametrize(
    ("kserve", "sentence"),
    [
        ({**RUNTIME, "storageUri": ""}, "kserve.mode=runtime needs a model"),
        (
            {**RUNTIME, "annotations": {"serving.kserve.io/deploymentMode": "Serverless"}},
            "kserve.runtime.grpcPort must be false in Knative (serverless) mode",
        ),
        (
            {**RUNTIME, "canaryTrafficPercent": 10, "annotations": STANDARD},
            "kserve.canaryTrafficPercent works in Knative (serverless) mode only",
        ),
    ],
    ids=["runtime-without-model", "two-ports-under-knative", "canary-in-standard-mode"],
)
def test_runtime_values_kserve_cannot_run_are_refused_with_the_fix(render_chart, kserve, sentence):
    with pytest.raises(GeneratorError, match=re.escape(sentence)):
        render_chart({"kserve": kserve})


@pytest.mark.parametrize(
    ("kserve", "field"),
    [
        ({**RUNTIME, "mode": "sidecar"}, "mode"),
        ({**RUNTIME, "canaryTrafficPercent": 101}, "canaryTrafficPercent"),
        ({**RUNTIME, "runtime": {"kind": "Runtime"}}, "runtime.kind"),
        ({**RUNTIME, "runtime": {"modelFormat": {"name": ""}}}, "runtime.modelFormat.name"),
    ],
    ids=["unknown-mode", "canary-over-100", "unknown-runtime-kind", "format-without-name"],
)
def test_values_schema_refuses_bad_runtime_values(render_chart, kserve, field):
    # The schema names the field (Helm 4: at '/kserve/mode'; Helm 3: kserve.mode).
    path = "[./]".join(map(re.escape, ["kserve", *field.split(".")]))
    with pytest.raises(GeneratorError, match=path):
        render_chart({"kserve": kserve})


@pytest.mark.parametrize("framework", sorted(KSERVE_FORMATS))
def test_runtime_declares_the_projects_framework_as_kserve_names_it(
    matrix_render, render_chart, isvc_validator, framework
):
    # chart/test_variants.py checks one chart for the three frameworks, whose charts differ only
    # in this block of values.yaml: each framework's format, on the default chart, is valid too.
    trees = matrix_render.trees.items()
    tree = next(tree for vid, tree in trees if f"-{framework}-" in vid and "-no-kubeflow-" in vid)
    [path] = [p for p in tree.files if p.startswith("charts/") and p.endswith("/values.yaml")]
    values = yaml.safe_load(matrix_render.store[tree.files[path].digest])
    model_format = values["kserve"]["runtime"]["modelFormat"]
    name, version = KSERVE_FORMATS[framework]
    assert model_format == {"name": name, "version": version}
    manifests = render_chart({"kserve": {**RUNTIME, "runtime": {"modelFormat": model_format}}})
    runtime, isvc = _only(manifests, "ServingRuntime"), _only(manifests, "InferenceService")
    assert runtime["spec"]["supportedModelFormats"][0]["name"] == name
    assert isvc["spec"]["predictor"]["model"]["modelFormat"] == model_format
    assert isvc_validator.problems(runtime) == []
    assert isvc_validator.problems(isvc) == []


def _readme_sets(text: str) -> dict[str, Any]:
    """The ``--set key=value`` pairs in ``text`` as nested values (``\\.`` keeps a dot in a key).

    Lines that start with ``#`` (a shell comment) are not commands and are left out.
    """
    commands = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    values: dict[str, Any] = {}
    for pair in re.findall(r"--set ([^\s`]+)", commands.replace("\\\n", " ")):
        key, _, value = pair.partition("=")
        *parents, leaf = [part.replace("\0", ".") for part in key.replace("\\.", "\0").split(".")]
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = {"true": True, "false": False}.get(value, int(value) if value.isdigit() else value)
    return values


def test_readme_runtime_commands_render_what_they_say(default_project, render_chart, isvc_validator):
    readme = (default_project / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it as a KServe runtime", 1)[1].split("\n## ", 1)[0]
    install = _readme_sets(section.split("```sh", 1)[1].split("```", 1)[0])
    manifests = render_chart(install)
    runtime, isvc = _only(manifests, "ServingRuntime"), _only(manifests, "InferenceService")
    assert isvc_validator.problems(runtime) == []
    assert isvc_validator.problems(isvc) == []
    # The model goes where the README copies `make train`'s artifacts.
    [copied_to] = re.findall(r"aws s3 cp --recursive artifacts/ (\S+)", section)
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == copied_to.rstrip("/")
    # The canary upgrade, in serverless mode with the one port the Ports bullet says.
    canary_text = section.split("**Canary rollout**", 1)[1].split("\n- ", 1)[0]
    serverless = {"annotations": {"serving.kserve.io/deploymentMode": "Serverless"}}
    serverless["runtime"] = {"grpcPort": False}
    upgrade = {"kserve": {**install["kserve"], **serverless, **_readme_sets(canary_text)["kserve"]}}
    predictor = _only(render_chart(upgrade), "InferenceService")["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] != copied_to.rstrip("/")
