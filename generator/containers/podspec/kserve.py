"""What KServe makes of a ServingRuntime and an InferenceService: the predictor's pod.

KServe's controller (``MergeServingRuntimeAndInferenceServiceSpecs``, ``ReplacePlaceholders``,
``UpdateImageTag`` in kserve/kserve's pkg/controller/v1beta1/inferenceservice) takes the runtime's
``kserve-container``, patches it with the predictor's ``model`` (its container fields win, lists
keyed by name merge, ``args`` are appended), renders the result as a Go template over the
InferenceService's metadata (``{{.Name}}``, ``{{.Namespace}}``, ``{{.Labels.x}}``,
``{{.Annotations.x}}``), and builds the pod from the predictor's pod fields over the runtime's
(volumes, pull secrets). Its pod webhook then adds the storage initializer: an init container
that fetches ``storageUri`` into an emptyDir that the server sees read-only at ``/mnt/models``
(annotation ``storage.kserve.io/readonly``, true by default). :func:`predictor_pod` does the same
and returns the pod as a Deployment, so :func:`~generator.containers.podspec.translate.translate`
turns it into one ``docker run`` and refuses what it cannot reproduce.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from generator.containers.podspec.env import Untranslatable

CONTAINER = "kserve-container"
MODEL_MOUNT = "/mnt/models"
#: The emptyDir KServe's webhook fetches the model into (constants.StorageInitializerVolumeName).
MODEL_VOLUME = "kserve-provision-location"
READONLY_ANNOTATION = "storage.kserve.io/readonly"
_ISVC_LABEL = "serving.kserve.io/inferenceservice"
RUNTIME_KINDS = frozenset({"ServingRuntime", "ClusterServingRuntime"})
# The model's own fields, read by the controller; the rest of predictor.model is a container patch.
_MODEL_FIELDS = frozenset({"modelFormat", "runtime", "runtimeVersion", "protocolVersion", "storageUri"})
# Predictor fields that shape the revision, its scaling or its traffic, not how the container runs.
_PREDICTOR_NO_EFFECT = frozenset(
    {"minReplicas", "maxReplicas", "canaryTrafficPercent", "containerConcurrency", "timeout", "scaleMetric",
     "scaleMetricType", "scaleTarget", "autoScaling", "deploymentStrategy", "annotations", "labels"}
)  # fmt: skip
_PREDICTOR_POD = frozenset(
    {"serviceAccountName", "automountServiceAccountToken", "securityContext", "imagePullSecrets", "volumes",
     "terminationGracePeriodSeconds", "nodeSelector", "affinity", "tolerations", "priorityClassName"}
)  # fmt: skip
_RUNTIME_POD = ("volumes", "imagePullSecrets", "nodeSelector", "affinity", "tolerations")
# Container lists a strategic merge patch merges by key (core/v1 Container's patchMergeKey).
_MERGE_KEYS = {"env": "name", "volumeMounts": "mountPath", "ports": "containerPort"}
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_FIELD = re.compile(r"^\.(Name|Namespace)$|^\.(Labels|Annotations)\.([A-Za-z0-9_]+)$")


def _merge_list(base: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    for item in patch:
        at = next((n for n, old in enumerate(merged) if old.get(key) == item.get(key)), None)
        if at is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[at] = {**merged[at], **copy.deepcopy(item)}
    return merged


def merge_container(runtime: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime's container patched with the predictor's ``model`` container fields."""
    merged = copy.deepcopy(dict(runtime))
    for field, value in model.items():
        if field in _MODEL_FIELDS:
            continue
        if field == "args":
            merged["args"] = [*runtime.get("args", []), *value]
        elif field in _MERGE_KEYS:
            merged[field] = _merge_list(runtime.get(field, []), value, _MERGE_KEYS[field])
        else:
            merged[field] = copy.deepcopy(value)
    return merged


