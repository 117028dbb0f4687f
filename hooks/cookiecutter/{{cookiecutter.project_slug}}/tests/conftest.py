{% set package_name = cookiecutter.package_name %}"""Shared fixtures: one model trained per session, clients of the service built on it, real servers."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from {{ package_name }}.serving.artifact import Model, load_model
from {{ package_name }}.serving.service import create_app
from {{ package_name }}.serving.settings import Settings
from {{ package_name }}.serving.signature import Signature, rows_of
from {{ package_name }}.train import load_dataset, train


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start the real service are marked ``runtime``: `make test-runtime` runs them.

    Other tests that start a process (an entry point, Dask workers) carry the marker themselves.
    """
    for item in items:
        if "start_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.runtime)


# Small limits so the tests can cross them cheaply.
MAX_ROWS = 50
MAX_REQUEST_BYTES = 16 * 1024


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding model.joblib and metrics.json from one training run."""
    output = tmp_path_factory.mktemp("artifacts")
    train(output)
    return output


@pytest.fixture(scope="session")
def model_path(artifacts: Path) -> Path:
    return artifacts / "model.joblib"


@pytest.fixture(scope="session")
def model(model_path: Path) -> Model:
    return load_model(model_path)


@pytest.fixture(scope="session")
def signature(model: Model) -> Signature:
    """What the trained model takes and answers: every template test builds its requests from it."""
    return model.signature


@pytest.fixture(scope="session")
def rows(signature: Signature) -> list[list[Any]]:
    """Up to fifteen rows of the training data, spread over it, as JSON values in column order."""
    everything = rows_of(load_dataset().x)
    return everything[:: max(1, len(everything) // 15)][:15]


@pytest.fixture(scope="session")
def row(signature: Signature) -> list[Any]:
    """The first row of the signature's example request."""
    return list(signature.example_rows[0])


@pytest.fixture(scope="session")
def numeric_column(signature: Signature) -> int:
    """The index of a numeric column (tests of number rules skip for a model with none)."""
    for index, column in enumerate(signature.columns):
        if column.kind in ("number", "integer"):
            return index
    pytest.skip("the model has no numeric column")


@pytest.fixture(scope="session")
def wrong_kind(signature: Signature) -> tuple[int, Any]:
    """A column and a value of the wrong kind for it: a string for a number, a number for a string."""
    column = signature.columns[0]
    return 0, (1.5 if column.kind == "string" else "not a number" if column.kind != "boolean" else 1)


@pytest.fixture(scope="session")
def settings(model_path: Path) -> Settings:
    return Settings(model_path=model_path, max_rows=MAX_ROWS, max_request_bytes=MAX_REQUEST_BYTES)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of the service after start-up (the lifespan loaded the model from disk)."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="session")
def model_url(settings: Settings) -> str:
    return f"/v2/models/{settings.model_name}"


# ---------------------------------------------------------------------------------------------
# The real server: `python -m <package>.serve` in a subprocess
# ---------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A server process started by the ``start_server`` fixture, in a process group of its own."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        """Everything the server printed so far (its log and access log)."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def pids(self) -> list[int]:
        """The live (not zombie) processes of the server's group: the server and its workers."""
        return _group_members(self.process.pid)

    def wait_for_workers(self, count: int, timeout: float = 120) -> None:
        """Wait until ``count`` workers have started in all (ready means one is up)."""
        deadline = time.monotonic() + timeout
        while self.output().count("Application startup complete") < count:
            assert self.process.poll() is None, f"server exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"{count} workers not up within {timeout} s:\n{self.output()}"
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server and every process of its group, workers included, and reap them.

        SIGTERM first (a clean shutdown), SIGKILL for whatever is left after 10 s: workers whose
        supervisor died (a test killed it) are still in the group, and are stopped too.
        """
        _signal_group(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_members(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _group_members(self.process.pid):
            left = _group_members(self.process.pid)
            assert time.monotonic() < deadline, f"processes {left} outlived SIGKILL"
            time.sleep(0.1)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing left in the group
        os.killpg(pgid, sig)


def _group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (zombies are dead: they only await reaping)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        state, _, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in {"Z", "X"}:
            members.append(int(stat.parent.name))
    return sorted(members)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(server: Server) -> None:
    # trust_env=False: a proxy configured in the environment must not see calls to localhost.
    with httpx2.Client(base_url=server.url, timeout=10, trust_env=False) as http:
        deadline = time.monotonic() + 120  # generous: a busy CI machine imports slowly
        while True:
            try:
                if http.get("/v2/health/ready").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            assert server.process.poll() is None, f"server exited during start-up:\n{server.output()}"
            assert time.monotonic() < deadline, f"server not ready within 120 s:\n{server.output()}"
            time.sleep(0.2)


@pytest.fixture
def start_server(model_path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Server]:
    """Start the service as a container would, with extra environment variables; ready when returned.

    Each server runs in a process group of its own and is stopped, group and all, when the test
    ends, however it ends: a failing test leaves no server or worker behind.
    """

    def start(**env: str) -> Server:
        port = _free_port()
        log = tmp_path / f"server-{port}.log"
        environment = {
            **os.environ,
            "MODEL_PATH": str(model_path),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            **env,
        }
        # Output to a file, not a pipe: a pipe nobody reads fills up and stalls the server.
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "{{ package_name }}.serve"],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so its workers can be stopped with it
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        request.addfinalizer(server.stop)  # before waiting: a server that never gets ready is stopped too
        _wait_until_ready(server)
        return server

    return start
