"""The default image's contract: its user, a read-only start, the CA secret in no layer, layer reuse.

Every image kind's smoke (each Python, framework and Dask value) is in tests/swap/test_swap.py,
whose projects tests/image/test_matrix_coverage.py shows to cover them.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
from support.images import CANARY_PREFIX

from generator.containers.smoke import smoke_image
from generator.engine.image_store import find_in_layers, image_config, image_history, image_layers
from generator.engine.run import RUN_AS_UID, running, wait_ready
from generator.image.build import build_image
from generator.process import run
from generator.tools import require

pytestmark = pytest.mark.docker
GRPC_READY = (
    "import grpc; "
    "channel = grpc.insecure_channel('127.0.0.1:8081'); "
    "call = channel.unary_unary('/inference.GRPCInferenceService/ServerReady'); "
    "print(call(b'', timeout=30).hex())"
)


def test_default_image_serves_the_model_under_the_chart_security_context(default_image):
    report = smoke_image(default_image.tag)

    assert report.ok, f"{report.summary()}\n--- container log ---\n{report.logs}"


def test_image_user_is_the_fixed_non_root_uid(default_image):
    assert image_config(default_image.tag)["User"] == str(RUN_AS_UID)


def test_container_runs_as_that_uid_without_being_told(default_image):
    import docker

    output = docker.from_env().containers.run(
        default_image.tag, ["python", "-c", "import os; print(os.getuid(), os.getgid())"], remove=True
    )

    assert output.decode().split() == [str(RUN_AS_UID), str(RUN_AS_UID)]


def test_service_is_ready_on_a_read_only_root_with_only_tmp_writable(default_image):
    with running(default_image.tag) as (container, base_url):
        wait_ready(container, base_url)
        root_code, root_output = container.exec_run(["python", "-c", "open('/opt/model/probe', 'w')"])
        tmp_code, _ = container.exec_run(["python", "-c", "open('/tmp/probe', 'w').write('ok')"])
        # gRPC on the image's default port too: ServerReady (an empty request) answers ready=true,
        # 08 01 on the wire, through the image's own grpcio.
        grpc_code, grpc_output = container.exec_run(["python", "-c", GRPC_READY])

    assert root_code != 0
    assert b"Read-only file system" in root_output
    assert tmp_code == 0
    assert (grpc_code, grpc_output.decode().strip()) == (0, "0801")


def test_layer_scan_finds_a_file_a_later_layer_deleted(default_image, ca_bundle, tmp_path, scratch_tag):
    # The scan the CA test relies on must see through deletions: the layer still ships.
    (tmp_path / "planted").write_bytes(b"secret\n" + ca_bundle.canary)
    dockerfile = f"FROM {default_image.result.base_image}\nCOPY planted /etc/planted\nRUN rm /etc/planted\n"
    (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    tag = scratch_tag("planted")
    run([require("docker"), "buildx", "build", "--quiet", "--tag", tag, tmp_path])

    assert find_in_layers(tag, [ca_bundle.canary]) != ()


def test_ca_bundle_secret_reaches_no_layer(default_image):
    # Every test build mounts a bundle whose canary starts with CANARY_PREFIX, this run's build
    # of the default image included (on a machine with BuildKit's cache, its layers may come from
    # an earlier run's build: that run's canary has the same prefix). A copy of the bundle in any
    # layer, the history or the environment would show it.
    hits = find_in_layers(default_image.tag, [CANARY_PREFIX], ["run/secrets/ca_bundle"])
    history = image_history(default_image.tag)
    env = image_config(default_image.tag)["Env"]

    assert hits == ()
    assert not any(CANARY_PREFIX.decode().strip() in line for line in history)
    assert not any("ca_bundle" in str(variable) for variable in env)


def test_source_only_change_rebuilds_only_the_last_layers(default_image, ca_bundle, tmp_path, scratch_tag):
    project = tmp_path / default_image.project.name
    shutil.copytree(default_image.project, project)
    base = default_image.result.base_image
    # Baseline from the cache as it is now (other tests may have rebuilt layers with --no-cache).
    unchanged = build_image(project, scratch_tag("unchanged"), base, ca_bundle.path)
    # Unique per run: BuildKit's cache is content-addressed, so a repeated edit would be a hit.
    serve = next((project / "src").glob("*/serve.py"))
    edit = f"\n# A source-only change ({uuid.uuid4().hex}).\n"
    serve.write_text(serve.read_text(encoding="utf-8") + edit, encoding="utf-8")

    edited = build_image(project, scratch_tag("edited"), base, ca_bundle.path)

    assert edited.step("--no-install-project").cached, "the dependency layer was rebuilt"
    assert edited.step("uv==").cached, "uv was reinstalled"
    assert not edited.step("uv build --wheel").cached, "the edited source was not rebuilt"
    before, after = image_layers(unchanged.tag), image_layers(edited.tag)
    # Base, the user and the dependency venv are shared; the wheel and the model layers are new.
    shared = len(image_layers(base)) + 2
    assert after[:shared] == before[:shared]
    assert after[shared:] != before[shared:]
