"""The chart's KServe ServingRuntime run on Docker exactly as KServe's manifests say.

The runtime and the InferenceService that names it (ci/kserve-runtime-values.yaml) become the
predictor pod KServe would make (generator/containers/podspec/kserve.py): the runtime's container
with ``{{.Name}}`` filled in, its env, ports, probes and hardened securityContext, the model
files bound read-only at /mnt/models as the storage initializer leaves them, a read-only root and
a /tmp emptyDir. It runs on the image the suite already builds; its model folder, copied out of
the image, stands for the storageUri's content. Once ready it answers the model's own example
over REST (the runtime's http1 port) and over gRPC (its grpc port, with tritonclient's client).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from generator.containers.podspec.container_run import ContainerRun
from generator.containers.podspec.kserve_smoke import kserve_runtime_smoke
from generator.containers.v2_client import image_example
from generator.engine.client import docker_client
from generator.results import CheckResult, checked

pytestmark = pytest.mark.docker

# Where the image keeps its own model (the Dockerfile's MODEL_PATH folder).
IMAGE_MODEL_DIR = "/opt/model"
# A predictor without its model fails at once; a short settle keeps that case to seconds.
SETTLE = 2.0


def _copy_out(image: str, path: str, dest: Path) -> Path:
    container = docker_client().containers.create(image)
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            archive.extractall(dest, filter="data")
    finally:
        container.remove(force=True)
    folder = dest / Path(path).name
    # What the storage initializer writes, the server's uid (another than ours) reads.
    for item in [folder, *folder.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return folder


def _grpc_calls(image: str):
    """The gRPC client's checks: the runtime's grpc port answers the model's example as the model does."""
    grpc = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is a test dependency")

    def calls(run: ContainerRun, host: dict[int, int]) -> list[CheckResult]:
        port = run.port_named("grpc")
        if port is None or port.number not in host:
            return [checked("gRPC infer on the runtime's grpc port", False, f"declared ports: {run.ports}")]
        client = grpc.InferenceServerClient(f"127.0.0.1:{host[port.number]}")
        name = str(run.env_value("MODEL_NAME"))
        example = image_example(image)
        assert example.numeric, "the default project's example is one numeric tensor"
        rows = np.asarray(example.rows, dtype=np.float64)
        tensor = grpc.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)
        result = client.infer(name, [tensor], outputs=[grpc.InferRequestedOutput("predict")])
        got = result.as_numpy("predict").tolist()
        return [
            checked("gRPC model ready under the InferenceService's name", client.is_model_ready(name), name),
            checked("gRPC infer on the runtime's grpc port", example.matches(got), f"got {got}"),
        ]

    return calls


@pytest.fixture(scope="module")
def model_files(served_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's model folder, as the storage initializer leaves a storageUri's files."""
    return _copy_out(served_image, IMAGE_MODEL_DIR, tmp_path_factory.mktemp("storage"))


def test_runtime_answers_the_models_example_from_mnt_models(default_project, served_image, model_files):
    grpc_calls = _grpc_calls(served_image)
    report = kserve_runtime_smoke(default_project, served_image, model_files, extra_calls=grpc_calls)

    assert report.ok, f"{report.summary()}\n{report.docker_command}\n--- log ---\n{report.logs}"
    names = [check.name for check in report.checks]
    assert "readinessProbe GET /v2/health/ready on port 8080" in names
    assert "v2 infer, every call on one kept-alive connection" in names
    assert "gRPC infer on the runtime's grpc port" in names
    command = report.docker_command
    assert f"--volume {model_files}:/mnt/models:ro" in command
    assert "--read-only" in command
    assert "--user 10001:10001" in command
    # KServe's {{.Name}}: the model is served under the InferenceService's name.
    assert "--env MODEL_NAME=my-model" in command


def test_runtime_without_its_model_files_never_gets_ready(default_project, served_image, tmp_path):
    # The image's own model is not what the runtime serves: an empty storageUri folder fails.
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)

    report = kserve_runtime_smoke(default_project, served_image, empty, settle=SETTLE)

    assert not report.ok
    assert not any(check.name.startswith("v2 infer") for check in report.checks)
    assert "/mnt/models" in report.summary() + report.logs
