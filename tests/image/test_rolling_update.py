"""A rolling update simulated on Docker, under load: with the chart's preStop delay no request fails.

What Kubernetes does during ``helm upgrade`` (``maxSurge: 1``, ``maxUnavailable: 0``) is played
out with two containers of the project image and a real load balancer:

* HAProxy on loopback stands for kube-proxy or an ingress controller. Its backend list changes
  through its runtime API, with no reload, a fixed ``LAG`` after the "endpoints" change, as a
  Service's endpoints reach the proxies. It neither retries nor health-checks (``retries 0``),
  as kube-proxy does not: a request sent to a server that refuses it is a failed request.
* v2 (the same project, next version) starts; once ``/v2/health/ready`` answers 200 it joins
  the endpoints; after ``MIN_READY`` the old pod is deleted: it leaves the endpoints and, at
  the same moment, the "kubelet" runs its preStop hook (the chart's ``exec`` fallback, so the
  image's python is proven to be able to run it), then sends SIGTERM and waits for the exit.
* 32 keep-alive connections send v2 infer requests the whole time.

With the delay longer than the lag, v1 is out of the load balancer before it stops accepting:
zero failures. Without the delay the test must see failures, or it could not see the problem.

A model update (``helm upgrade --set model.image.tag=...``) is played out the same way on one
serving image: each pod gets its model as the chart's init container gives it (the model image's
busybox copies ``/models`` into a folder, the "emptyDir", which the server mounts read-only with
``MODEL_DIR``), v1 from one model image and v2 from another, told apart by their answers.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from generator.containers.v2_client import image_example
from generator.engine import run as engine_run
from generator.engine.client import docker_client
from generator.engine.run import SERVICE_PORT, hardened_run_options

logger = logging.getLogger(__name__)
pytestmark = pytest.mark.docker

CONNECTIONS = 32
LAG = 2.0  # seconds from an endpoints change to the load balancer acting on it
DELAY = 5.0  # the preStop delay: longer than the lag, as the chart's default (10 s) is in practice
MIN_READY = 2.0  # minReadySeconds: v2 stays ready this long before v1 is deleted
SHUTDOWN_TIMEOUT = 20  # the drain the server gets after SIGTERM (env SHUTDOWN_TIMEOUT)
SETTLE = 3.0  # load kept on after v1 is gone, so the end state is measured too
MAX_REQUESTS = 500_000  # the load generator's bound, far above what a run sends
REQUEST_TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# The load balancer and its endpoints
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


HAPROXY_CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    # As kube-proxy: no retry and no health check; endpoints alone decide.
    retries 0

frontend service
    bind 127.0.0.1:{port}
    default_backend pods

backend pods
    balance roundrobin
{servers}
"""


class LoadBalancer:
    """HAProxy in the foreground with one disabled server slot per pod, changed at run time."""

    def __init__(self, workdir: Path, pods: list[str]) -> None:
        haproxy = shutil.which("haproxy")
        if haproxy is None:
            pytest.skip("haproxy is not installed (scripts/setup-docker.sh installs it)")
        self.socket = workdir / "admin.sock"
        self.port = free_port()
        servers = "\n".join(f"    server {pod} 127.0.0.1:1 disabled" for pod in pods)
        config = workdir / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(socket=self.socket, port=self.port, servers=servers), encoding="utf-8"
        )
        self.log = workdir / "haproxy.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=out, stderr=out)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            assert self.process.poll() is None, f"haproxy exited: {self.log.read_text()}"
            assert time.monotonic() < deadline, "haproxy did not start within 10 s"
            time.sleep(0.05)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def enable(self, pod: str, address: str) -> None:
        answer = self.command(f"set server pods/{pod} addr {address} port {SERVICE_PORT}")
        assert "changed" in answer or "no need" in answer, answer
        self.command(f"set server pods/{pod} state ready")

    def disable(self, pod: str) -> None:
        # maint: no new request goes there; the ones it is answering finish.
        self.command(f"set server pods/{pod} state maint")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Endpoints:
    """A Service's ready endpoints, reaching the load balancer ``lag`` seconds after each change."""

    def __init__(self, balancer: LoadBalancer, lag: float) -> None:
        self.balancer = balancer
        self.lag = lag
        self.timers: list[threading.Timer] = []
        self.events: list[tuple[float, str]] = []

    def _later(self, what: str, action: Callable[[], None]) -> None:
        def apply() -> None:
            action()
            self.events.append((time.monotonic(), what))

        timer = threading.Timer(self.lag, apply)
        self.timers.append(timer)
        timer.start()

    def add(self, pod: str, address: str) -> None:
        self._later(f"{pod} in", lambda: self.balancer.enable(pod, address))

    def remove(self, pod: str) -> None:
        self._later(f"{pod} out", lambda: self.balancer.disable(pod))

    def settle(self) -> None:
        for timer in self.timers:
            timer.join()


