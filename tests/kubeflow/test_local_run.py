"""The pipeline run locally with kfp.local's Docker runner on the project's own built image.

Each step runs in the image as its non-root user, exactly as compiled; the artifacts that come out
are then checked in the image too (the test environment has no scikit-learn): the model loads and
predicts, the metrics pass the gate, the exported model is what the server then serves, and a
threshold above the model's score fails the run before anything is exported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from generator.containers.v2_client import image_example
from generator.engine.run import hardened_run_options, http, wait_ready

pytestmark = pytest.mark.docker

MIN_SCORE = 0.9  # the config's default, restated: a changed default should be a visible change
IMAGE_UID = 10001

# Loads an artifact with the package's own loader and predicts the rows given as JSON.
_PREDICT = """
import json, sys
from {package}.serving.artifact import load_model
print(json.dumps(load_model(sys.argv[1]).predict(json.loads(sys.argv[2])).tolist()))
"""


def _predict_in_image(image: str, package: str, model_dir: Path, rows: list[list[float]]) -> list[Any]:
    output = docker.from_env().containers.run(
        image,
        ["python", "-c", _PREDICT.format(package=package), "/mnt/model/model.joblib", json.dumps(rows)],
        remove=True,
        network_disabled=True,
        volumes={str(model_dir): {"bind": "/mnt/model", "mode": "ro"}},
        **hardened_run_options(),
    )
    return list(json.loads(output.decode().strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def passing(run_pipeline):
    return run_pipeline()


@pytest.fixture(scope="module")
def failing(run_pipeline):
    return run_pipeline(min_score=0.99)


@pytest.fixture(scope="module")
def baked(kfp_image) -> tuple[list[list[float]], list[Any]]:
    """The example rows and the predictions of the model baked into the image at build time."""
    example = image_example(kfp_image.tag)
    return example.rows, example.predictions


def test_pipeline_succeeds_on_the_project_image(passing, kfp_image):
    assert passing.returncode == 0, passing.output[-3000:]
    for task in ("train", "evaluate", "export"):
        assert f"Task '{task}' finished with status SUCCESS" in _plain(passing.output), task
    assert f"Found image '{kfp_image.tag}'" in passing.output


def test_trained_model_artifact_loads_and_predicts_like_the_image_build(passing, kfp_image, baked):
    rows, expected = baked
    model_dir = passing.artifact("train", "model")
    # Same code, same seed: the pipeline's model is the one the image build trained.
    assert _predict_in_image(kfp_image.tag, kfp_image.package, model_dir, rows) == expected


def test_metrics_pass_the_gate(passing):
    metrics = json.loads((passing.artifact("train", "model") / "metrics.json").read_text(encoding="utf-8"))
    report = json.loads(passing.artifact("evaluate", "report").read_text(encoding="utf-8"))
    assert metrics["accuracy"] >= MIN_SCORE
    assert report == {
        "metric": "accuracy",
        "score": metrics["accuracy"],
        "min_score": MIN_SCORE,
        "passed": True,
        "metrics": metrics,
    }


def test_steps_ran_as_the_image_user(passing):
    for path in (passing.artifact("train", "model") / "model.joblib", passing.artifact("evaluate", "report")):
        assert path.stat().st_uid == IMAGE_UID, path


def test_exported_model_is_served(passing, kfp_image, baked):
    config = yaml.safe_load((kfp_image.project / "deploy/kubeflow/config.yaml").read_text(encoding="utf-8"))
    store = config["model_store"]
    published = passing.store / store["model_dir"] / "model.joblib"
    assert published.read_bytes() == (passing.artifact("train", "model") / "model.joblib").read_bytes()
    # Serve it the way the chart does with the store mounted: MODEL_PATH into the claim, read-only.
    rows, expected = baked
    client = docker.from_env()
    container = client.containers.run(
        kfp_image.tag,
        detach=True,
        environment={"MODEL_PATH": f"{store['mount_path']}/{store['model_dir']}/model.joblib"},
        volumes={str(passing.store): {"bind": store["mount_path"], "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", None)},
        **hardened_run_options(),
    )
    try:
        container.reload()
        base_url = f"http://127.0.0.1:{container.ports['8080/tcp'][0]['HostPort']}"
        wait_ready(container, base_url, timeout=90)
        status, body = http("POST", f"{base_url}/predict", json.dumps({"instances": rows}).encode())
    finally:
        container.remove(force=True)
    assert status == 200, body
    assert body["predictions"] == expected


def test_a_threshold_above_the_score_fails_the_run_and_exports_nothing(failing):
    assert failing.returncode == 1, failing.output[-3000:]
    plain = _plain(failing.output)
    assert "Task 'evaluate' finished with status FAILURE" in plain
    assert "Task 'export'" not in plain
    report = json.loads(failing.artifact("evaluate", "report").read_text(encoding="utf-8"))
    assert (report["passed"], report["min_score"]) == (False, 0.99)
    assert list(failing.store.iterdir()) == []


def _plain(text: str) -> str:
    """kfp.local's log without its terminal colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
