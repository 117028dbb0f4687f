"""Translate a rendered Deployment's pod spec into one ``docker run``, or refuse.

Every field of the pod and container spec is either translated to its Docker equivalent,
known to have no effect on how one container runs (scheduling, pull credentials), or refused
with :class:`Untranslatable` naming the field: a smoke that silently dropped a field would pass
a chart that a cluster runs differently. Approximations that keep the run faithful for the
service (a simulated pod name for a ``fieldRef``, an optional ConfigMap taken as absent) are
listed in :attr:`ContainerRun.notes`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from generator.containers.container_run import ContainerRun, Port, Probe, Tmpfs
from generator.errors import GeneratorError

POD_NAME = "podspec-smoke"
NODE_NAME = "podspec-node"
POD_UID = "00000000-0000-4000-8000-000000000000"

# Fields that change nothing about how a single container runs on one machine.
_POD_NO_EFFECT = frozenset(
    {
        "serviceAccountName", "serviceAccount", "imagePullSecrets", "priorityClassName", "priority",
        "preemptionPolicy", "nodeSelector", "affinity", "tolerations", "topologySpreadConstraints",
        "schedulerName", "restartPolicy", "dnsPolicy", "enableServiceLinks", "nodeName",
    }
)  # fmt: skip
_POD_TRANSLATED = frozenset(
    {
        "containers", "volumes", "securityContext", "terminationGracePeriodSeconds",
        "automountServiceAccountToken",
    }
)  # fmt: skip
_CONTAINER_NO_EFFECT = frozenset({"imagePullPolicy", "terminationMessagePath", "terminationMessagePolicy"})
_CONTAINER_TRANSLATED = frozenset(
    {
        "name", "image", "command", "args", "workingDir", "env", "envFrom", "ports", "startupProbe",
        "livenessProbe", "readinessProbe", "resources", "securityContext", "volumeMounts", "lifecycle",
    }
)  # fmt: skip
_SECURITY_TRANSLATED = frozenset(
    {
        "runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "fsGroupChangePolicy", "supplementalGroups",
        "seccompProfile", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "privileged",
        "capabilities", "appArmorProfile", "procMount", "sysctls",
    }
)  # fmt: skip
_PROBE_TIMING = frozenset(
    {"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"}
)
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


def _refuse_unknown(spec: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    for key in spec:
        if key not in known:
            raise Untranslatable(f"{where}.{key}", "no Docker equivalent is implemented")


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The container's effective security settings: its own fields win over the pod's."""
    for where, context in (("spec.securityContext", pod), ("container securityContext", container)):
        _refuse_unknown(context, _SECURITY_TRANSLATED, where)
    return {**pod, **container}


