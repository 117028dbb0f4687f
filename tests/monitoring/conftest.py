"""A real Prometheus scraping the default project's real service, for the chart's monitoring.

One stack per module: the session's ``local_service(default_project)`` and a second replica of it
whose model fails on marked rows (the planted 5xx burst: the service never answers 5xx by
contract, so a fault has to be put in the model); a stand-in for kube-state-metrics serving a
fixed exposition (the ready-replica alert reads a Deployment's status, which no local process
has); and Debian's ``prometheus`` on a free port, scraping all three every second with the job
and namespace labels a ServiceMonitor gives the pods, and loaded with the chart's rules.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.services import wait_until

from generator.chart.helm import Chart, find_helms
from generator.process import run
from generator.project.render import read_answers
from generator.tools import require

NAMESPACE = "models"
SCRAPE_SECONDS = 1
#: Grafana's ``$__rate_interval`` here: fifteen scrapes (Grafana would pick four intervals or more).
RATE_INTERVAL = "15s"
#: The first value of a row that the planted model refuses with an exception (a 500).
MARK = 4242.0

# The planted model: the project's estimator, delegated to, except on marked rows.
PLANTED_MODULE = '''
import numpy as np


class FailsOnMarkedRows:
    """The fitted estimator, raising RuntimeError (an unhandled error: 500) on marked rows."""

    def __init__(self, estimator, mark):
        self.estimator = estimator
        self.mark = mark
        self.classes_ = getattr(estimator, "classes_", None)

    def _check(self, x):
        if (np.asarray(x, dtype=float)[:, 0] == self.mark).any():
            raise RuntimeError("planted fault: a marked row")

    def predict(self, x):
        self._check(x)
        return self.estimator.predict(x)

    def predict_proba(self, x):
        self._check(x)
        return self.estimator.predict_proba(x)
'''
PLANT = """
import shutil, sys
from pathlib import Path
import joblib
sys.path.insert(0, sys.argv[3])
from planted_fault import FailsOnMarkedRows
artifact = joblib.load(sys.argv[1])
artifact["estimator"] = FailsOnMarkedRows(artifact["estimator"], float(sys.argv[4]))
joblib.dump(artifact, sys.argv[2])
shutil.copy(Path(sys.argv[1]).with_name("signature.json"), Path(sys.argv[2]).with_name("signature.json"))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@dataclass(frozen=True)
class Monitoring:
    """The chart's dashboard and rules, rendered as a release of the default project.

    Attributes:
        fullname: The release's resource name: the Deployment's, and the job a ServiceMonitor
            gives its pods (the Service's name).
        dashboard: The dashboard JSON from the rendered ConfigMap.
        rules: The PrometheusRule's ``spec`` (its ``groups``: a Prometheus rule file).
    """

    fullname: str
    dashboard: dict[str, Any]
    rules: dict[str, Any]

    def targets(self, *, below: str | None = None) -> list[tuple[str, str]]:
        """Every dashboard query as (panel title, refId and legend; expression).

        Args:
            below: Only the panels below the row of this title (every panel after it).
        """
        panels = self.dashboard["panels"]
        rows = {panel["title"]: panel["gridPos"]["y"] for panel in panels if panel["type"] == "row"}
        top = -1 if below is None else rows[below]
        return [
            (f"{panel['title']} / {target['refId']} {target.get('legendFormat', '')}", target["expr"])
            for panel in panels
            if panel["gridPos"]["y"] > top
            for target in panel.get("targets", [])
        ]

    def grafana(self, expr: str, feature: str) -> str:
        """A dashboard expression with Grafana's variables replaced as the stack labels things.

        ``$__rate_interval`` becomes :data:`RATE_INTERVAL`, ``$namespace`` and ``$job`` the labels
        the scrape gives the replicas, ``$feature`` the given column.
        """
        values = {"$__rate_interval": RATE_INTERVAL, "$namespace": NAMESPACE, "$job": self.fullname}
        for name, value in {**values, "$feature": feature}.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
        return expr


@pytest.fixture(scope="module")
def monitoring_values() -> dict[str, Any]:
    """The chart's values for the module's stack: the dashboard and the rules on, default thresholds.

    A module overrides this fixture to render its rules with other values (a short drift window).
    """
    # A few seconds of load serve fewer rows than the drift rules' default minimum.
    drift = {"minRows": 1}
    return {"monitoring": {"dashboard": {"enabled": True}, "rules": {"enabled": True}, "drift": drift}}


