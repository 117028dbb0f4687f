"""Pod-spec smoke: the chart's Deployment run with Docker exactly as written, against the real image.

Runs here (docker tier). A chart and image that agree pass; a chart copy broken in one way fails
with a message naming that disagreement.
"""

from __future__ import annotations

import pytest

from generator.containers.podspec.smoke import podspec_smoke

pytestmark = pytest.mark.docker

# A broken chart fails conclusively at once; a short settle keeps each failing case to seconds.
SETTLE = 2.0
VALUES_SETS = {"default": False, "full": True, "minimal": False}  # name: run without the GPU it asks


def _failure(report, check_prefix: str) -> str:
    failed = [check for check in report.failures if check.name.startswith(check_prefix)]
    assert failed, f"expected {check_prefix} to fail; report:\n{report.summary()}"
    return failed[0].detail


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_chart_and_image_agree(default_project, served_image, values_set):
    report = podspec_smoke(default_project, served_image, values_set, without_devices=VALUES_SETS[values_set])

    assert report.ok, f"{report.summary()}\n{report.docker_command}\n--- log ---\n{report.logs}"
    assert report.ready_seconds is not None
    names = [check.name for check in report.checks]
    assert "readinessProbe GET /v2/health/ready on port http (8080)" in names
    assert "v2 infer through the Service's targetPort" in names
    assert "v2 infer, every call on one kept-alive connection" in names


def test_readiness_probe_on_a_path_the_server_lacks_fails_with_404(chart_copy, served_image):
    project = chart_copy(lambda text: text.replace("path: /v2/health/ready", "path: /v2/health/readyz"))

    report = podspec_smoke(project, served_image, settle=SETTLE)

    detail = _failure(report, "readinessProbe GET /v2/health/readyz")
    assert detail.startswith("HTTP 404")
    assert not any(check.name.startswith("v2 infer") for check in report.checks), (
        "went on after a failed probe"
    )


def test_container_port_the_server_does_not_listen_on_is_named(chart_copy, served_image):
    project = chart_copy(lambda text: text.replace("containerPort: 8080", "containerPort: 9090"))

    report = podspec_smoke(project, served_image, settle=SETTLE)

    detail = _failure(report, "startupProbe GET /v2/health/live on port http (9090)")
    assert "the container listens on 8080, 8081, not 9090" in detail


def test_write_to_a_path_no_volume_covers_is_named(chart_copy, served_image, answers_of, default_project):
    package = answers_of(default_project)["package_name"]
    # The tmp volume moves away from /tmp, and the server's start writes a file there first.
    start = f'command: ["sh", "-c", "echo warm > /tmp/warm && exec python -m {package}.serve"]'

    def edit(text: str) -> str:
        text = text.replace("mountPath: /tmp", "mountPath: /scratch")
        return text.replace("          ports:\n", f"          {start}\n          ports:\n", 1)

    report = podspec_smoke(chart_copy(edit), served_image, settle=SETTLE)

    # It exits at once: before its ports are published, or during the startup probe (a race).
    assert not report.ok
    detail = report.failures[0].detail
    assert report.failures[0].name.startswith(("container starts", "startupProbe")), report.summary()
    assert "it wrote to a read-only path (readOnlyRootFilesystem: true; writable: /scratch)" in detail
    assert "/tmp/warm" in detail
