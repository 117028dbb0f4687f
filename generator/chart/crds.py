"""Schemas of the custom resources the chart can create, for offline manifest validation.

The Dask operator's CustomResourceDefinitions (DaskJob, DaskCluster, DaskWorkerGroup,
DaskAutoscaler) are read from the ``dask-kubernetes`` wheel, which ships them install-ready inside
the operator's Helm chart; :data:`DASK_KUBERNETES_VERSION` is the release they are pinned to
(dsdeploy's test extra installs exactly that one). KServe's InferenceService, ServingRuntime and
ClusterServingRuntime CRDs, the Gateway API's HTTPRoute CRD and the Prometheus Operator's
PrometheusRule CRD ship with this package, trimmed (``schemas/``; each header names its source
and what was left out).

A CRD's ``openAPIV3Schema`` is what the API server checks, but it is lax as a JSON schema: objects
do not close their properties (the API server drops unknown fields, or with kubectl's default
``--validate=strict`` refuses them), ``metadata`` is not described at all, and the operator
refuses cluster names that the schema would let through. :func:`strict_schema` closes those
gaps, so a typo in a template fails here rather than silently disappearing in a cluster.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import yaml

from generator.errors import GeneratorError

DISTRIBUTION = "dask-kubernetes"
DASK_KUBERNETES_VERSION = "2026.3.0"
API_GROUP = "kubernetes.dask.org"
KSERVE_CRD = "inferenceservices.serving.kserve.io.trimmed.yaml"
# ServingRuntime and ClusterServingRuntime: one schema, two kinds, one file.
KSERVE_RUNTIME_CRDS = "servingruntimes.serving.kserve.io.trimmed.yaml"
GATEWAY_CRD = "httproutes.gateway.networking.k8s.io.trimmed.yaml"
PROMETHEUS_RULE_CRD = "prometheusrules.monitoring.coreos.com.trimmed.yaml"
INSTALL_HINT = f"pip install '{DISTRIBUTION}=={DASK_KUBERNETES_VERSION}' (or pip install 'dsdeploy[test]')"
# Inside the wheel: the operator's Helm chart, and the CRDs in the chart's crds/ folder.
_CHART = ("operator", "deployment", "helm", "dask-kubernetes-operator")
# The operator names the scheduler Service "<cluster>-scheduler" and so refuses cluster names
# longer than 63 - len("-scheduler") (dask_kubernetes.constants.MAX_CLUSTER_NAME_LEN).
MAX_CLUSTER_NAME_LENGTH = 53
_CLUSTER_NAMED_KINDS = frozenset({"DaskJob", "DaskCluster"})
_DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# ObjectMeta fields a manifest may carry (the API server fills in and owns the rest).
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": _DNS_LABEL},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}


def installed_version() -> str | None:
    """The installed ``dask-kubernetes`` version, or None when it is not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def operator_chart() -> Path:
    """The Dask operator's Helm chart as bundled in the ``dask-kubernetes`` wheel.

    Its ``Chart.yaml`` carries placeholder versions (``set-by-chartpress``): installing it needs
    ``--set image.tag=<version>`` for a real operator image.

    Raises:
        GeneratorError: ``dask-kubernetes`` is not installed.
    """
    if installed_version() is None:
        raise GeneratorError(
            f"{DISTRIBUTION} is not installed: its wheel ships the Dask CRDs", hint=INSTALL_HINT
        )
    chart = Path(str(resources.files("dask_kubernetes").joinpath(*_CHART)))
    if not (chart / "Chart.yaml").is_file():
        raise GeneratorError(
            f"{DISTRIBUTION} {installed_version()} has no operator chart at {chart}", hint=INSTALL_HINT
        )
    return chart


