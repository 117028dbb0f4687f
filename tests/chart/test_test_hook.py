"""The `helm test` hook really checks the service: its command, run as the pod runs it.

The hook runs the project's own smoke module (`python -m <package>.serving.smoke $(SERVICE_URL)
--model $(MODEL_NAME)`). Here that command is taken from the rendered Pod, its `$(VAR)`s
expanded from the pod's env as the kubelet does, and run in the rendered project's own
environment: against the project's real service (`python -m <package>.serve`, trained model),
and against a small stand-in on 127.0.0.1 that answers wrongly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

Manifests = list[dict[str, Any]]


class StandIn(ThreadingHTTPServer):
    """Plays a model service whose answers are not its own example's, or that fails."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.infer_status = 200  # how /predict and infer answer (200: a wrong answer)
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
        if self.path == "/v2/health/ready":
            self._send(200, {"ready": True})
        elif self.path.startswith("/v2/models/"):
            example = {"instances": [[1.0, 2.0]], "predictions": [1]}
            inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}]
            self._send(
                200,
                {"name": self.path.rsplit("/", 1)[1], "inputs": inputs, "parameters": {"example": example}},
            )
        else:
            self._send(404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, body))
        if self.server.infer_status != 200:
            self._send(self.server.infer_status, {"error": "model exploded"})
        else:  # a wrong answer: the model's own is [1]
            self._send(200, {"predictions": [0], "outputs": [{"name": "predict", "data": [0]}]})


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


def run_hook(container: dict[str, Any], url: str, project: Path) -> subprocess.CompletedProcess[str]:
    """The pod's command and args, ``$(VAR)`` expanded from its env, run in the project's venv."""
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["SERVICE_URL"].startswith("http://")
    assert env["SERVICE_URL"].endswith(".svc:80")
    env["SERVICE_URL"] = url  # the only change: a local service instead of the in-cluster one
    words = [
        re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], part)
        for part in container["command"] + container["args"]
    ]
    assert words[0] == "python"
    words[0] = str(project / ".venv" / "bin" / "python")
    return subprocess.run(
        words, env=os.environ | env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def served(default_project: Path, local_service: Callable[[Path], Any]) -> Any:
    """The default project's own service (its synced copy has the venv the hook runs in)."""
    return local_service(default_project)


def test_hook_passes_against_the_real_service(hook_container: dict[str, Any], served: Any) -> None:
    model = next(item["value"] for item in hook_container["env"] if item["name"] == "MODEL_NAME")
    assert model == served.model_name
    result = run_hook(hook_container, served.url, served.project)
    assert result.returncode == 0, result.stderr
    assert "ready: 200" in result.stdout
    assert "/predict: 3 example rows answered as at training" in result.stdout
    assert "infer: answered as at training" in result.stdout


def test_hook_fails_when_the_answers_are_not_the_models_own(
    hook_container: dict[str, Any], stand_in: StandIn, served: Any
) -> None:
    result = run_hook(hook_container, stand_in.url, served.project)
    assert result.returncode == 1
    assert "/predict answered [0]" in result.stderr
    assert "own answers: [1]" in result.stderr


@pytest.mark.parametrize("status", [422, 500])
def test_hook_fails_when_the_service_does_not_answer_200(
    hook_container: dict[str, Any], stand_in: StandIn, served: Any, status: int
) -> None:
    stand_in.infer_status = status
    result = run_hook(hook_container, stand_in.url, served.project)
    assert result.returncode == 1
    assert f"HTTP {status}" in result.stderr
    assert "model exploded" in result.stderr
