"""Translate a rendered Deployment's pod spec into one ``docker run``, or refuse.

Every field of the pod and container spec is either translated to its Docker equivalent,
known to have no effect on how one container runs (scheduling, pull credentials), or refused
with :class:`Untranslatable` naming the field: a smoke that silently dropped a field would pass
a chart that a cluster runs differently. Approximations that keep the run faithful for the
service (a simulated pod name for a ``fieldRef``, an optional ConfigMap taken as absent) are
listed in :attr:`ContainerRun.notes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from generator.containers.podspec.container_run import ContainerRun, Port, Probe, SharedVolume, Tmpfs
from generator.containers.podspec.env import Untranslatable, container_env, expand, quantity
from generator.errors import GeneratorError

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
        "containers", "initContainers", "volumes", "securityContext", "terminationGracePeriodSeconds",
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
# An init container runs to completion before the server starts: no ports, probes or hooks.
_INIT_TRANSLATED = frozenset(
    {
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "env",
        "envFrom",
        "resources",
        "securityContext",
        "volumeMounts",
    }
)
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


def _mounts(
    container: Mapping[str, Any], volumes: Sequence[Mapping[str, Any]], shared: frozenset[str]
) -> tuple[tuple[Tmpfs, ...], tuple[SharedVolume, ...]]:
    """The container's emptyDirs: a tmpfs of its own, or a Docker volume init containers mount too.

    What an init container writes there (the model it copies in) must reach the server.
    """
    by_name = {str(volume["name"]): volume for volume in volumes}
    mounts: list[Tmpfs] = []
    shares: list[SharedVolume] = []
    for mount in container.get("volumeMounts") or []:
        name = str(mount["name"])
        volume = by_name.get(name)
        if volume is None:
            raise GeneratorError(
                f"volumeMount {mount['mountPath']} names volume {name!r}, which the pod does not define",
                hint="add the volume under spec.volumes",
            )
        kinds = [key for key in volume if key != "name"]
        if kinds != ["emptyDir"]:
            # An image volume (model.imageVolume) among them: the init-container copy is what runs here.
            raise Untranslatable(
                f"volume {name}", f"type {kinds} (only emptyDir: a tmpfs, or a volume init containers fill)"
            )
        _refuse_unknown(mount, frozenset({"name", "mountPath", "readOnly"}), "volumeMounts[]")
        read_only = bool(mount.get("readOnly", False))
        if name in shared:
            shares.append(SharedVolume(str(mount["mountPath"]), name, read_only))
            continue
        empty_dir = volume["emptyDir"] or {}
        if empty_dir.get("medium", "") not in ("", "Memory"):
            raise Untranslatable(f"volume {name}.emptyDir.medium", str(empty_dir["medium"]))
        size = empty_dir.get("sizeLimit")
        size_bytes = int(quantity(size, f"volume {name}.emptyDir.sizeLimit")) if size is not None else None
        mounts.append(Tmpfs(str(mount["mountPath"]), name, size_bytes, read_only))
    return tuple(mounts), tuple(shares)


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
    inits = pod.get("initContainers") or []
    # An emptyDir an init container mounts carries its files to the server: one shared volume.
    shared = frozenset(str(m["name"]) for init in inits for m in init.get("volumeMounts") or [])
    init_runs = []
    for init in inits:
        _refuse_unknown(init, _CONTAINER_NO_EFFECT | _INIT_TRANSLATED, f"init container {init.get('name')}")
        init_runs.append(_container_run(pod, template, init, namespace, without_devices, notes, shared))
    server = _container_run(pod, template, spec, namespace, without_devices, notes, shared)
    return replace(server, init=tuple(init_runs), notes=tuple(notes))


def _container_run(
    pod: Mapping[str, Any],
    template: Mapping[str, Any],
    spec: Mapping[str, Any],
    namespace: str,
    without_devices: bool,
    notes: list[str],
    shared: frozenset[str],
) -> ContainerRun:
    """One container of the pod (the server or an init container) as Docker runs it."""
    security = _security(pod.get("securityContext") or {}, spec.get("securityContext") or {})
    user, groups, cap_drop, cap_add, security_opt = _security_options(security)
    ports = tuple(
        Port(p.get("name"), int(p["containerPort"]), str(p.get("protocol", "TCP")))
        for p in spec.get("ports") or []
    )
    for port, raw in zip(ports, spec.get("ports") or [], strict=True):
        if raw.get("hostPort") or raw.get("hostIP"):
            raise Untranslatable(f"port {port.name or port.number}.hostPort", "binds the node's own port")
    env = container_env(spec, template, namespace, notes)
    env_map = dict(env)
    command = spec.get("command")
    args = spec.get("args")
    resources = _resources(spec.get("resources") or {}, without_devices, notes)
    sysctls = tuple((str(s["name"]), str(s["value"])) for s in security.get("sysctls") or [])
    pre_stop_sleep, pre_stop_exec = _pre_stop(spec)
    tmpfs, shared_mounts = _mounts(spec, pod.get("volumes") or [], shared)
    return ContainerRun(
        image=str(spec["image"]),
        name=str(spec.get("name", "")),
        entrypoint=tuple(expand(str(part), env_map) for part in command) if command else None,
        args=tuple(expand(str(part), env_map) for part in args) if args is not None else None,
        env=tuple(env),
        working_dir=spec.get("workingDir"),
        user=user,
        group_add=groups,
        run_as_non_root=bool(security.get("runAsNonRoot", False)),
        read_only=bool(security.get("readOnlyRootFilesystem", False)),
        tmpfs=tmpfs,
        shared=shared_mounts,
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
