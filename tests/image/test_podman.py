"""The default project's image built and run with Podman, through dsdeploy's own engine option.

The build is ``prepare_image(engine="podman")`` (what ``dsdeploy build --engine podman`` runs):
``podman build`` with the Dockerfile's cache and secret mounts unchanged. The base image is
the one the docker tier built locally, copied into Podman's store when Podman lacks it. The
container runs as the chart runs it (uid 10001, read-only root, tmpfs /tmp), talked to through
Podman's Docker-compatible API, as ``dsdeploy smoke --engine podman`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.containers.v2_client import image_example, infer_answer, model_name
from generator.engine.client import engine_client
from generator.engine.image_store import (
    copy_image_to_podman,
    find_in_layers,
    image_exists,
    podman_image_exists,
)
from generator.engine.run import RUN_AS_UID, http, running, wait_ready
from generator.errors import GeneratorError
from generator.image.base_image import local_base_tag
from generator.image.build import project_python_version
from generator.image.project_image import PreparedImage, prepare_image
from generator.process import run
from generator.tools import require

pytestmark = pytest.mark.podman

#: Wall time of the podman build, printed by the test that uses it.
TIMINGS: dict[str, float] = {}


def _podman_base(version: str) -> str:
    """The local base in Podman's store, copied from Docker's when only Docker has it."""
    base = local_base_tag(version)
    if not podman_image_exists(base):
        if not image_exists(base):
            pytest.skip(f"no {base} in Podman or Docker (dsdeploy base-image --python {version})")
        copy_image_to_podman(base)
    podman = require("podman")
    probe = run([podman, "run", "--rm", base, "true"], check=False, timeout=120)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"podman cannot run containers here ({last}); scripts/setup-engines.sh sets ulimits")
    return base


@pytest.fixture(scope="module")
def podman_image(
    default_project: Path, ca_bundle: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PreparedImage]:
    """The default project's image, built once with Podman; removed afterwards."""
    base = _podman_base(project_python_version(default_project))
    started = time.monotonic()
    try:
        image = prepare_image(
            default_project,
            tmp_path_factory.mktemp("podman-project"),
            base_image=base,
            ca_bundle=ca_bundle.path,
            repository="dsdeploy-test-podman",
            engine="podman",
        )
    except GeneratorError as exc:
        pytest.fail(f"podman build of the default project failed: {exc}")
    TIMINGS["build"] = time.monotonic() - started
    yield image
    run([require("podman"), "image", "rm", "--force", image.tag], check=False)


def test_podman_builds_with_the_dockerfiles_mounts(podman_image: PreparedImage):
    # buildah ran every stage the service needs; the dependency layer used the secret and cache mounts.
    steps = [step.name for step in podman_image.result.steps]
    print(f"podman build: {TIMINGS['build']:.1f} s, {len(steps)} steps")
    assert any("--mount=type=secret,id=ca_bundle" in name and "uv sync" in name for name in steps), steps
    # Podman 4.3's layer cache would hand the wheel-installing RUN a stale (or empty) builder
    # stage: dsdeploy builds without it (as `make build CONTAINER_ENGINE=podman` does:
    # tests/render/test_make_engine.py), so every step ran and a source change always reaches
    # the image.
    assert [step.name for step in podman_image.result.steps if step.cached] == []
    assert podman_image.result.image_id.startswith("sha256:")


def test_podman_image_answers_v2_infer_hardened(podman_image: PreparedImage):
    with engine_client("podman") as client:
        example = image_example(podman_image.tag, client)
        with running(podman_image.tag, client=client) as (container, base_url):
            wait_ready(container, base_url, timeout=90)
            config, host = container.attrs["Config"], container.attrs["HostConfig"]
            assert config["User"] == str(RUN_AS_UID)
            assert host["ReadonlyRootfs"] is True
            assert "/tmp" in (host.get("Tmpfs") or {})
            name = model_name(podman_image.tag, None, client)
            status, body = http("POST", f"{base_url}/v2/models/{name}/infer", example.infer_body())
            assert status == 200, body
            assert example.matches(infer_answer(body)), (body, example.predictions)
            container.stop(timeout=10)
            container.reload()
            assert container.attrs["State"]["ExitCode"] == 0


def test_dsdeploy_smoke_passes_on_podman(podman_image: PreparedImage):
    # The CLI as a user runs it: every route, bad requests, SIGTERM, through Podman's API.
    result = CliRunner().invoke(app, ["smoke", podman_image.tag, "--engine", "podman"])
    assert result.exit_code == 0, result.output
    assert f"{podman_image.tag}: " in result.output
    assert "checks passed" in result.output
    assert "FAIL" not in result.output


def test_the_ca_bundle_reaches_no_layer_of_the_podman_image(podman_image: PreparedImage, ca_bundle: Any):
    # The build's bundle carries this session's canary: a copy in any layer (even one deleted
    # later) would carry it too. Podman mounts secrets under /run/secrets like BuildKit.
    with engine_client("podman") as client:
        hits = find_in_layers(podman_image.tag, [ca_bundle.canary], ["run/secrets/ca_bundle"], client)
    assert hits == ()
