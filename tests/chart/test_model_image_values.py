"""model.image: the model apart from the serving image, copied in by an init container or mounted
as an image volume, read-only at /mnt/models where the server's MODEL_DIR points."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Manifests = list[dict[str, Any]]
DIGEST = "sha256:" + "ab" * 32


def pod(manifests: Manifests, only: Any) -> dict[str, Any]:
    return only(manifests, "Deployment")["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value") for item in container.get("env") or []}


def test_without_a_model_image_the_image_serves_its_own_model(
    rendered: Callable[[str], Manifests], only: Any
):
    spec = pod(rendered("default"), only)
    assert "initContainers" not in spec
    [server] = spec["containers"]
    assert "MODEL_DIR" not in env_of(server)
    assert [volume["name"] for volume in spec["volumes"]] == ["tmp"]


def test_a_model_image_tag_copies_its_models_into_the_pod_for_the_server(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
):
    spec = pod(render_with({"model": {"image": {"tag": "2.0.0"}}}), only)
    [init] = spec["initContainers"]
    [server] = spec["containers"]
    # Where CI pushes it: the serving image's repository with -model.
    assert init["image"] == server["image"].rsplit(":", 1)[0] + "-model:2.0.0"
    assert init["command"] == ["cp", "-R", "/models/.", "/mnt/models/"]
    # Hardened like the server: non-root, read-only root, no capabilities; and bounded.
    assert init["securityContext"] == server["securityContext"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"requests", "limits"} <= set(init["resources"])
    assert init["volumeMounts"] == [{"name": "model", "mountPath": "/mnt/models"}]
    assert env_of(server)["MODEL_DIR"] == "/mnt/models"
    [mount] = [m for m in server["volumeMounts"] if m["name"] == "model"]
    assert mount == {"name": "model", "mountPath": "/mnt/models", "readOnly": True}
    [volume] = [v for v in spec["volumes"] if v["name"] == "model"]
    assert volume == {"name": "model", "emptyDir": {"sizeLimit": "1Gi"}}


def test_a_model_image_digest_wins_over_its_tag(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
):
    values = {"model": {"image": {"repository": "registry.example.com/m", "tag": "2.0.0", "digest": DIGEST}}}
    [init] = pod(render_with(values), only)["initContainers"]
    assert init["image"] == f"registry.example.com/m@{DIGEST}"


def test_an_image_volume_mounts_the_model_image_without_a_copy(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
):
    spec = pod(render_with({"model": {"image": {"tag": "2.0.0"}, "imageVolume": True}}), only)
    assert "initContainers" not in spec
    [server] = spec["containers"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "model"]
    assert volume["image"] == {
        "reference": server["image"].rsplit(":", 1)[0] + "-model:2.0.0",
        "pullPolicy": "IfNotPresent",
    }
    [mount] = [m for m in server["volumeMounts"] if m["name"] == "model"]
    assert mount == {"name": "model", "mountPath": "/mnt/models", "readOnly": True, "subPath": "models"}
    assert env_of(server)["MODEL_DIR"] == "/mnt/models"


def test_schema_refuses_a_misspelt_or_malformed_model_image(refusal: Callable[[dict[str, Any]], str]):
    assert "tags" in refusal({"model": {"image": {"tags": "2.0.0"}}})
    assert "digest" in refusal({"model": {"image": {"digest": "2.0.0"}}})
    assert "imageVolume" in refusal({"model": {"imageVolume": "yes"}})
