"""Talk to a cluster with the kubernetes Python client: rollout waits, diagnostics, port-forward.

The functions that decide (is a rollout done, is a pod stuck, which pod and port does a Service
reach, how events and logs read) take plain client objects, so tests hand them fakes; only
:func:`clients` and :func:`forwarded_request` need a real API server.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward

from generator.errors import GeneratorError

# Waiting reasons that never clear by themselves: waiting out the timeout would only hide them.
STUCK_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
LOG_TAIL = 40
EVENT_LIMIT = 30


@dataclass(frozen=True)
class Clients:
    """API objects for one cluster."""

    core: Any  # kubernetes.client.CoreV1Api (the client ships no type information)
    apps: Any  # kubernetes.client.AppsV1Api


def clients(kubeconfig: Path) -> Clients:
    """Clients for the cluster a kubeconfig file names (its current context)."""
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    return Clients(core=k8s.CoreV1Api(api), apps=k8s.AppsV1Api(api))


def rollout_status(deployment: Any) -> tuple[bool, str]:
    """Whether a Deployment's rollout is complete, and a one-line state (as ``kubectl rollout status``)."""
    spec, status = deployment.spec, deployment.status
    name = deployment.metadata.name
    for condition in status.conditions or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            raise GeneratorError(f"deployment {name} exceeded its progress deadline: {condition.message}")
    if (status.observed_generation or 0) < (deployment.metadata.generation or 0):
        return False, f"deployment {name}: waiting for the controller to see the new spec"
    wanted = spec.replicas if spec.replicas is not None else 1
    updated, total, available = (
        status.updated_replicas or 0,
        status.replicas or 0,
        status.available_replicas or 0,
    )
    if updated < wanted:
        return False, f"deployment {name}: {updated} of {wanted} replicas updated"
    if total > updated:
        return False, f"deployment {name}: {total - updated} old replicas still terminating"
    if available < updated:
        return False, f"deployment {name}: {available} of {updated} updated replicas available"
    return True, f"deployment {name}: {available} of {wanted} replicas available"


def stuck_pods(pods: Iterable[Any]) -> list[str]:
    """``pod/container: reason: message`` for every container stuck in a state that will not clear."""
    found = []
    for pod in pods:
        statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
        for status in statuses:
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in STUCK_REASONS:
                found.append(
                    f"{pod.metadata.name}/{status.name}: {waiting.reason}: {waiting.message or ''}".strip()
                )
    return found


def wait_rollout(
    clients: Clients, namespace: str, selector: str, *, timeout: float = 300, poll: float = 2.0
) -> float:
    """Wait until every Deployment matching ``selector`` has rolled out; return the seconds taken.

    Fails at once when a pod is stuck (CrashLoopBackOff, an image that is not on the node, ...)
    instead of sitting out the timeout.

    Raises:
        GeneratorError: No Deployment matches, a pod is stuck, or the timeout passed.
    """
    started = time.monotonic()
    state = "no deployment seen yet"
    while True:
        deployments = clients.apps.list_namespaced_deployment(namespace, label_selector=selector).items
        if not deployments:
            raise GeneratorError(f"no deployment in namespace {namespace} matches {selector}")
        states = [rollout_status(deployment) for deployment in deployments]
        if all(done for done, _ in states):
            return time.monotonic() - started
        state = "; ".join(line for done, line in states if not done)
        pods = clients.core.list_namespaced_pod(namespace, label_selector=selector).items
        if stuck := stuck_pods(pods):
            raise GeneratorError("pods cannot start: " + "; ".join(stuck))
        if time.monotonic() - started > timeout:
            raise GeneratorError(f"rollout not complete after {timeout:.0f} s: {state}")
        time.sleep(poll)


def _when(event: Any) -> datetime:
    stamp = (
        event.last_timestamp or event.event_time or event.first_timestamp or event.metadata.creation_timestamp
    )
    return stamp or datetime.min


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def format_events(events: Sequence[Any], names: Iterable[str], *, limit: int = EVENT_LIMIT) -> str:
    """The events about objects called (or prefixed by) ``names``, oldest first, one line each."""
    prefixes = tuple(names)
    mine = [e for e in events if e.involved_object.name.startswith(prefixes)]
    lines = [
        f"{_when(e):%H:%M:%S} {e.type} {e.reason} {e.involved_object.kind.lower()}/{e.involved_object.name}: "
        f"{(e.message or '').strip()}"
        for e in sorted(mine, key=_when)[-limit:]
    ]
    return "\n".join(lines) or "(no events)"


