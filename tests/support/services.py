"""A rendered project's own service, served from its own environment (``python -m <package>.serve``).

``local_service(project)`` syncs a copy with uv, trains its model as a user would and starts the
server once per session and project; ``free_port`` and ``wait_ready`` serve the tiers that start
servers of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.process import run
from generator.project.render import read_answers
from generator.tools import find_python, require


@dataclass(frozen=True)
class LocalService:
    """A rendered project's service running on 127.0.0.1, from a synced and trained copy.

    Attributes:
        project: The copy (with ``.venv`` and ``artifacts/``); treat as read-only.
        url: The base URL, e.g. ``http://127.0.0.1:PORT``.
        model_name: The name in its v2 routes (the project slug).
        grpc: ``127.0.0.1:GRPC_PORT``, its gRPC service's address.
    """

    project: Path
    url: str
    model_name: str
    grpc: str

    @property
    def python(self) -> Path:
        """The interpreter of the project's own environment."""
        return self.project / ".venv" / "bin" / "python"


ServeFn = Callable[[Path], LocalService]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFn]:
    """``local_service(project)``: the project's service, started once per session and project.

    The copy is synced with uv (a local interpreter, downloads off) and trained as a user would
    (``python -m <package>.train``); the server runs in a process group of its own, stopped at
    the end of the session. Skips when no interpreter of the project's Python is here.
    """
    started: dict[Path, tuple[LocalService, subprocess.Popen[bytes]]] = {}

    def _serve(project: Path) -> LocalService:
        if project not in started:
            answers = read_answers(project)
            python = find_python(str(answers["python_version"]))
            if python is None:
                pytest.skip(f"no Python {answers['python_version']} interpreter here (pyenv or PATH)")
            copy = tmp_path_factory.mktemp("served") / project.name
            shutil.copytree(project, copy)
            env = {"VIRTUAL_ENV": None, "UV_PYTHON_DOWNLOADS": "never"}
            run([require("uv"), "sync", "--quiet", "--python", python], cwd=copy, env=env, timeout=900)
            package = str(answers["package_name"])
            venv_python = copy / ".venv" / "bin" / "python"
            run([venv_python, "-m", f"{package}.train", "--output", "artifacts"], cwd=copy, timeout=600)
            port, grpc_port = _free_port(), _free_port()
            # A free GRPC_PORT too: services started side by side must not share 8081.
            server_env = {**os.environ, "PORT": str(port), "GRPC_PORT": str(grpc_port), "HOST": "127.0.0.1"}
            server_env["MODEL_PATH"] = str(copy / "artifacts" / "model.joblib")
            process = subprocess.Popen(
                [venv_python, "-m", f"{package}.serve"],
                cwd=copy,
                env=server_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            service = LocalService(
                copy, f"http://127.0.0.1:{port}", str(answers["project_slug"]), f"127.0.0.1:{grpc_port}"
            )
            started[project] = (service, process)
            _wait_ready(service.url, process)
        return started[project][0]

    yield _serve
    for _, process in started.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], seconds: float = 180, log: Path | None = None
) -> None:
    """Wait for 200 from readiness; a loaded CI machine imports numpy and scikit-learn slowly.

    A failure names the exit code or the deadline, and ends with the tail of ``log`` if given.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5):
                return
        except OSError:
            tail = f":\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""
            if process.poll() is not None:
                pytest.fail(f"the service at {url} exited during start-up (code {process.returncode}){tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"the service at {url} was not ready within {seconds:g} s{tail}")
            time.sleep(0.5)


def wait_until(
    check: Callable[[], bool], seconds: float, what: str, process: subprocess.Popen[Any] | None = None
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` at the deadline or when ``process`` exits."""
    deadline = time.monotonic() + seconds
    while not check():
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what} exited during start-up (code {process.returncode})")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} was not ready within {seconds:g} s")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a TCP port on 127.0.0.1 that is free when asked."""
    return _free_port


@pytest.fixture(scope="session")
def wait_ready() -> Callable[..., None]:
    """``wait_ready(url, process, seconds=180, log=None)``: until ``url``'s readiness answers 200."""
    return _wait_ready
