"""A new model shipped alone (`make model-image`) against a new serving image, same run, same model.

Prints (figures, not assertions):
- the model image's size, the model files' bytes in it and the serving image's size;
- the time to package a changed model, median of --repeat rounds: `make model-image` against
  `make build MODEL_SOURCE=imported` (the serving image with that model baked in, the way a
  model trained elsewhere ships without a model image), interleaved, warm caches for both;
- the load average before and after.

Each round changes the model's bytes (signature.json's trailing whitespace), so neither build is
a pure cache hit. Usage: python benchmarks/model_image.py [--repeat N]. Needs Docker with buildx,
a base image (scripts/setup-docker.sh), make and uv on PATH.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tarfile
import tempfile
import uuid
from pathlib import Path

import docker
from _project import buildable_default_project, timed_make

from generator.engine.image_store import image_size
from generator.process import run
from generator.tools import require

MB = 1_000_000


def _make(project: Path, *args: str) -> float:
    return timed_make(project, *args)


def _model_of(image: str, folder: Path) -> None:
    """The image's /opt/model into ``folder`` (what `make import-model` leaves in imported/)."""
    container = docker.from_env().containers.create(image)
    try:
        bits, _ = container.get_archive("/opt/model/.")
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as archive:
            archive.extractall(folder, filter="data")
    finally:
        container.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both builds (default 3)")
    args = parser.parse_args()
    docker_cli = require("docker")
    suffix = uuid.uuid4().hex[:8]
    serving, model = f"dsdeploy-bench/serving:{suffix}", f"dsdeploy-bench/serving-model:{suffix}"
    load_before = " ".join(f"{value:.1f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-model-image-") as tmp:
        project, common = buildable_default_project(Path(tmp) / "project")
        try:
            _make(project, "build", f"IMAGE={serving}", *common)  # warm: the trained model and every layer
            imported = project / "imported"
            imported.mkdir()
            _model_of(serving, imported)
            rounds: dict[str, list[float]] = {"model-image": [], "build": []}
            for round_ in range(args.repeat + 1):  # round 0 warms both caches and is not counted
                signature = imported / "signature.json"
                signature.write_text(signature.read_text().rstrip() + "\n" * (round_ + 1))
                builds = {
                    "model-image": ("model-image", "MODEL_DIR=imported", f"MODEL_IMAGE={model}", *common),
                    "build": ("build", "MODEL_SOURCE=imported", f"IMAGE={serving}", *common),
                }
                for name in sorted(builds, reverse=round_ % 2 == 1):  # alternate which goes first
                    seconds = _make(project, *builds[name])
                    if round_:
                        rounds[name].append(seconds)
            files = sum(path.stat().st_size for path in imported.iterdir())
            model_size, serving_size = image_size(model), image_size(serving)
        finally:
            run([docker_cli, "image", "rm", serving, model], check=False)
    print(f"model image          {model_size / MB:8.2f} MB  (model files {files / 1000:.1f} kB; busybox)")
    print(f"serving image        {serving_size / MB:8.2f} MB  ({serving_size / model_size:.0f}x the model)")
    median_model, median_build = statistics.median(rounds["model-image"]), statistics.median(rounds["build"])
    print(f"make model-image     {median_model:8.2f} s   (median of {args.repeat})")
    print(f"make build (imported){median_build:8.2f} s   ({median_build / median_model:.1f}x)")
    print(f"load average         {load_before} before, {' '.join(f'{v:.1f}' for v in os.getloadavg())} after")


if __name__ == "__main__":
    main()