# ---------------------------------------------------------------------------------------------
# Pods and the kubelet's part
# ---------------------------------------------------------------------------------------------


def start_pod(
    image: str,
    name: str,
    environment: dict[str, str] | None = None,
    model_image: str | None = None,
    workdir: Path | None = None,
) -> Container:
    """Run ``image`` as the chart runs it (hardened), on the default bridge like a pod IP.

    With ``model_image``, as the chart runs it with ``model.image`` set: the init container first,
    the pod's emptyDir a folder in ``workdir``.
    """
    volumes = {}
    if model_image is not None:
        assert workdir is not None
        folder = copy_model_in(model_image, workdir / f"{name}-model")
        volumes = {str(folder): {"bind": MODEL_MOUNT, "mode": "ro"}}
        environment = {**(environment or {}), "MODEL_DIR": MODEL_MOUNT}
    return docker_client().containers.run(
        image,
        detach=True,
        name=name,
        environment={"SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT), "ACCESS_LOG": "false", **(environment or {})},
        labels={"dsdeploy.smoke": "1"},
        volumes=volumes,
        **hardened_run_options(),
    )


MODEL_MOUNT = "/mnt/models"


def copy_model_in(model_image: str, folder: Path) -> Path:
    """The chart's init container: the model image's own ``cp``, hardened as the server's uid,
    fills the pod's emptyDir (a folder writable by any uid, as an emptyDir is)."""
    folder.mkdir()
    folder.chmod(0o1777)
    docker_client().containers.run(
        model_image,
        ["cp", "-R", "/models/.", f"{MODEL_MOUNT}/"],
        volumes={str(folder): {"bind": MODEL_MOUNT, "mode": "rw"}},
        remove=True,
        **{key: value for key, value in hardened_run_options().items() if key != "tmpfs"},
    )
    return folder


def pod_address(container: Container) -> str:
    container.reload()
    address = str(container.attrs["NetworkSettings"]["IPAddress"])
    assert address, "the container has no bridge address"
    return address


def wait_ready(container: Container, address: str, timeout: float = 120) -> None:
    """The kubelet's readiness probe, until the first success."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if engine_run.http("GET", f"http://{address}:{SERVICE_PORT}/v2/health/ready")[0] == 200:
                return
        except OSError:
            pass
        container.reload()
        assert container.status == "running", container.logs(tail=30).decode(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"{container.name} not ready within {timeout:.0f} s")


def terminate_pod(container: Container, delay: float) -> float:
    """What the kubelet does to a deleted pod: preStop hook, SIGTERM, wait for the exit.

    Returns:
        Seconds from SIGTERM to the exit.
    """
    if delay:
        # The chart's exec fallback, run in the container as the kubelet runs it.
        hook = ["python", "-c", f"import time; time.sleep({delay})"]
        code, output = container.exec_run(hook)
        assert code == 0, f"preStop hook failed: {output!r}"
    signalled = time.monotonic()
    container.kill(signal="SIGTERM")
    result = container.wait(timeout=SHUTDOWN_TIMEOUT + 5)
    assert result["StatusCode"] in {0, 128 + 15}, container.logs(tail=30).decode(errors="replace")
    return time.monotonic() - signalled


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


@dataclass
class Load:
    """``CONNECTIONS`` keep-alive clients sending infer requests until stopped (bounded)."""

    port: int
    path: str
    body: bytes
    #: What tells the versions apart in a 200 answer: the package version, or the model's outputs.
    key: Callable[[dict[str, Any]], str] = lambda answer: str(answer["model_version"])
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[float, str]] = field(default_factory=list)  # (when, model_version)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (when, what)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CONNECTIONS)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _sent(self) -> int:
        return len(self.answers) + len(self.failures)

    def _client(self) -> None:
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        while not self.stop.is_set() and self._sent() < MAX_REQUESTS:
            try:
                connection.request("POST", self.path, self.body, headers)
                response = connection.getresponse()
                raw = response.read()
                outcome = (
                    self.key(json.loads(raw))
                    if response.status == 200
                    else f"HTTP {response.status}: {raw[:80]!r}"
                )
                ok = response.status == 200
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                ok, outcome = False, f"{type(exc).__name__}: {exc}"
                connection.close()
            with self.lock:
                (self.answers if ok else self.failures).append((time.monotonic(), outcome))
        connection.close()

    def versions(self) -> Counter[str]:
        return Counter(version for _, version in self.answers)


# ---------------------------------------------------------------------------------------------
# The rollout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    """What one simulated rollout measured."""

    mode: str
    total: int
    failed: int
    by_version: dict[str, int]
    failure_kinds: dict[str, int]
    first_answers: list[str]
    last_answers: list[str]
    v2_joined: float
    v1_left: float
    v1_exited: float
    stop_seconds: float
    stopped_accepting: float
    late_v1_answers: int
    #: v1's and v2's answer (their ``Load.key``), asked of each pod directly once it was ready.
    old: str = ""
    new: str = ""

    def summary(self) -> str:
        return (
            f"total {self.total}, failed {self.failed}, by version {self.by_version}, "
            f"failures {self.failure_kinds}, SIGTERM to exit {self.stop_seconds:.1f} s"
        )


def model_outputs(answer: dict[str, Any]) -> str:
    """What a model answered, all outputs: two models of one image differ here, not in version.

    Rounded: a row answered in a batch may differ from a lone one in its last bits.
    """
    data = [output["data"] for output in answer["outputs"]]
    return json.dumps([[round(v, 6) if isinstance(v, float) else v for v in values] for values in data])


@pytest.fixture
def roll_out(
    default_image: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Rollout]]:
    """``roll_out(mode, update="image")``: run v1, update to v2 under load with the chart's delay
    held that way, measure.

    Modes: ``pre-stop`` (the chart's default: a preStop hook, here its exec form, before
    SIGTERM), ``server`` (no hook: SIGTERM at once, the server holds the delay, env
    SHUTDOWN_DELAY), ``none`` (no delay at all: the control). Updates: ``image`` (the next
    version's image), ``model`` (the same image, another model image: ``model.image.tag``).
    """
    started: list[Container] = []
    balancers: list[LoadBalancer] = []
    example = image_example(default_image.tag)
    name = docker_client().images.get(default_image.tag).labels["org.opencontainers.image.title"]
    infer = example.infer_request(example.rows[:1])

    def ask(address: str, body: bytes, key: Callable[[dict[str, Any]], str]) -> str:
        url = f"http://{address}:{SERVICE_PORT}/v2/models/{name}/infer"
        status, answer = engine_run.http("POST", url, body)
        assert status == 200, answer
        return key(answer)

    def run(mode: str, update: str = "image") -> Rollout:
        suffix = f"{mode}-{update}-{time.monotonic_ns()}"
        hook_delay = DELAY if mode == "pre-stop" else 0.0
        server_delay = {"SHUTDOWN_DELAY": str(DELAY)} if mode == "server" else {}
        if update == "image":
            v1_image, v2_image = default_image.tag, request.getfixturevalue("next_version_image").tag
            v1_model = v2_model = None
            body, key = json.dumps(infer).encode(), Load.key
        else:  # both outputs asked for: a label alone may well be the same for both models
            models = request.getfixturevalue("model_images")
            v1_image = v2_image = default_image.tag
            v1_model, v2_model = models.v1, models.v2
            outputs = [{"name": "predict"}, {"name": "predict_proba"}]
            body, key = json.dumps({**infer, "outputs": outputs}).encode(), model_outputs
        balancer = LoadBalancer(tmp_path, ["v1", "v2"])
        balancers.append(balancer)
        endpoints = Endpoints(balancer, LAG)
        v1 = start_pod(v1_image, f"dsdeploy-rollout-v1-{suffix}", server_delay, v1_model, tmp_path)
        started.append(v1)
        v1_address = pod_address(v1)
        wait_ready(v1, v1_address)
        old_version = ask(v1_address, body, key)
        balancer.enable("v1", v1_address)  # in service before the update starts

        load = Load(balancer.port, f"/v2/models/{name}/infer", body, key)
        load.start()
        time.sleep(1.0)  # steady state on v1 first

        v2 = start_pod(v2_image, f"dsdeploy-rollout-v2-{suffix}", model_image=v2_model, workdir=tmp_path)
        started.append(v2)
        v2_address = pod_address(v2)
        wait_ready(v2, v2_address)
        new_version = ask(v2_address, body, key)
        endpoints.add("v2", v2_address)
        time.sleep(LAG + MIN_READY)  # the Deployment waits minReadySeconds on the ready pod
        # The old pod is deleted: endpoints and kubelet learn it at the same moment.
        endpoints.remove("v1")
        stop_seconds = terminate_pod(v1, hook_delay)
        # When v1 closed its listener: at SIGTERM, or after the delay the server holds itself.
        stopped_accepting = time.monotonic() - stop_seconds + (DELAY if mode == "server" else 0.0)
        v1_exited = time.monotonic()
        endpoints.settle()
        time.sleep(SETTLE)
        load.finish()

        events = dict((what, when) for when, what in endpoints.events)
        ordered = [version for _, version in sorted(load.answers)]
        return Rollout(
            mode=mode,
            total=len(load.answers) + len(load.failures),
            failed=len(load.failures),
            by_version=dict(load.versions()),
            failure_kinds=dict(Counter(what.split(":")[0] for _, what in load.failures)),
            first_answers=ordered[:50],
            last_answers=ordered[-50:],
            v2_joined=events["v2 in"],
            v1_left=events["v1 out"],
            v1_exited=v1_exited,
            stop_seconds=stop_seconds,
            stopped_accepting=stopped_accepting,
            late_v1_answers=sum(
                1
                for when, version in load.answers
                # A second of slack: a client thread may note an answer late (the GIL).
                if when > v1_exited + 1 and version == old_version
            ),
            old=old_version,
            new=new_version,
        )

    yield run
    for container in started:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    for balancer in balancers:
        balancer.close()


def project_version(image: Any) -> str:
    """The version an image was built with (what its service reports as model_version): its
    version label, which the same IMAGE_VERSION build arg stamps as the package version."""
    labels = docker.from_env().images.get(image.tag).labels
    return str(labels["org.opencontainers.image.version"])


def check_switch(rollout: Rollout, old: str, new: str) -> None:
    """Every answer came from v1 or v2, v1 first, v2 last: the switch is in the answers."""
    assert set(rollout.by_version) <= {old, new}, rollout.summary()
    assert rollout.by_version.get(old, 0) > 0, rollout.summary()
    assert rollout.by_version.get(new, 0) > 0, rollout.summary()
    assert set(rollout.first_answers) == {old}, rollout.summary()
    assert set(rollout.last_answers) == {new}, rollout.summary()
    assert rollout.late_v1_answers == 0, rollout.summary()


@pytest.mark.parametrize("mode", ["pre-stop", "server", "none"])
def test_rolling_update_under_load(
    roll_out: Callable[[str], Rollout], default_image: Any, next_version_image: Any, mode: str
) -> None:
    rollout = roll_out(mode)
    logger.info("rollout, delay %s: %s", mode, rollout.summary())

    check_switch(rollout, project_version(default_image), project_version(next_version_image))
    assert (rollout.old, rollout.new) == (project_version(default_image), project_version(next_version_image))
    assert rollout.total > 10 * CONNECTIONS, rollout.summary()
    if mode != "none":
        assert rollout.failed == 0, rollout.summary()
        # v1 left the load balancer before it stopped accepting: the delay covered the lag.
        assert rollout.v1_left < rollout.stopped_accepting, rollout.summary()
    else:
        # The control: SIGTERM at deletion while the load balancer still sends v1 traffic. If
        # this saw no failure, the delay cases could not tell a working chart from a broken one.
        assert rollout.failed > 0, rollout.summary()


def test_a_new_model_image_rolls_out_under_load_on_the_same_image(
    roll_out: Callable[..., Rollout],
    model_images: Any,  # roll_out asks for them; named here so the scheduler groups their holders
) -> None:
    # `helm upgrade --set model.image.tag=v2`: same serving image, each pod's model copied in by
    # the init container; the chart's default delay (preStop).
    rollout = roll_out("pre-stop", update="model")
    logger.info("model rollout: %s", rollout.summary())

    assert rollout.old != rollout.new, "the two model images answer alike: the switch could not show"
    check_switch(rollout, rollout.old, rollout.new)
    assert rollout.total > 10 * CONNECTIONS, rollout.summary()
    assert rollout.failed == 0, rollout.summary()
    assert rollout.v1_left < rollout.stopped_accepting, rollout.summary()
