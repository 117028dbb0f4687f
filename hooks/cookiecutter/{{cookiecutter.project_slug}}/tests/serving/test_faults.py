{% set package_name = cookiecutter.package_name %}"""Faults the service survives, or refuses to start with: bad artifacts, idle clients, huge headers.

Owned by the template. (A worker killed under load: ``test_workers``; bodies over the limit:
``test_service``.)
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2
import joblib
import pytest

from {{ package_name }}.serving.service import MAX_HEADER_BYTES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _truncated(model_path: Path, target: Path) -> None:
    data = model_path.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def _foreign(_: Path, target: Path) -> None:
    target.write_text('{"weights": [0.1, 0.2]}', encoding="utf-8")  # a JSON file, not a joblib artifact


def _not_a_model(_: Path, target: Path) -> None:
    joblib.dump({"weights": [0.1, 0.2]}, target)  # a joblib file of something that does not predict


BAD_ARTIFACTS: dict[str, tuple[Callable[[Path, Path], None] | None, str]] = {
    "missing": (None, "no model artifact at"),
    "truncated": (_truncated, "cannot load model artifact"),
    "foreign-format": (_foreign, "cannot load model artifact"),
    "not-a-model": (_not_a_model, "which has no predict()"),
}


@pytest.mark.runtime
@pytest.mark.parametrize("case", list(BAD_ARTIFACTS))
def test_a_bad_artifact_stops_the_process_with_one_line_never_ready(
    model_path: Path, tmp_path: Path, case: str
) -> None:
    make, reason = BAD_ARTIFACTS[case]
    artifact = tmp_path / "model.joblib"
    if make is not None:
        make(model_path, artifact)
    port = _free_port()
    env = {**os.environ, "MODEL_PATH": str(artifact), "PORT": str(port), "HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "{{ package_name }}.serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ready: list[int] = []
    with httpx2.Client(timeout=2, trust_env=False) as http:
        deadline = time.monotonic() + 120
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server with a {case} artifact did not exit within 120 s")
            try:
                ready.append(http.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code)
            except httpx2.TransportError:
                time.sleep(0.05)
    output = process.communicate()[0].decode(errors="replace")
    assert process.returncode == 3, output
    assert 200 not in ready
    errors = [line for line in output.splitlines() if line.strip()]
    assert len(errors) == 1, output
    assert "cannot start: ModelLoadError: " in errors[0]
    assert reason in errors[0]
    assert "Traceback" not in output


@pytest.fixture
def idle_server(start_server: Callable[..., Any]) -> Any:
    return start_server(ACCESS_LOG="false")


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_idle_and_slow_connections_do_not_starve_a_client(idle_server: Any, rows: list[list[Any]]) -> None:
    with ExitStack() as stack:
        # 100 clients that connect and say nothing, 100 that stop in the middle of their headers.
        for number in range(200):
            sock = stack.enter_context(_connect(idle_server.url))
            if number % 2:
                sock.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Le")
        with httpx2.Client(base_url=idle_server.url, timeout=10, trust_env=False) as http:
            took = []
            for _ in range(20):
                start = time.monotonic()
                response = http.post("/predict", json={"instances": rows})
                took.append(time.monotonic() - start)
                assert response.status_code == 200, response.text
    assert sorted(took)[len(took) // 2] < 1.0, took


def test_headers_over_the_limit_are_431_and_the_next_request_is_served(
    idle_server: Any, rows: list[list[Any]]
) -> None:
    with httpx2.Client(base_url=idle_server.url, timeout=30, trust_env=False) as http:
        big = {f"x-filler-{n}": "a" * 8000 for n in range(MAX_HEADER_BYTES // 8000 + 1)}
        response = http.post("/predict", json={"instances": rows}, headers=big)
        assert response.status_code == 431, response.text
        assert "headers exceed" in response.json()["error"]
        assert http.post("/predict", json={"instances": rows}).status_code == 200
