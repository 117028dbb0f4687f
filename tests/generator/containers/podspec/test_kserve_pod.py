"""What KServe makes of the chart's ServingRuntime and InferenceService: the predictor pod.

No engine is needed: the chart's runtime values set is rendered with helm (skips without it),
then merged and translated in-process as KServe's controller and webhook would.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from generator.chart.helm import find_helms
from generator.containers.podspec.env import Untranslatable
from generator.containers.podspec.kserve import MODEL_MOUNT, MODEL_VOLUME, fill_placeholders, predictor_pod
from generator.containers.podspec.kserve_smoke import RUNTIME_VALUES_SET, render_runtime, with_model_files
from generator.containers.podspec.translate import translate
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef

IMAGE = ImageRef("dsdeploy-test/project", "abc123")
NAMESPACE = "models"
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(default_project: Path) -> tuple[Manifest, Manifest]:
    if not find_helms():
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    return render_runtime(default_project, IMAGE, RUNTIME_VALUES_SET)


@pytest.fixture
def runtime(rendered) -> Manifest:
    return copy.deepcopy(rendered[0])


@pytest.fixture
def isvc(rendered) -> Manifest:
    return copy.deepcopy(rendered[1])


def _container(pod: Manifest) -> Manifest:
    [container] = pod["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: Manifest) -> dict[str, Any]:
    return {item["name"]: item.get("value") for item in container["env"]}


def test_placeholders_are_filled_from_the_inferenceservices_metadata():
    metadata = {"name": "iris", "namespace": "models", "labels": {"team": "fraud"}, "annotations": {}}
    text = "{{.Name}} in {{ .Namespace }} for {{.Labels.team}}, {{.Annotations.missing}}"
    filled = fill_placeholders([{"value": text}], metadata)
    assert filled == [{"value": "iris in models for fraud, <no value>"}]
    with pytest.raises(Untranslatable, match=r"\{\{.Spec.Predictor\}\}"):
        fill_placeholders("{{.Spec.Predictor}}", metadata)


def test_the_pod_runs_the_runtimes_container_under_the_inferenceservices_name(runtime, isvc):
    container = _container(predictor_pod(runtime, isvc, NAMESPACE))
    [declared] = runtime["spec"]["containers"]
    assert container["image"] == declared["image"] == str(IMAGE)
    assert _env(container)["MODEL_NAME"] == isvc["metadata"]["name"]
    assert container["securityContext"] == declared["securityContext"]
    # The pod's own fields come from the predictor.
    pod = predictor_pod(runtime, isvc, NAMESPACE)["spec"]["template"]["spec"]
    assert pod["securityContext"] == isvc["spec"]["predictor"]["securityContext"]


def test_the_model_fields_patch_the_runtimes_container(runtime, isvc):
    model = isvc["spec"]["predictor"]["model"]
    model["env"] = [{"name": "BATCH_MAX_SIZE", "value": "8"}, {"name": "EXTRA", "value": "1"}]
    model["args"] = ["--flag"]
    runtime["spec"]["containers"][0]["args"] = ["--first"]
    container = _container(predictor_pod(runtime, isvc, NAMESPACE))
    env = _env(container)
    assert (env["BATCH_MAX_SIZE"], env["EXTRA"]) == ("8", "1")  # merged by name, the model's wins
    assert container["args"] == ["--first", "--flag"]  # appended, as KServe does
    assert "modelFormat" not in container
    assert "storageUri" not in container


def test_the_storage_uri_is_mounted_read_only_unless_annotated(runtime, isvc):
    pod = predictor_pod(runtime, isvc, NAMESPACE)
    mount = {"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True}
    assert mount in _container(pod)["volumeMounts"]
    isvc["metadata"].setdefault("annotations", {})["storage.kserve.io/readonly"] = "false"
    writable = predictor_pod(runtime, isvc, NAMESPACE)
    assert {**mount, "readOnly": False} in _container(writable)["volumeMounts"]


def test_translated_with_the_model_files_bound_where_kserve_mounts_them(runtime, isvc, tmp_path):
    run = translate(predictor_pod(runtime, isvc, NAMESPACE), namespace=NAMESPACE)
    options, command = with_model_files(run, tmp_path)
    assert options["volumes"] == {str(tmp_path): {"bind": MODEL_MOUNT, "mode": "ro"}}
    assert MODEL_MOUNT not in options["tmpfs"]
    assert options["read_only"] is True
    assert f"--volume {tmp_path}:{MODEL_MOUNT}:ro" in command
    assert {port.number for port in run.ports} == {8080, 8081}


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda rt, isvc: isvc["spec"]["predictor"]["model"].update(runtime="other"), "runtime 'other'"),
        (lambda rt, isvc: isvc["spec"]["predictor"]["model"]["modelFormat"].update(version="9"), "declares"),
        (lambda rt, isvc: rt["spec"]["containers"][0].update(name="server"), "no container named"),
    ],
    ids=["another-runtime", "undeclared-version", "no-kserve-container"],
)
def test_what_kserve_refuses_is_refused(runtime, isvc, edit, problem):
    edit(runtime, isvc)
    with pytest.raises(ValueError, match=problem):
        predictor_pod(runtime, isvc, NAMESPACE)


def test_a_sidecar_the_pod_would_get_is_not_silently_dropped(runtime, isvc):
    isvc["spec"]["predictor"]["logger"] = {"mode": "all"}
    with pytest.raises(GeneratorError, match=r"spec\.predictor\.logger"):
        predictor_pod(runtime, isvc, NAMESPACE)
