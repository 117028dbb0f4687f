"""The kind deploy without a cluster: its decisions and its failure reports, on fake API objects.

The kubernetes client returns plain attribute objects; ``SimpleNamespace`` stands in for them.
``deploy_to_kind`` runs with kind, helm and the API replaced, so what it removes and what its
error says on failure are checked here, where no cluster can run.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from generator.chart.helm import Helm
from generator.cluster import deploy, deploy_plan, kube
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef


def _deployment(*, generation=2, observed=2, replicas=2, updated=2, total=2, available=2, conditions=()):
    return NS(
        metadata=NS(name="my-model", generation=generation),
        spec=NS(replicas=replicas),
        status=NS(
            observed_generation=observed,
            updated_replicas=updated,
            replicas=total,
            available_replicas=available,
            conditions=list(conditions),
        ),
    )


def _status(name="server", *, waiting=None, message="", restarts=0, terminated=None):
    state = NS(
        waiting=NS(reason=waiting, message=message) if waiting else None,
        terminated=NS(reason=terminated, exit_code=1) if terminated else None,
    )
    return NS(name=name, state=state, restart_count=restarts)


def _pod(name, *statuses, phase="Running", ready=True, ports=(("http", 8080),)):
    return NS(
        metadata=NS(name=name, deletion_timestamp=None),
        status=NS(
            phase=phase,
            conditions=[NS(type="Ready", status="True" if ready else "False")],
            init_container_statuses=None,
            container_statuses=list(statuses),
        ),
        spec=NS(containers=[NS(ports=[NS(name=n, container_port=p) for n, p in ports])]),
    )


def _event(minute, name, reason, message, kind="Pod"):
    return NS(
        type="Warning",
        reason=reason,
        message=message,
        involved_object=NS(name=name, kind=kind),
        last_timestamp=datetime(2025, 1, 1, 12, minute),
        event_time=None,
        first_timestamp=None,
        metadata=NS(creation_timestamp=None),
    )


class FakeCore:
    """CoreV1Api with canned pods, events and logs; a log of ``None`` raises like a waiting container."""

    def __init__(self, pods, events=(), logs=None):
        self.pods, self.events, self.logs = list(pods), list(events), logs or {}

    def list_namespaced_pod(self, namespace, label_selector=""):
        return NS(items=self.pods)

    def list_namespaced_event(self, namespace):
        return NS(items=self.events)

    def read_namespaced_pod_log(self, pod, namespace, container, previous, tail_lines):
        text = self.logs.get((pod, container, previous))
        if text is None:
            body = json.dumps({"message": f'container "{container}" in pod "{pod}" is waiting to start'})
            raise _api(body)
        return text


def _api(body: str) -> ApiException:
    error = ApiException(status=400, reason="Bad Request")
    error.body = body
    return error


class FakeApps:
    """AppsV1Api returning the given Deployment states one call after another (the last repeats)."""

    def __init__(self, *states):
        self.states, self.calls = list(states), 0

    def list_namespaced_deployment(self, namespace, label_selector=""):
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return NS(items=[state])


# --- rollout -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployment", "done", "says"),
    [
        (_deployment(observed=1), False, "waiting for the controller"),
        (_deployment(updated=1), False, "1 of 2 replicas updated"),
        (_deployment(total=3), False, "1 old replicas still terminating"),
        (_deployment(available=1), False, "1 of 2 updated replicas available"),
        (_deployment(), True, "2 of 2 replicas available"),
    ],
    ids=["unobserved", "updating", "old-terminating", "unavailable", "done"],
)
def test_rollout_status_reads_like_kubectl(deployment, done, says):
    assert kube.rollout_status(deployment)[0] is done
    assert says in kube.rollout_status(deployment)[1]


def test_progress_deadline_is_an_error():
    stalled = NS(type="Progressing", reason="ProgressDeadlineExceeded", message="ReplicaSet has timed out")

    with pytest.raises(GeneratorError, match="exceeded its progress deadline: ReplicaSet has timed out"):
        kube.rollout_status(_deployment(available=0, conditions=[stalled]))


def test_wait_rollout_returns_once_done():
    api = kube.Clients(core=FakeCore([]), apps=FakeApps(_deployment(available=0), _deployment()))

    kube.wait_rollout(api, "default", "app.kubernetes.io/instance=my-model", poll=0)

    assert api.apps.calls == 2


def test_wait_rollout_stops_at_once_on_a_stuck_pod():
    stuck = _pod(
        "my-model-7d-x", _status(waiting="ErrImageNeverPull", message="image not present"), ready=False
    )
    api = kube.Clients(core=FakeCore([stuck]), apps=FakeApps(_deployment(available=0)))

    with pytest.raises(GeneratorError, match="my-model-7d-x/server: ErrImageNeverPull: image not present"):
        kube.wait_rollout(api, "default", "x", timeout=3600, poll=0)
    assert api.apps.calls == 1


def test_wait_rollout_times_out_naming_the_state():
    api = kube.Clients(core=FakeCore([_pod("p", _status())]), apps=FakeApps(_deployment(available=1)))

    with pytest.raises(GeneratorError, match=r"not complete after 0 s: .*1 of 2 updated replicas available"):
        kube.wait_rollout(api, "default", "x", timeout=0, poll=0)


# --- diagnostics -------------------------------------------------------------------------------


def test_diagnostics_show_events_in_order_and_the_logs_of_every_run():
    crashing = _pod("my-model-7d-a", _status(terminated="Error", restarts=2))
    waiting = _pod("my-model-7d-b", _status(waiting="ContainerCreating"), phase="Pending", ready=False)
    events = [
        _event(5, "my-model-7d-a", "BackOff", "Back-off restarting failed container"),
        _event(1, "my-model-7d", "SuccessfulCreate", "Created pod: my-model-7d-a", kind="ReplicaSet"),
        _event(3, "other-app-1", "Pulled", "not ours"),
    ]
    logs = {
        ("my-model-7d-a", "server", False): "\n".join(f"line {i}" for i in range(100)),
        ("my-model-7d-a", "server", True): "PermissionError: [Errno 13] /models",
    }

    text = kube.diagnostics(FakeCore([crashing, waiting], events, logs), "default", "sel", tail=5)

    assert text.index("SuccessfulCreate") < text.index("BackOff")
    assert "other-app" not in text
    assert (
        "--- pod my-model-7d-a (Running), container server: terminated: Error (exit 1), 2 restarts ---"
        in text
    )
    assert "line 99" in text
    assert "line 94" not in text  # the tail only
    assert "--- previous run of my-model-7d-a/server ---\nPermissionError: [Errno 13] /models" in text
    assert '(no log: container "server" in pod "my-model-7d-b" is waiting to start)' in text


def test_diagnostics_never_raise():
    class Broken(FakeCore):
        def list_namespaced_pod(self, namespace, label_selector=""):
            raise ConnectionRefusedError("API server gone")

    assert "could not read pods and events in namespace default: API server gone" in kube.diagnostics(
        Broken([]), "default", "sel"
    )


# --- which pod and port a Service reaches -------------------------------------------------------


def _service(target):
    return NS(metadata=NS(name="my-model"), spec=NS(ports=[NS(name="http", port=80, target_port=target)]))


def test_service_named_target_port_resolves_on_a_ready_pod():
    pods = [_pod("b", _status(), ready=False), _pod("c", _status(), ports=(("http", 9000),))]

    assert kube.service_target(_service("http"), pods, "http") == ("c", 9000)
    assert kube.service_target(_service(8080), pods, "http") == ("c", 8080)


def test_service_target_errors_name_the_problem():
    with pytest.raises(GeneratorError, match="no ready pod behind service my-model"):
        kube.service_target(_service("http"), [_pod("a", _status(), ready=False)])
    with pytest.raises(GeneratorError, match="targets port 'web', which pod a does not declare"):
        kube.service_target(_service("web"), [_pod("a", _status())])


# --- the plan's command lines --------------------------------------------------------------------

HELM = Helm(Path("/opt/helm"), "v4.1.4")


def test_install_sets_the_image_after_the_values_files(default_project, tmp_path):
    extra = tmp_path / "extra-values.yaml"
    plan = deploy_plan.plan_deploy(
        default_project, ImageRef("localhost:5000/m", "1.2"), values=[extra], helm=HELM
    )

    command = plan.install_command(Path("/k/config"))

    assert plan.cluster == "my-model"  # the kind config's name
    assert command[:5] == ["/opt/helm", "upgrade", "--install", "my-model", str(plan.chart)]
    assert command[5:9] == ["--kubeconfig", "/k/config", "--namespace", "default"]
    sets = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
    assert sets == [
        "image.repository=localhost:5000/m",
        "image.tag=1.2",
        "image.digest=",
        "image.pullPolicy=IfNotPresent",
    ]
    # Later sources win in helm: the image must come after any values file.
    assert command.index("--values") < command.index("--set")
    assert command[-3:] == ["--wait", "--timeout", "300s"]


def test_test_and_uninstall_use_the_same_release_and_kubeconfig(default_project):
    plan = deploy_plan.plan_deploy(default_project, ImageRef("m", "dev"), cluster="c1", helm=HELM)

    assert plan.test_command(Path("/k")) == [
        "/opt/helm", "test", "my-model", "--kubeconfig", "/k", "--namespace", "default",
        "--logs", "--timeout", "300s",
    ]  # fmt: skip
    assert plan.uninstall_command(Path("/k"))[1:7] == [
        "uninstall",
        "my-model",
        "--kubeconfig",
        "/k",
        "--namespace",
        "default",
    ]
    assert plan.cluster == "c1"


@pytest.mark.parametrize(
    ("reference", "repository", "tag"),
    [
        ("my-model:dev", "my-model", "dev"),
        ("localhost:5000/team/m:1.2", "localhost:5000/team/m", "1.2"),
        ("localhost:5000/team/m", "localhost:5000/team/m", "latest"),
        ("m", "m", "latest"),
    ],
)
def test_image_references_split_at_the_tag_not_the_port(reference, repository, tag):
    assert ImageRef.parse(reference) == ImageRef(repository, tag)


@pytest.mark.parametrize("reference", ["", "m@sha256:" + "a" * 64, "a b:1"])
def test_unusable_image_references_are_refused(reference):
    with pytest.raises(GeneratorError):
        ImageRef.parse(reference)


# --- deploy_to_kind with kind, helm and the API replaced ----------------------------------------


class Recorder:
    """Stands in for kind, helm and the API; fails the helm command whose subcommand is ``fail``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, exists: bool, fail: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail
        core = FakeCore(
            [_pod("my-model-7d-a", _status(waiting="CrashLoopBackOff", restarts=1))],
            [_event(1, "my-model-7d-a", "BackOff", "Back-off restarting failed container")],
            {("my-model-7d-a", "server", False): "", ("my-model-7d-a", "server", True): "OSError: boom"},
        )
        monkeypatch.setattr(deploy.kind, "cluster_exists", lambda name: exists)
        monkeypatch.setattr(deploy.kind, "kind_unavailable_reason", lambda **_: None)
        monkeypatch.setattr(
            deploy.kind, "create_cluster", lambda name, *_, **__: self.calls.append(f"create {name}")
        )
        monkeypatch.setattr(
            deploy.kind, "delete_cluster", lambda name, **_: self.calls.append(f"delete {name}")
        )
        monkeypatch.setattr(
            deploy.kind, "load_image", lambda name, image, **_: self.calls.append(f"load {image}")
        )
        monkeypatch.setattr(deploy.kind, "write_kubeconfig", lambda name, path: path)
        monkeypatch.setattr(deploy, "image_exists", lambda image: True)
        apps = FakeApps(_deployment())
        monkeypatch.setattr(deploy, "clients", lambda kubeconfig: kube.Clients(core=core, apps=apps))
        monkeypatch.setattr(deploy, "run", self.run)

    def run(self, command: list[str], **_: Any) -> NS:
        self.calls.append(f"helm {command[1]}")
        if command[1] == self.fail:
            raise GeneratorError(
                f"`helm {command[1]}` failed with exit code 1:\nError: context deadline exceeded"
            )
        return NS(stdout="", returncode=0)


