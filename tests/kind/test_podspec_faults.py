"""Faults every container check reports instead of crashing on, and the kubelet's healing.

A container that exits before its ports are published (the race that once raised ``KeyError:
8080``) is forced two ways: deterministically with a stand-in container that has already exited,
and on Docker with a command that exits at once. The image smoke reports the same. A bad model
shows its one-line reason in ``dsdeploy podspec``; a frozen server is caught by its liveness probe
and answers again after the restart.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator.chart.helm import find_helms
from generator.cli import app
from generator.containers.podspec.container_run import ContainerRun
from generator.containers.podspec.kubelet import HANG, HEALED, RESTART, START, start_like_kubelet
from generator.containers.podspec.service_calls import INFER, KEEP_ALIVE
from generator.containers.podspec.smoke import podspec_smoke
from generator.containers.podspec.translate import translate
from generator.containers.podspec.workload import NAMESPACE, render_workload
from generator.containers.smoke import EARLY_EXIT, smoke_image
from generator.engine.client import docker_client
from generator.image.image_ref import ImageRef

SETTLE = 2.0
EXITS_AT_ONCE = 'command: ["sh", "-c", "echo no model for you >&2; exit 3"]'


class _ExitedContainer:
    """Stands in for a Docker container that exited before the engine published any port."""

    status = "exited"
    ports: dict[str, Any] = {}  # noqa: RUF012 - read-only stand-in
    attrs: dict[str, Any] = {"State": {"ExitCode": 3, "OOMKilled": False}}  # noqa: RUF012

    def __init__(self) -> None:
        self.starts = 0

    def reload(self) -> None:
        """Nothing to refresh: it stays exited."""

    def logs(self, tail: int = 30) -> bytes:
        return b"loading\nno model for you\n"

    def start(self) -> None:
        self.starts += 1


def _run_of(project: Path) -> ContainerRun:
    if not find_helms():
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    deployment, _ = render_workload(project, ImageRef.parse("example.test/model:1"), "default")
    return translate(deployment, namespace=NAMESPACE)


def test_exit_before_ports_are_published_is_a_failed_check(default_project: Path) -> None:
    container = _ExitedContainer()

    found = start_like_kubelet(container, _run_of(default_project), settle=SETTLE)  # type: ignore[arg-type]

    assert found.ready is None
    start, restart = found.checks
    assert start.name == START
    assert not start.passed
    assert start.detail.startswith(
        "the container exited with code 3 before its ports were published: its log ends: no model for you"
    )
    assert "--- container log ---\nloading\nno model for you" in start.detail
    assert container.starts == 1, "restartPolicy Always restarts it once before calling it a crash loop"
    assert restart.name == RESTART
    assert not restart.passed
    assert "CrashLoopBackOff: exited with code 3, restarted 1 time(s)" in restart.detail


@pytest.mark.docker
def test_container_that_exits_at_once_is_a_failed_check(
    chart_copy: Callable[[Callable[[str], str]], Path], served_image: str
) -> None:
    project = chart_copy(
        lambda text: text.replace("          ports:\n", f"          {EXITS_AT_ONCE}\n          ports:\n", 1)
    )

    report = podspec_smoke(project, served_image, settle=SETTLE)

    assert not report.ok
    first = report.failures[0]
    # Exited before its ports were published, or during the first probe: both name the exit.
    assert first.name in (START, "startupProbe GET /v2/health/live on port http (8080)"), report.summary()
    assert "the container exited with code 3" in first.detail
    assert "no model for you" in first.detail
    assert any(c.name == RESTART and "CrashLoopBackOff" in c.detail for c in report.failures)


@pytest.fixture
def exiting_image(served_image: str) -> Any:
    """The served image with a CMD that exits at once (removed afterwards)."""
    client = docker_client()
    dockerfile = f'FROM {served_image}\nCMD ["sh", "-c", "echo no model for you >&2; exit 3"]\n'
    image, _ = client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag="dsdeploy-test/exits-at-once:1"
    )
    yield "dsdeploy-test/exits-at-once:1"
    client.images.remove(image.id, force=True)


@pytest.mark.docker
def test_image_smoke_reports_an_early_exit(exiting_image: str) -> None:
    report = smoke_image(exiting_image)

    assert not report.ok
    [check] = report.checks
    assert check.name == EARLY_EXIT
    assert check.detail.startswith("the container exited with code 3 before")
    assert "no model for you" in check.detail
    assert report.exit_code == 3
    assert report.ready_seconds is None


@pytest.mark.docker
def test_two_workers_answer_on_one_kept_alive_connection(
    default_project: Path, served_image: str, tmp_path: Path
) -> None:
    values = tmp_path / "two-cpus-values.yaml"
    values.write_text(yaml.safe_dump({"resources": {"limits": {"cpu": "2"}}}), encoding="utf-8")

    report = podspec_smoke(default_project, served_image, values=[values])

    assert "--cpus 2" in report.docker_command
    assert "WORKERS=2" in report.docker_command
    assert report.ok, f"{report.summary()}\n--- log ---\n{report.logs}"
    names = [check.name for check in report.checks]
    assert INFER in names
    assert KEEP_ALIVE in names


@pytest.mark.docker
def test_bad_model_crash_loop_shows_its_reason_in_dsdeploy_podspec(
    default_project: Path, served_image: str, tmp_path: Path
) -> None:
    project = tmp_path / default_project.name
    shutil.copytree(default_project, project)
    ci = next((project / "charts").glob("*/ci"))
    env = [{"name": "MODEL_PATH", "value": "/opt/model/missing.joblib"}]
    (ci / "bad-model-values.yaml").write_text(yaml.safe_dump({"env": env}), encoding="utf-8")

    result = CliRunner().invoke(
        app, ["podspec", str(project), "--image", served_image, "--values-set", "bad-model"]
    )

    assert result.exit_code == 1, result.output
    # Rich wraps long lines at the terminal's width: read the output as one line.
    output = " ".join(result.output.split())
    assert f"{RESTART}: CrashLoopBackOff: exited with code 3, restarted 1 time(s)" in output
    assert "ModelLoadError: no model artifact at /opt/model/missing.joblib" in output


@pytest.mark.docker
def test_a_hung_server_is_caught_by_liveness_and_restarted(default_project: Path, served_image: str) -> None:
    report = podspec_smoke(default_project, served_image, heal_hang=True)

    assert report.ok, f"{report.summary()}\n--- log ---\n{report.logs}"
    names = [check.name for check in report.checks]
    assert HANG in names
    assert HEALED in names
    # Infer answered before the freeze and again after the restart.
    assert names.count(INFER) == 2, names