def _container_state(status: Any) -> str:
    state = status.state
    if state is None:
        return "unknown"
    if state.waiting is not None:
        return f"waiting: {state.waiting.reason}"
    if state.terminated is not None:
        return f"terminated: {state.terminated.reason} (exit {state.terminated.exit_code})"
    return "running"


def _log(core: Any, pod: str, namespace: str, container: str, *, previous: bool, tail: int) -> str:
    try:
        text = core.read_namespaced_pod_log(
            pod, namespace, container=container, previous=previous, tail_lines=tail
        )
    except ApiException as exc:
        # A container that never started has no log; the API says why in the body.
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        try:
            message = json.loads(body).get("message", body)
        except ValueError:
            message = body
        return f"(no log: {message.strip() or exc.reason})"
    return _tail(str(text), tail) or "(empty log)"


def diagnostics(core: Any, namespace: str, selector: str, *, tail: int = LOG_TAIL) -> str:
    """Pod events and container logs (and the previous run's, after a restart), as one text.

    Never raises: diagnostics are collected while something already failed, and a second
    error must not hide the first.
    """
    try:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        events = core.list_namespaced_event(namespace).items
    except Exception as exc:  # any failure here is reported, not raised
        return f"(could not read pods and events in namespace {namespace}: {exc})"
    names = [pod.metadata.name for pod in pods]
    # Deployments and ReplicaSets are named by the prefix their pods share.
    owners = {name.rsplit("-", 2)[0] for name in names}
    parts = [f"--- events in namespace {namespace} ---", format_events(events, [*names, *owners])]
    for pod in pods:
        statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
        for status in statuses:
            head = (
                f"--- pod {pod.metadata.name} ({pod.status.phase}), container {status.name}: "
                f"{_container_state(status)}, {status.restart_count} restarts ---"
            )
            parts += [head, _log(core, pod.metadata.name, namespace, status.name, previous=False, tail=tail)]
            if status.restart_count:
                parts += [
                    f"--- previous run of {pod.metadata.name}/{status.name} ---",
                    _log(core, pod.metadata.name, namespace, status.name, previous=True, tail=tail),
                ]
    if not pods:
        parts.append(f"(no pods match {selector})")
    return "\n".join(parts)


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def service_target(service: Any, pods: Sequence[Any], port_name: str | None = None) -> tuple[str, int]:
    """The ready pod and container port a Service port reaches (what ``kubectl port-forward svc/`` picks).

    Args:
        service: The Service.
        pods: Pods matching its selector.
        port_name: The Service port by name; default: its first port.

    Raises:
        GeneratorError: No such port, no ready pod, or a named targetPort no container declares.
    """
    ports = service.spec.ports or []
    port = next((p for p in ports if port_name is None or p.name == port_name), None)
    if port is None:
        raise GeneratorError(f"service {service.metadata.name} has no port {port_name!r}")
    ready = [pod for pod in pods if _ready(pod)]
    if not ready:
        raise GeneratorError(f"no ready pod behind service {service.metadata.name}")
    pod = sorted(ready, key=lambda p: p.metadata.name)[0]
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, int) or str(target).isdigit():
        return pod.metadata.name, int(target)
    for container in pod.spec.containers:
        for declared in container.ports or []:
            if declared.name == target:
                return pod.metadata.name, int(declared.container_port)
    raise GeneratorError(
        f"service {service.metadata.name} targets port {target!r}, "
        f"which pod {pod.metadata.name} does not declare"
    )


def forwarded_request(
    core: Any,
    namespace: str,
    pod: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    timeout: float = 30,
) -> tuple[int, Any]:
    """Send one HTTP request to ``pod``:``port`` through the API server's port-forward.

    The client's port-forward hands back a socket; ``http.client`` speaks HTTP over it, so no
    ``kubectl`` process and no local port are involved.

    Returns:
        The status and the JSON (or text) body.
    """
    forward = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    connection = http.client.HTTPConnection("localhost", port, timeout=timeout)
    connection.sock = forward.socket(port)
    connection.sock.settimeout(timeout)
    try:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        status, raw = response.status, response.read()
    finally:
        connection.close()
        forward.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")