@functools.cache
def dask_crds() -> tuple[dict[str, Any], ...]:
    """The operator's CustomResourceDefinitions from the installed wheel, sorted by kind.

    Raises:
        GeneratorError: ``dask-kubernetes`` is missing or ships no CRDs.
    """
    folder = operator_chart() / "crds"
    # The C loader when PyYAML has it: the CRDs are 900 kB of YAML (3 s with the Python loader).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    texts = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.yaml"))]
    crds = [yaml.load(text, Loader=loader) for text in texts]  # noqa: S506 - a safe loader
    crds = [crd for crd in crds if isinstance(crd, dict) and crd.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise GeneratorError(f"no CustomResourceDefinition in {folder}", hint=INSTALL_HINT)
    return tuple(sorted(crds, key=lambda crd: str(crd["spec"]["names"]["kind"])))


def _close(node: Any) -> Any:
    """A copy of an OpenAPI v3 schema node made strict, recursively (see :func:`strict_schema`)."""
    if isinstance(node, list):
        return [_close(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _close(value) for key, value in node.items()}
    if out.get("x-kubernetes-int-or-string") and "type" not in out:
        # The API server accepts either; without a type JSON Schema would accept anything.
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    open_ended = out.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in out
    if "properties" in out and not open_ended:
        out["additionalProperties"] = False
    return out


def strict_schema(crd: Mapping[str, Any], version: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema a manifest of one CRD version must meet, made strict.

    Every object that lists its properties refuses others (unless the CRD says it keeps unknown
    fields), ``apiVersion``/``kind`` must be this version's, ``metadata`` must be a valid
    ObjectMeta with a DNS-1123 name, and DaskJob/DaskCluster names must fit the operator's
    53-character cluster-name limit.

    Args:
        crd: The CustomResourceDefinition.
        version: One entry of its ``spec.versions``.

    Returns:
        A JSON schema (draft 7) for whole manifests.
    """
    spec = crd["spec"]
    kind = str(spec["names"]["kind"])
    schema: dict[str, Any] = _close(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    meta = copy.deepcopy(_OBJECT_META)
    if kind in _CLUSTER_NAMED_KINDS:
        meta["properties"]["name"] = {
            "type": "string",
            "maxLength": MAX_CLUSTER_NAME_LENGTH,
            "pattern": _DNS_LABEL,
        }
    schema.setdefault("properties", {}).update(
        {
            "apiVersion": {"const": f"{spec['group']}/{version['name']}"},
            "kind": {"const": kind},
            "metadata": meta,
        }
    )
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    return schema


def crd_schemas(crds: Iterable[Mapping[str, Any]] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Strict schemas of every served version of ``crds``, by ``(apiVersion, kind)``.

    The result plugs into :class:`generator.chart.kube_schemas.KubernetesSchemas` (``crd_schemas=``).

    Args:
        crds: CustomResourceDefinitions; default: the Dask operator's (:func:`dask_crds`).

    Raises:
        GeneratorError: ``crds`` is omitted and ``dask-kubernetes`` is not installed.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in dask_crds() if crds is None else crds:
        spec = crd["spec"]
        for version in spec.get("versions", []):
            if version.get("served", True) and (version.get("schema") or {}).get("openAPIV3Schema"):
                key = (f"{spec['group']}/{version['name']}", str(spec["names"]["kind"]))
                found[key] = strict_schema(crd, version)
    return found


@functools.cache
def bundled_crds(filename: str) -> tuple[dict[str, Any], ...]:
    """A CRD file bundled with this package under ``schemas/`` (trimmed, see its header)."""
    text = resources.files("generator.chart").joinpath("schemas", filename).read_text(encoding="utf-8")
    return tuple(doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict))


def kserve_crds() -> tuple[dict[str, Any], ...]:
    """KServe's InferenceService CRD, as bundled with this package."""
    return bundled_crds(KSERVE_CRD)


def kserve_runtime_crds() -> tuple[dict[str, Any], ...]:
    """KServe's ServingRuntime and ClusterServingRuntime CRDs, as bundled with this package."""
    return bundled_crds(KSERVE_RUNTIME_CRDS)


def kserve_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`crd_schemas` of the bundled KServe CRDs (no wheel needed: they ship with dsdeploy)."""
    return crd_schemas((*kserve_crds(), *kserve_runtime_crds()))


def gateway_crds() -> tuple[dict[str, Any], ...]:
    """The Gateway API's HTTPRoute CRD (v1), as bundled with this package (trimmed, see its header)."""
    return bundled_crds(GATEWAY_CRD)


def gateway_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`crd_schemas` of the bundled HTTPRoute CRD (``gateway.networking.k8s.io/v1``)."""
    return crd_schemas(gateway_crds())


def prometheus_rule_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`crd_schemas` of the bundled PrometheusRule CRD (monitoring.coreos.com/v1)."""
    return crd_schemas(bundled_crds(PROMETHEUS_RULE_CRD))


def installed_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The bundled schemas (KServe's, HTTPRoute, PrometheusRule), and Dask's when its wheel is installed.

    Checkers use this so that charts without Dask resources are checked without the wheel; a
    Dask manifest checked without it is reported as having no schema.
    """
    dask = dict(_installed_schemas()) if installed_version() is not None else {}
    return {**kserve_schemas(), **gateway_schemas(), **prometheus_rule_schemas(), **dask}


def list_map_problems(schema: Mapping[str, Any], doc: Any, path: str = "") -> list[str]:
    """Duplicate keys in lists the CRD declares ``x-kubernetes-list-type: map`` (e.g. env names).

    JSON Schema cannot say "unique by these keys"; the API server refuses such duplicates.
    """
    problems: list[str] = []
    if isinstance(doc, dict):
        for key, child in doc.items():
            child_schema = schema.get("properties", {}).get(key)
            if isinstance(child_schema, Mapping):
                problems += list_map_problems(child_schema, child, f"{path}.{key}")
    elif isinstance(doc, list):
        items = schema.get("items", {})
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema.get("x-kubernetes-list-map-keys", [])
            seen: set[tuple[Any, ...]] = set()
            for item in doc:
                # A key with a default (protocol: TCP) counts with it, as the API server applies it.
                defaults = {k: items.get("properties", {}).get(k, {}).get("default") for k in keys}
                ident = tuple(item.get(k, defaults[k]) for k in keys)
                if ident in seen:
                    entry = dict(zip(keys, ident, strict=True))
                    problems.append(f"{path.lstrip('.')}: duplicate entry {entry}")
                seen.add(ident)
        for index, item in enumerate(doc):
            problems += list_map_problems(items, item, f"{path}[{index}]")
    return problems


@functools.cache
def _installed_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    # Built once per process: the schemas are read-only data shared by every checker.
    return crd_schemas()
