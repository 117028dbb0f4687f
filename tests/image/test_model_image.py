"""`make model-image`: the model apart from the serving image, in KServe's modelcar layout.

The two images are the ``model_images`` fixture's (the default image's own model, and one trained
with another seed), built by the rendered project's own Makefile target.
"""

from __future__ import annotations

import docker
import pytest

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
    assert {"model.joblib", "signature.json"} <= set(names)
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
