"""`make model-image`: the model apart from the serving image, in KServe's modelcar layout.

The two images are the ``model_images`` fixture's (the default image's own model, and one trained
with another seed), built by the rendered project's own Makefile target.
"""

from __future__ import annotations

import json

import docker
import pytest

from generator.containers.podspec.smoke import podspec_smoke
from generator.engine.image_store import image_config

pytestmark = pytest.mark.docker

#: A static busybox is about 2 MB; the default model's files are a few kilobytes.
MAX_BYTES = 4 * 1024 * 1024


def test_model_image_holds_the_model_under_models_readable_by_any_uid(model_images):
    client = docker.from_env()
    config = image_config(model_images.v1)
    assert config["User"] == "65532:65532"
    # As the KServe sidecar and the chart's init container run it: another uid, read-only root, no caps.
    read = "ls -ln /models && cat /models/model.joblib /models/signature.json >/dev/null && echo read"
    listing = client.containers.run(
        model_images.v1,
        ["sh", "-c", read],
        user="12345",
        read_only=True,
        cap_drop=["ALL"],
        remove=True,
    ).decode()
    names = {line.split()[-1]: line.split()[0] for line in listing.splitlines() if line.startswith("-")}
    assert set(names) == {path.name for path in model_images.folders["v1"].iterdir()}
    assert {"model.joblib", "signature.json", "profile.json"} <= set(names)  # profile: the drift reference
    # Root's, readable by all, writable by none but root (model.joblib is written 0600 by training).
    assert set(names.values()) == {"-rw-r--r--"}, listing
    assert listing.rstrip().endswith("read")
    # What KServe's modelcar sidecar runs: a link to its /models, then sleep.
    linked = client.containers.run(
        model_images.v1,
        ["sh", "-c", "ln -sf /proc/$$/root/models /tmp/models && ls /tmp/models/ && sleep 0"],
        user="12345",
        tmpfs={"/tmp": "rw"},
        remove=True,
    ).decode()
    assert "model.joblib" in linked
    size = client.images.get(model_images.v1).attrs["Size"]
    assert size < MAX_BYTES, f"model image is {size} bytes"


def test_the_charts_init_container_serves_the_model_image_on_docker(default_image, model_images, tmp_path):
    # The chart's own model-image values set, pointed at the local v2 model image: the pod-spec
    # smoke runs the init container (the model image's cp) into a shared emptyDir, then the server.
    repository, tag = model_images.v2.rsplit(":", 1)
    values = tmp_path / "local-model-image.yaml"
    model = {"image": {"repository": repository, "tag": tag, "digest": "", "pullPolicy": "Never"}}
    values.write_text(json.dumps({"model": model}), encoding="utf-8")

    report = podspec_smoke(default_image.project, default_image.tag, "model-image", values=[values])

    assert report.ok, f"{report.summary()}\n{report.docker_command}\n--- log ---\n{report.logs}"
    names = [check.name for check in report.checks]
    assert names.index("init container model") < names.index("v2 infer through the Service's targetPort")
    assert "/mnt/models:ro" in report.docker_command
    assert "from /mnt/models/model.joblib" in report.logs
