"""kind clusters: can one be created here; create, load an image, write a kubeconfig, delete.

:func:`kind_unavailable_reason` answers in seconds, without trying to create a cluster: kind
fails only after pulling for a while when its node image cannot be had, and a test tier that
waits minutes to find that out is a tier nobody runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from generator.errors import CommandFailed, CommandTimedOut, GeneratorError
from generator.process import ProgressFn, ignore_progress, run
from generator.tools import install_hint, require, which

# Overrides the node image everywhere (kind's own `--image` flag, set from here by deploys).
NODE_IMAGE_ENV = "KIND_NODE_IMAGE"
_DEFAULT_IMAGE = re.compile(rb"kindest/node:v[0-9][0-9.]*@sha256:[0-9a-f]{64}")


def default_node_image(kind: Path) -> str | None:
    """The node image ``kind`` uses by default, read from the kind binary.

    HACK: kind has no command that prints its default node image; the reference is a constant
    string in the binary, so it is read from there (about 10 MB, a few milliseconds).
    """
    try:
        match = _DEFAULT_IMAGE.search(kind.resolve().read_bytes())
    except OSError:
        return None
    return match.group().decode() if match else None


def node_image(kind: Path, config: Path | None = None) -> str | None:
    """The node image a ``kind create cluster`` would use.

    Order: ``$KIND_NODE_IMAGE``; the first ``image:`` of the cluster config's nodes; kind's default.
    """
    if os.environ.get(NODE_IMAGE_ENV):
        return os.environ[NODE_IMAGE_ENV]
    if config is not None and config.is_file():
        nodes = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("nodes") or []
        for node in nodes:
            if isinstance(node, dict) and node.get("image"):
                return str(node["image"])
    return default_node_image(kind)


def _without_tag_if_digest(image: str) -> str:
    # "name:tag@sha256:..." -> "name@sha256:...": registries resolve digests; tags beside them are noise.
    if "@" not in image:
        return image
    name, digest = image.split("@", 1)
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return f"{name}@{digest}"


def _image_present(docker: Path, image: str) -> bool:
    # A digest reference matches only images pulled by digest; an image loaded with `docker load`
    # carries the tag alone, which kind also accepts, so try both.
    candidates = [image, image.split("@", 1)[0]] if "@" in image else [image]
    for candidate in candidates:
        if (
            run(
                [docker, "image", "inspect", "--format", "{{.Id}}", candidate], timeout=15, check=False
            ).returncode
            == 0
        ):
            return True
    return False


def kind_unavailable_reason(*, config: Path | None = None, timeout: float = 15) -> str | None:
    """Why kind cannot create a cluster here, in one line, or None when it can.

    Checks, in order and each within ``timeout`` seconds: kind is installed; a Docker engine
    answers; the node image is present locally or its manifest can be fetched from its
    registry (``docker manifest inspect``, which asks the registry without pulling layers).

    Args:
        config: A kind cluster config whose node image to check (default: kind's default image).
        timeout: Seconds allowed for each probe.
    """
    kind = which("kind")
    if kind is None:
        return f"kind is not installed ({install_hint('kind')})"
    docker = which("docker")
    if docker is None:
        return "kind needs Docker, and no docker client is on PATH (run scripts/setup-docker.sh)"
    try:
        run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=timeout)
    except (CommandFailed, CommandTimedOut):
        return "kind needs a Docker engine, and none answers `docker info` (run scripts/setup-docker.sh)"
    image = node_image(kind, config)
    if image is None:
        return f"cannot tell which node image {kind} uses; set {NODE_IMAGE_ENV}"
    if _image_present(docker, image):
        return None
    try:
        probe = run(
            [docker, "manifest", "inspect", _without_tag_if_digest(image)], timeout=timeout, check=False
        )
    except CommandTimedOut:
        return f"kind node image {image} is absent locally and its registry gave no answer in {timeout:.0f} s"
    if probe.returncode == 0:
        return None
    lines = (probe.stderr or probe.stdout).strip().splitlines()
    why = lines[-1] if lines else f"exit code {probe.returncode}"
    return f"kind node image {image} is not present locally and cannot be pulled ({why})"


# --- Creating, loading and removing clusters ------------------------------------------------
# Each command line is built by a function of its own so that tests (and the generated Makefile's
# review) can compare them without a cluster.

CREATE_WAIT = "120s"


def config_cluster_name(config: Path) -> str | None:
    """The ``name:`` a kind cluster config gives its cluster, if any."""
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    name = data.get("name")
    return str(name) if name else None


def create_command(kind: Path, name: str, config: Path, image: str | None = None) -> list[str]:
    """``kind create cluster`` for ``name`` from ``config`` (``--image`` from ``$KIND_NODE_IMAGE``)."""
    command = [str(kind), "create", "cluster", "--name", name, "--config", str(config), "--wait", CREATE_WAIT]
    return [*command, "--image", image] if image else command


def load_command(kind: Path, name: str, image: str) -> list[str]:
    """``kind load docker-image``: copy a local image onto the cluster's nodes (no registry)."""
    return [str(kind), "load", "docker-image", image, "--name", name]


def delete_command(kind: Path, name: str) -> list[str]:
    """``kind delete cluster`` for ``name``."""
    return [str(kind), "delete", "cluster", "--name", name]


def cluster_exists(name: str) -> bool:
    """Whether kind knows a cluster called ``name``."""
    output = run([require("kind"), "get", "clusters"], timeout=30).stdout
    return name in output.split()


def create_cluster(
    name: str, config: Path, *, progress: ProgressFn = ignore_progress, timeout: float = 600
) -> None:
    """Create kind cluster ``name`` from ``config``, first making sure kind can (in seconds).

    Raises:
        GeneratorError: kind cannot create a cluster here (the one-line reason), or creating failed.
    """
    reason = kind_unavailable_reason(config=config)
    if reason is not None:
        raise GeneratorError(f"cannot create kind cluster {name}: {reason}")
    kind = require("kind")
    image = os.environ.get(NODE_IMAGE_ENV) or None
    run(create_command(kind, name, config, image), progress=progress, timeout=timeout)


def delete_cluster(name: str, *, timeout: float = 300) -> None:
    """Delete kind cluster ``name`` (kind succeeds when there is none)."""
    run(delete_command(require("kind"), name), timeout=timeout)


def load_image(name: str, image: str, *, timeout: float = 600) -> None:
    """Put local image ``image`` on every node of cluster ``name``."""
    run(load_command(require("kind"), name, image), timeout=timeout)


def write_kubeconfig(name: str, path: Path) -> Path:
    """Write cluster ``name``'s kubeconfig to ``path`` and return it.

    Deploys use their own kubeconfig file rather than the user's current context, so they can
    never act on another cluster whatever ``kubectl config current-context`` says.
    """
    text = run([require("kind"), "get", "kubeconfig", "--name", name], timeout=30).stdout
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path