@pytest.fixture(scope="module")
def monitoring(
    default_project: Path, monitoring_values: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Monitoring:
    """The default chart rendered with ``monitoring_values``."""
    helms = find_helms()
    if not helms:
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    chart = Chart.find(default_project)
    values = tmp_path_factory.mktemp("monitoring-values") / "values.yaml"
    values.write_text(json.dumps(monitoring_values), encoding="utf-8")
    manifests = helms[0].render(chart.name, chart.path, namespace=NAMESPACE, values=[values])
    [config_map] = [doc for doc in manifests if doc["kind"] == "ConfigMap"]
    [rule] = [doc for doc in manifests if doc["kind"] == "PrometheusRule"]
    [deployment] = [doc for doc in manifests if doc["kind"] == "Deployment"]
    [dashboard] = config_map["data"].values()
    return Monitoring(deployment["metadata"]["name"], json.loads(dashboard), rule["spec"])


class _Exposition(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextlib.contextmanager
def static_exposition(text: str) -> Iterator[str]:
    """Serve ``text`` as a /metrics exposition on a free port; yields ``host:port``."""
    handler = type("Handler", (_Exposition,), {"body": text.encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Stack:
    """Prometheus and what it scrapes.

    Attributes:
        url: Prometheus' base URL.
        healthy: The default project's service (the session's).
        faulty: The second replica, whose model fails on rows starting with :data:`MARK`.
        model_name: The model's name in the v2 routes.
        example: The signature's example request (``instances`` and ``predictions``).
        inputs: The model metadata's inputs (name, datatype, shape).
        mark: The first value of a row the faulty replica answers with a 500.
        profile: The training data's profile the service counts drift against (``profile.json``).
    """

    url: str
    healthy: str
    faulty: str
    model_name: str
    example: dict[str, Any]
    inputs: list[dict[str, Any]]
    mark: float = MARK
    profile: dict[str, Any] = field(default_factory=dict)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """``expr`` evaluated now through ``/api/v1/query``: the result's samples."""
        query = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    @staticmethod
    def send(url: str, body: Any = None) -> int:
        """POST ``body`` to a replica's ``url`` as JSON (GET when None); the answer's status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def get(self, path: str, **params: str) -> Any:
        """A Prometheus API answer's ``data``."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]


def _faulty_replica(service: Any, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a second server of the same project copy, its model wrapped by the planted fault.

    Returns:
        The server's process (in a group of its own) and its base URL; it may not be ready yet.
    """
    (tmp / "planted_fault.py").write_text(PLANTED_MODULE, encoding="utf-8")
    artifact = tmp / "artifacts" / "model.joblib"
    artifact.parent.mkdir()
    source = service.project / "artifacts" / "model.joblib"
    run([service.python, "-c", PLANT, source, artifact, tmp, str(MARK)], timeout=120)
    package = read_answers(service.project)["package_name"]
    # The planted model is not the file signature.json records: the test vouches for it, as a user would.
    run([service.python, "-m", f"{package}.serving.integrity", "--record", artifact.parent], timeout=60)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "MODEL_PATH": str(artifact)}
    env["GRPC_PORT"] = str(free_port())  # not 8081: the first replica or another test may hold it
    env["PYTHONPATH"] = str(tmp)  # where the server unpickles the planted class from
    process = subprocess.Popen(
        [service.python, "-m", f"{package}.serve"],
        cwd=service.project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process, f"http://127.0.0.1:{port}"


def _kube_state_metrics(fullname: str) -> str:
    # kube-state-metrics' own metric and label names; ours has no ready replica, another one has.
    return (
        "# HELP kube_deployment_status_replicas_available The number of available replicas per deployment.\n"
        "# TYPE kube_deployment_status_replicas_available gauge\n"
        f'kube_deployment_status_replicas_available{{namespace="{NAMESPACE}",deployment="{fullname}"}} 0\n'
        f'kube_deployment_status_replicas_available{{namespace="{NAMESPACE}",deployment="another-model"}} 2\n'
    )


def _prometheus_config(tmp: Path, fullname: str, replicas: list[str], ksm: str) -> Path:
    """A config scraping the replicas as a ServiceMonitor would, and kube-state-metrics."""
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "scrape_configs": [
            # What a ServiceMonitor produces: job = the Service's name, plus the namespace label.
            {
                "job_name": fullname,
                "static_configs": [{"targets": replicas, "labels": {"namespace": NAMESPACE}}],
            },
            # kube-prometheus-stack scrapes kube-state-metrics with honor_labels, keeping the
            # namespace label of the object rather than the exporter's.
            {"job_name": "kube-state-metrics", "honor_labels": True, "static_configs": [{"targets": [ksm]}]},
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(
    default_project: Path,
    local_service: Callable[[Path], Any],
    monitoring: Monitoring,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Prometheus scraping both replicas and the kube-state-metrics stand-in, rules loaded."""
    prometheus = require("prometheus")
    service = local_service(default_project)
    tmp = tmp_path_factory.mktemp("prometheus")
    (tmp / "rules.yaml").write_text(yaml.safe_dump(monitoring.rules), encoding="utf-8")
    with contextlib.ExitStack() as cleanup:
        faulty, faulty_url = _faulty_replica(service, tmp_path_factory.mktemp("faulty"))
        cleanup.callback(stop, faulty)
        ksm = cleanup.enter_context(static_exposition(_kube_state_metrics(monitoring.fullname)))
        replicas = [urllib.parse.urlsplit(url).netloc for url in (service.url, faulty_url)]
        config = _prometheus_config(tmp, monitoring.fullname, replicas, ksm)
        port = free_port()
        # Started beside the faulty replica: both take seconds, Prometheus mostly waiting.
        with (tmp / "prometheus.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        cleanup.callback(stop, process)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{faulty_url}/v2/health/ready"), 120, "the faulty replica", faulty)
        wait_until(lambda: answers(f"{url}/-/ready"), 60, "prometheus", process)
        stack = Stack(url, service.url, faulty_url, service.model_name, {}, [])
        # Prometheus applies new targets on a 5 s tick: load sent before two good scrapes of
        # every target could land in one sample, and rate() needs two samples of a series.
        wait_until(
            lambda: len(stack.query("sum_over_time(up[1m]) >= 2")) == 3, 30, "prometheus' scrapes", process
        )
        with urllib.request.urlopen(f"{service.url}/v2/models/{service.model_name}", timeout=10) as answer:
            metadata = json.load(answer)
        profile = json.loads((service.project / "artifacts" / "profile.json").read_text(encoding="utf-8"))
        yield replace(
            stack, example=metadata["parameters"]["example"], inputs=metadata["inputs"], profile=profile
        )
