"""What the kubelet would put in a container's environment, and the Kubernetes values it reads.

Quantities (``500m``, ``512Mi``), ``$(VAR)`` expansion, ``fieldRef`` and ``resourceFieldRef``: the pod-spec
smoke reproduces them as a kubelet does, simulates what a pod would be given (its name, uid and
node), and refuses with :class:`Untranslatable` what exists only on a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from generator.errors import GeneratorError

POD_NAME = "podspec-smoke"
NODE_NAME = "podspec-node"
POD_UID = "00000000-0000-4000-8000-000000000000"
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+))?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    "m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_LABEL = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


class Untranslatable(GeneratorError):
    """A pod-spec field the smoke cannot reproduce with Docker (subclass: one error type for users)."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(
            f"the pod-spec smoke cannot translate {field}: {why}",
            hint="run this values set on a cluster (`dsdeploy deploy --kind`) instead",
        )
        self.field = field


def quantity(value: object, field: str) -> Decimal:
    """A Kubernetes quantity (``500m``, ``1``, ``512Mi``, ``1e3``) as a number.

    Raises:
        Untranslatable: ``value`` is not a quantity.
    """
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise Untranslatable(field, f"{value!r} is not a Kubernetes quantity")
    try:
        number = Decimal(match.group(1)) * (Decimal(10) ** int(match.group(2) or 0))
    except InvalidOperation as exc:  # unreachable with the pattern above; kept for safety
        raise Untranslatable(field, f"{value!r} is not a Kubernetes quantity") from exc
    return number * _SUFFIX[match.group(3) or ""]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes, others stay."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(one, text)


def _field_ref(path: str, template: Mapping[str, Any], namespace: str) -> str:
    meta = template.get("metadata") or {}
    simple = {
        "metadata.name": POD_NAME,
        "metadata.namespace": namespace,
        "metadata.uid": POD_UID,
        "spec.nodeName": NODE_NAME,
        "spec.serviceAccountName": str((template.get("spec") or {}).get("serviceAccountName", "default")),
    }
    if path in simple:
        return simple[path]
    if match := _FIELD_LABEL.match(path):
        values = meta.get(match.group(1)) or {}
        if match.group(2) in values:
            return str(values[match.group(2)])
    # status.podIP and friends have no honest value before a scheduler assigns one.
    raise Untranslatable(f"env fieldRef {path}", "its value exists only on a cluster")


def _resource_field_ref(ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """What the kubelet puts in a ``resourceFieldRef`` env var: ceil(quantity / divisor).

    Only the container's own declared requests/limits are known here; an undeclared limit means
    the node's allocatable, which exists only on a cluster.
    """
    resource = str(ref.get("resource", ""))
    where = f"env resourceFieldRef {resource}"
    if ref.get("containerName") not in (None, container.get("name")):
        raise Untranslatable(where, f"it names another container ({ref['containerName']})")
    section, _, name = resource.partition(".")
    declared = ((container.get("resources") or {}).get(section) or {}).get(name)
    if section not in ("limits", "requests") or name not in ("cpu", "memory") or declared is None:
        raise Untranslatable(where, "its value is the node's, which exists only on a cluster")
    divisor = quantity(ref.get("divisor", "1"), f"{where} divisor")
    ratio = quantity(declared, f"resources.{resource}") / divisor
    return str(int(ratio.to_integral_value(rounding=ROUND_CEILING)))


def container_env(
    container: Mapping[str, Any], template: Mapping[str, Any], namespace: str, notes: list[str]
) -> list[tuple[str, str]]:
    """The container's environment in order, as the kubelet builds it; approximations go to ``notes``.

    Raises:
        Untranslatable: A value exists only on a cluster (a required ConfigMap, a pod IP).
    """
    env: list[tuple[str, str]] = []
    for source in container.get("envFrom") or []:
        kind = next((key for key in ("configMapRef", "secretRef") if key in source), None)
        if kind is None:
            raise Untranslatable("envFrom", f"{source} is neither configMapRef nor secretRef")
        ref = source[kind]
        if not ref.get("optional", False):
            raise Untranslatable(f"envFrom {kind} {ref.get('name')}", "the object exists only on a cluster")
        # An optional source that does not exist adds nothing, which is what a cluster without it does.
        notes.append(f"envFrom {kind} {ref.get('name')} (optional) taken as absent")
    for entry in container.get("env") or []:
        name = str(entry["name"])
        if "value" in entry or "valueFrom" not in entry:
            env.append((name, expand(str(entry.get("value", "")), dict(env))))
            continue
        value_from = entry["valueFrom"]
        if "fieldRef" in value_from:
            value = _field_ref(str(value_from["fieldRef"]["fieldPath"]), template, namespace)
            notes.append(
                f"{name} from fieldRef {value_from['fieldRef']['fieldPath']}: simulated as {value!r}"
            )
            env.append((name, value))
            continue
        if "resourceFieldRef" in value_from:
            env.append((name, _resource_field_ref(value_from["resourceFieldRef"], container)))
            continue
        kind = next(iter(value_from))
        ref = value_from[kind]
        if kind in ("configMapKeyRef", "secretKeyRef") and ref.get("optional", False):
            notes.append(f"{name} from optional {kind} {ref.get('name')} taken as absent")
            continue
        raise Untranslatable(f"env {name} valueFrom.{kind}", "its value exists only on a cluster")
    return env
