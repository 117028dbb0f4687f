"""The `helm test` hook's script really checks the service: run it against a local stand-in.

The script is taken from the rendered Pod and run with this interpreter exactly as the pod runs
it (`python -c <script>` with the pod's env), against a small HTTP server on 127.0.0.1 that
plays the model service, healthy or broken. The real service is exercised by the docker tier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Manifests = list[dict[str, Any]]


class StandIn(ThreadingHTTPServer):
    """Answers the two routes the hook calls; ``infer_status`` decides how infer answers."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.infer_status = 200
        self.requests: list[tuple[str, str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, None))
        self._send(200 if self.path == "/v2/health/ready" else 404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, body))
        if self.server.infer_status != 200:
            self._send(self.server.infer_status, {"error": "model exploded"})
            return
        rows = body["inputs"][0]["shape"][0]
        self._send(
            200,
            {
                "model_name": "x",
                "id": "1",
                "outputs": [{"name": "predict", "shape": [rows], "datatype": "INT64", "data": [0] * rows}],
            },
        )


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    # A short poll interval makes shutdown() quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def hook_container(rendered: Callable[[str], Manifests], only: Any) -> dict[str, Any]:
    [container] = only(rendered("default"), "Pod", hook=True)["spec"]["containers"]
    return container


def run_hook(container: dict[str, Any], url: str) -> subprocess.CompletedProcess[str]:
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["SERVICE_URL"].startswith("http://")
    assert env["SERVICE_URL"].endswith(".svc:80")
    env["SERVICE_URL"] = url  # the only change: our stand-in instead of the in-cluster Service
    command = [sys.executable if part == "python" else part for part in container["command"]] + container[
        "args"
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_hook_passes_against_a_healthy_service(hook_container: dict[str, Any], stand_in: StandIn) -> None:
    result = run_hook(hook_container, stand_in.url)
    assert result.returncode == 0, result.stderr
    [(_, ready, _), (_, infer, body)] = stand_in.requests
    model = next(item["value"] for item in hook_container["env"] if item["name"] == "MODEL_NAME")
    assert ready == "/v2/health/ready"
    assert infer == f"/v2/models/{model}/infer"
    [tensor] = body["inputs"]
    assert tensor["datatype"] == "FP64"
    assert tensor["shape"] == [1, 4]
    assert len(tensor["data"]) == 4


@pytest.mark.parametrize("status", [422, 500])
def test_hook_fails_when_infer_does_not_answer_200(
    hook_container: dict[str, Any], stand_in: StandIn, status: int
) -> None:
    stand_in.infer_status = status
    result = run_hook(hook_container, stand_in.url)
    assert result.returncode != 0
    assert f"HTTP {status}" in result.stderr
    assert "model exploded" in result.stderr
