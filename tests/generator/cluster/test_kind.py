"""kind_unavailable_reason answers in seconds and names what is missing; never creates a cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from generator.cluster import kind as cluster


def test_reason_names_a_missing_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "which", lambda name: None)
    reason = cluster.kind_unavailable_reason()
    assert reason is not None
    assert reason.startswith("kind is not installed")


def test_answers_within_seconds_in_one_line() -> None:
    started = time.monotonic()
    reason = cluster.kind_unavailable_reason(timeout=10)
    assert time.monotonic() - started < 45
    assert reason is None or "\n" not in reason


def test_node_image_comes_from_env_then_config_then_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = tmp_path / "kind"
    default = "kindest/node:v1.37.0@sha256:" + "a" * 64
    kind.write_bytes(b"\x00\x01binary " + default.encode() + b" more\x00")
    config = tmp_path / "cluster.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n")
    monkeypatch.delenv(cluster.NODE_IMAGE_ENV, raising=False)
    assert cluster.node_image(kind, config) == default
    config.write_text(config.read_text() + "    image: kindest/node:v1.36.1\n")
    assert cluster.node_image(kind, config) == "kindest/node:v1.36.1"
    monkeypatch.setenv(cluster.NODE_IMAGE_ENV, "mirror.example/kindest/node:v1.35.0")
    assert cluster.node_image(kind, config) == "mirror.example/kindest/node:v1.35.0"


def test_installed_kind_names_its_default_node_image() -> None:
    kind = cluster.which("kind")
    if kind is None:
        pytest.skip("kind is not installed (run scripts/setup-k8s-tools.sh)")
    image = cluster.default_node_image(kind)
    assert image is not None
    assert image.startswith("kindest/node:v")
    assert "@sha256:" in image


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("kindest/node:v1.37.0@sha256:abc", "kindest/node@sha256:abc"),
        ("localhost:5000/kindest/node:v1@sha256:abc", "localhost:5000/kindest/node@sha256:abc"),
        ("localhost:5000/kindest/node@sha256:abc", "localhost:5000/kindest/node@sha256:abc"),
        ("kindest/node:v1.37.0", "kindest/node:v1.37.0"),
    ],
)
def test_digest_references_drop_their_tag(image: str, expected: str) -> None:
    assert cluster._without_tag_if_digest(image) == expected