def fill_placeholders(value: Any, metadata: Mapping[str, Any]) -> Any:
    """``value`` with every ``{{.Field}}`` filled from the InferenceService's metadata, as KServe does.

    Raises:
        Untranslatable: A placeholder other than ``.Name``, ``.Namespace``, ``.Labels.<key>`` or
            ``.Annotations.<key>`` (KServe's Go templates could do more; this does not pretend to).
    """
    if isinstance(value, dict):
        return {key: fill_placeholders(item, metadata) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(item, metadata) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        found = _FIELD.match(match.group(1))
        if found is None:
            supported = "only .Name, .Namespace, .Labels.<key> and .Annotations.<key>"
            raise Untranslatable(f"placeholder {match.group(0)}", supported)
        if found.group(1):
            return str(metadata.get(found.group(1).lower(), ""))
        # Go templates print a missing map key as "<no value>"; KServe passes that on.
        return str((metadata.get(found.group(2).lower()) or {}).get(found.group(3), "<no value>"))

    return _PLACEHOLDER.sub(one, value)


def _serves(declared: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    # As KServe matches its "mt:<name>[:<version>]" labels: a format asked without a version
    # matches the name alone; one with a version needs the runtime to declare that version.
    if declared["name"] != wanted.get("name"):
        return False
    return wanted.get("version") is None or declared["version"] == wanted["version"]


def _with_tag(image: str, tag: str) -> str:
    if "@sha256:" in image:  # KServe leaves a digest alone
        return image
    name, _, last = image.rpartition("/")
    bare = last.split(":", 1)[0]
    return f"{name}/{bare}:{tag}" if name else f"{bare}:{tag}"


def predictor_pod(runtime: Mapping[str, Any], isvc: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The predictor pod KServe runs for ``isvc`` with ``runtime``, as a Deployment for ``translate``.

    Args:
        runtime: The rendered ServingRuntime or ClusterServingRuntime.
        isvc: The rendered InferenceService, whose ``predictor.model`` names ``runtime``.
        namespace: The InferenceService's namespace (for ``{{.Namespace}}``).

    Raises:
        Untranslatable: The predictor uses a field this does not reproduce (a logger or batcher
            sidecar, custom containers, ...), or a placeholder it cannot fill.
        ValueError: The two do not belong together (another runtime, an undeclared format, no
            ``kserve-container``), which KServe refuses as well.
    """
    predictor = isvc["spec"]["predictor"]
    model = predictor.get("model") or {}
    if runtime.get("kind") not in RUNTIME_KINDS or model.get("runtime") != runtime["metadata"]["name"]:
        raise ValueError(f"the InferenceService names runtime {model.get('runtime')!r}, not this one")
    spec = runtime["spec"]
    wanted = model.get("modelFormat") or {}
    declared = [{k: f.get(k) for k in ("name", "version")} for f in spec.get("supportedModelFormats") or []]
    if not any(_serves(f, wanted) for f in declared):
        raise ValueError(f"the runtime declares {declared}, not the InferenceService's format {wanted}")
    for field in predictor:
        if field not in _PREDICTOR_NO_EFFECT | _PREDICTOR_POD | {"model"}:
            raise Untranslatable(f"spec.predictor.{field}", "not reproduced for a runtime's predictor")
    [base] = [c for c in spec.get("containers") or [] if c.get("name") == CONTAINER] or [None]
    if base is None:
        raise ValueError(f"the runtime has no container named {CONTAINER}")
    metadata = {**isvc["metadata"], "namespace": namespace}
    container = fill_placeholders(merge_container(base, model), metadata)
    if model.get("runtimeVersion"):
        container["image"] = _with_tag(container["image"], str(model["runtimeVersion"]))
    pod: dict[str, Any] = {key: copy.deepcopy(spec[key]) for key in _RUNTIME_POD if key in spec}
    for field in _PREDICTOR_POD & set(predictor):
        value = copy.deepcopy(predictor[field])
        pod[field] = _merge_list(pod.get(field, []), value, "name") if field == "volumes" else value
    if model.get("storageUri"):
        readonly = (isvc["metadata"].get("annotations") or {}).get(READONLY_ANNOTATION, "true") != "false"
        pod["volumes"] = [*pod.get("volumes", []), {"name": MODEL_VOLUME, "emptyDir": {}}]
        mount = {"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": readonly}
        container["volumeMounts"] = [*container.get("volumeMounts", []), mount]
    pod["containers"] = [container]
    labels = {_ISVC_LABEL: str(isvc["metadata"]["name"])}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{labels[_ISVC_LABEL]}-predictor", "namespace": namespace, "labels": labels},
        "spec": {"template": {"metadata": {"labels": labels}, "spec": pod}},
    }