def _security_options(
    security: Mapping[str, Any],
) -> tuple[str | None, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """user, group_add, cap_drop, cap_add, security_opt."""
    user = None
    if "runAsUser" in security:
        user = str(int(security["runAsUser"]))
        if "runAsGroup" in security:
            user += f":{int(security['runAsGroup'])}"
    elif "runAsGroup" in security:
        raise Untranslatable("securityContext.runAsGroup", "runAsGroup without runAsUser")
    groups = [str(security["fsGroup"])] if "fsGroup" in security else []
    groups += [str(group) for group in security.get("supplementalGroups") or []]
    caps = security.get("capabilities") or {}
    _refuse_unknown(caps, frozenset({"add", "drop"}), "securityContext.capabilities")
    options: list[str] = []
    if security.get("allowPrivilegeEscalation") is False:
        options.append("no-new-privileges")
    for field in ("seccompProfile", "appArmorProfile"):
        profile = (security.get(field) or {}).get("type", "RuntimeDefault")
        if profile == "Unconfined":
            options.append(f"{'seccomp' if field == 'seccompProfile' else 'apparmor'}=unconfined")
        elif profile != "RuntimeDefault":  # Docker applies its default profiles: that is RuntimeDefault
            raise Untranslatable(
                f"securityContext.{field}", f"profile type {profile} (only RuntimeDefault/Unconfined)"
            )
    if security.get("procMount", "Default") != "Default":
        raise Untranslatable("securityContext.procMount", "only Default")
    return (
        user,
        tuple(dict.fromkeys(groups)),
        tuple(str(c) for c in caps.get("drop") or []),
        tuple(str(c) for c in caps.get("add") or []),
        tuple(options),
    )


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


def _env(
    container: Mapping[str, Any], template: Mapping[str, Any], namespace: str, notes: list[str]
) -> list[tuple[str, str]]:
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


def _probes(container: Mapping[str, Any], ports: Sequence[Port]) -> tuple[Probe, ...]:
    probes: list[Probe] = []
    for kind in ("startup", "liveness", "readiness"):
        spec = container.get(f"{kind}Probe")
        if not spec:
            continue
        actions = [key for key in spec if key not in _PROBE_TIMING]
        if actions not in (["httpGet"], ["tcpSocket"]):
            # exec and grpc probes, or a probe-level terminationGracePeriodSeconds: not reproduced.
            raise Untranslatable(f"{kind}Probe", f"fields {actions} (only httpGet and tcpSocket are run)")
        action = actions[0]
        target = spec[action]
        if target.get("host"):
            raise Untranslatable(f"{kind}Probe.{action}.host", "a probe to another host")
        if target.get("scheme", "HTTP") != "HTTP":
            raise Untranslatable(f"{kind}Probe.{action}.scheme", f"{target['scheme']} (only HTTP)")
        port_ref = target.get("port")
        if isinstance(port_ref, int) or str(port_ref).isdigit():
            number = int(port_ref)
        else:
            named = next((port for port in ports if port.name == port_ref), None)
            if named is None:
                declared = ", ".join(f"{p.name}={p.number}" for p in ports) or "none"
                # A cluster refuses this pod; the smoke reports the same disagreement.
                raise GeneratorError(
                    f"{kind}Probe names port {port_ref!r}, which the container does not declare "
                    f"(declared: {declared})",
                    hint="use a declared port name or number in the probe",
                )
            number = named.number
        headers = tuple((str(h["name"]), str(h["value"])) for h in target.get("httpHeaders") or [])
        probes.append(
            Probe(
                kind=kind,
                action=action,
                path=str(target.get("path", "/")) if action == "httpGet" else "",
                port=number,
                port_ref=str(port_ref),
                headers=headers,
                initial_delay=float(spec.get("initialDelaySeconds", 0)),
                period=float(spec.get("periodSeconds", 10)),
                timeout=float(spec.get("timeoutSeconds", 1)),
                failure_threshold=int(spec.get("failureThreshold", 3)),
                success_threshold=int(spec.get("successThreshold", 1)),
            )
        )
    return tuple(probes)


def _resources(resources: Mapping[str, Any], without_devices: bool, notes: list[str]) -> dict[str, int]:
    _refuse_unknown(resources, frozenset({"limits", "requests", "claims"}), "resources")
    if resources.get("claims"):
        raise Untranslatable("resources.claims", "dynamic resource allocation")
    out: dict[str, int] = {}
    for section in ("limits", "requests"):
        for name, value in (resources.get(section) or {}).items():
            field = f"resources.{section}.{name}"
            if name in ("cpu", "memory"):
                continue
            if "/" in name or name.startswith("hugepages-"):
                if not without_devices:
                    raise Untranslatable(
                        field, f"{value} of a device resource; pass without_devices=True to run without it"
                    )
                notes.append(f"{field}={value} not given: the container runs without that device")
                continue
            raise Untranslatable(field, "no Docker equivalent is implemented")
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    if "cpu" in limits:
        out["nano_cpus"] = int(quantity(limits["cpu"], "resources.limits.cpu") * 10**9)
    if "memory" in limits:
        out["mem_limit"] = int(quantity(limits["memory"], "resources.limits.memory"))
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        # As the kubelet does: shares = millicores * 1024 / 1000, at least 2.
        out["cpu_shares"] = max(2, int(quantity(cpu_request, "resources.requests.cpu") * 1024))
    # A memory request only guides the scheduler (no cgroup setting under cgroup v1): nothing to run.
    return out


def _mounts(container: Mapping[str, Any], volumes: Sequence[Mapping[str, Any]]) -> tuple[Tmpfs, ...]:
    by_name = {str(volume["name"]): volume for volume in volumes}
    mounts: list[Tmpfs] = []
    for mount in container.get("volumeMounts") or []:
        _refuse_unknown(mount, frozenset({"name", "mountPath", "readOnly"}), "volumeMounts[]")
        name = str(mount["name"])
        volume = by_name.get(name)
        if volume is None:
            raise GeneratorError(
                f"volumeMount {mount['mountPath']} names volume {name!r}, which the pod does not define",
                hint="add the volume under spec.volumes",
            )
        kinds = [key for key in volume if key != "name"]
        if kinds != ["emptyDir"]:
            raise Untranslatable(f"volume {name}", f"type {kinds} (only emptyDir becomes a tmpfs)")
        empty_dir = volume["emptyDir"] or {}
        if empty_dir.get("medium", "") not in ("", "Memory"):
            raise Untranslatable(f"volume {name}.emptyDir.medium", str(empty_dir["medium"]))
        size = empty_dir.get("sizeLimit")
        size_bytes = int(quantity(size, f"volume {name}.emptyDir.sizeLimit")) if size is not None else None
        mounts.append(Tmpfs(str(mount["mountPath"]), name, size_bytes, bool(mount.get("readOnly", False))))
    return tuple(mounts)


def _pre_stop(container: Mapping[str, Any]) -> tuple[float | None, tuple[str, ...] | None]:
    """The preStop hook as the kubelet runs it before SIGTERM: a sleep or a command (others refused)."""
    lifecycle = container.get("lifecycle") or {}
    _refuse_unknown(lifecycle, frozenset({"preStop"}), "lifecycle")
    hook = lifecycle.get("preStop")
    if not hook:
        return None, None
    _refuse_unknown(hook, frozenset({"sleep", "exec"}), "lifecycle.preStop")
    if len(hook) != 1:
        raise GeneratorError(f"lifecycle.preStop must have exactly one handler, found {sorted(hook)}")
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"]), None
    return None, tuple(str(part) for part in hook["exec"]["command"])


def translate(
    deployment: Mapping[str, Any],
    *,
    container: str | None = None,
    namespace: str = "default",
    without_devices: bool = False,
) -> ContainerRun:
    """The ``docker run`` that reproduces one container of a Deployment's pod template.

    Args:
        deployment: A rendered ``apps/v1`` Deployment.
        container: The container's name; default: the pod's only container.
        namespace: Namespace the Deployment was rendered into (for ``metadata.namespace`` refs).
        without_devices: Run without device resources (``nvidia.com/gpu`` and the like) the spec
            requests, noting each, instead of refusing.

    Returns:
        The translation; ``notes`` lists every approximation.

    Raises:
        Untranslatable: The spec uses a field the smoke cannot reproduce (named in the message).
        GeneratorError: The spec contradicts itself (a probe or mount naming what is not there).
    """
    template = (deployment.get("spec") or {}).get("template") or {}
    pod = template.get("spec") or {}
    _refuse_unknown(pod, _POD_NO_EFFECT | _POD_TRANSLATED, "spec.template.spec")
    containers = pod.get("containers") or []
    chosen = [c for c in containers if container is None or c.get("name") == container]
    if len(chosen) != 1 or (container is None and len(containers) != 1):
        names = [c.get("name") for c in containers]
        raise Untranslatable("spec.template.spec.containers", f"expected one container, found {names}")
    spec = chosen[0]
    _refuse_unknown(spec, _CONTAINER_NO_EFFECT | _CONTAINER_TRANSLATED, f"container {spec.get('name')}")
    notes: list[str] = []
    if pod.get("automountServiceAccountToken", True):
        notes.append("no service account token is mounted (automountServiceAccountToken is not false)")
    security = _security(pod.get("securityContext") or {}, spec.get("securityContext") or {})
    user, groups, cap_drop, cap_add, security_opt = _security_options(security)
    ports = tuple(
        Port(p.get("name"), int(p["containerPort"]), str(p.get("protocol", "TCP")))
        for p in spec.get("ports") or []
    )
    for port, raw in zip(ports, spec.get("ports") or [], strict=True):
        if raw.get("hostPort") or raw.get("hostIP"):
            raise Untranslatable(f"port {port.name or port.number}.hostPort", "binds the node's own port")
    env = _env(spec, template, namespace, notes)
    env_map = dict(env)
    command = spec.get("command")
    args = spec.get("args")
    resources = _resources(spec.get("resources") or {}, without_devices, notes)
    sysctls = tuple((str(s["name"]), str(s["value"])) for s in security.get("sysctls") or [])
    pre_stop_sleep, pre_stop_exec = _pre_stop(spec)
    return ContainerRun(
        image=str(spec["image"]),
        entrypoint=tuple(expand(str(part), env_map) for part in command) if command else None,
        args=tuple(expand(str(part), env_map) for part in args) if args is not None else None,
        env=tuple(env),
        working_dir=spec.get("workingDir"),
        user=user,
        group_add=groups,
        run_as_non_root=bool(security.get("runAsNonRoot", False)),
        read_only=bool(security.get("readOnlyRootFilesystem", False)),
        tmpfs=_mounts(spec, pod.get("volumes") or []),
        cap_drop=cap_drop,
        cap_add=cap_add,
        security_opt=security_opt,
        privileged=bool(security.get("privileged", False)),
        sysctls=sysctls,
        nano_cpus=resources.get("nano_cpus"),
        mem_limit=resources.get("mem_limit"),
        cpu_shares=resources.get("cpu_shares"),
        ports=ports,
        probes=_probes(spec, ports),
        grace_seconds=float(pod.get("terminationGracePeriodSeconds", 30)),
        notes=tuple(notes),
        pre_stop_sleep=pre_stop_sleep,
        pre_stop_exec=pre_stop_exec,
    )