def test_failed_install_reports_events_and_logs_and_deletes_the_cluster_it_created(
    default_project, monkeypatch
):
    recorder = Recorder(monkeypatch, exists=False, fail="upgrade")

    with pytest.raises(GeneratorError) as raised:
        deploy.deploy_to_kind(default_project, image="my-model:dev", helm=HELM)

    message = str(raised.value)
    assert "context deadline exceeded" in message
    assert "BackOff pod/my-model-7d-a: Back-off restarting failed container" in message
    assert "waiting: CrashLoopBackOff, 1 restarts" in message
    assert "--- previous run of my-model-7d-a/server ---\nOSError: boom" in message
    assert recorder.calls == ["create my-model", "load my-model:dev", "helm upgrade", "delete my-model"]


def test_failure_on_an_existing_cluster_uninstalls_and_keeps_the_cluster(default_project, monkeypatch):
    recorder = Recorder(monkeypatch, exists=True, fail="test")

    with pytest.raises(GeneratorError, match="helm test"):
        deploy.deploy_to_kind(default_project, image="my-model:dev", helm=HELM)

    assert recorder.calls[-1] == "helm uninstall"
    assert not any(call.startswith(("create", "delete")) for call in recorder.calls)


def test_keep_leaves_everything_after_a_failure(default_project, monkeypatch):
    recorder = Recorder(monkeypatch, exists=False, fail="upgrade")

    with pytest.raises(GeneratorError):
        deploy.deploy_to_kind(default_project, image="my-model:dev", helm=HELM, keep=True)

    assert recorder.calls == ["create my-model", "load my-model:dev", "helm upgrade"]


def test_kind_unable_to_create_the_cluster_fails_before_any_build(default_project, monkeypatch):
    recorder = Recorder(monkeypatch, exists=False)
    monkeypatch.setattr(
        deploy.kind, "kind_unavailable_reason", lambda **_: "kind node image x cannot be pulled"
    )
    monkeypatch.setattr(
        deploy, "prepare_image", lambda *a, **k: pytest.fail("built although kind cannot run")
    )

    with pytest.raises(
        GeneratorError, match="cannot create kind cluster my-model: kind node image x cannot be pulled"
    ):
        deploy.deploy_to_kind(default_project, helm=HELM)
    assert recorder.calls == []
