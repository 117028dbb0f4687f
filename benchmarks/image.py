"""Image figures for the default variant, against a naive single-stage build in the same run.

Prints (figures, not assertions; the issue's goals are shown beside them):
- image size, and the size it adds on top of its base image (goal: under 250 MB);
- cold build time: no layer cache and, unless --warm-downloads, uv's download cache pruned;
- rebuild time after a source-only change, and its ratio to the cold build (goal: under 15%);
- container start to ready, median of 5 (goal: under 3 s), and the CPU time the container used
  until ready (independent of other load on the machine);
- a naive single-stage Dockerfile of the same app (pip install of the project into a venv on
  the same base, training in the same image): its size, cold build time, and the size ratio.

Usage: python benchmarks/image.py [--warm-downloads] [--ca-bundle FILE] [--verbose]
Needs a Docker engine with buildx and a base image (scripts/setup-docker.sh prepares both).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from generator.console import live_allowed, stderr_console
from generator.console import progress as tracked
from generator.engine.image_store import image_size
from generator.engine.run import running, wait_ready
from generator.image.build import BuildResult, choose_base_image
from generator.image.project_image import ImagePrerequisiteMissing, lock, prepare_image, system_ca_bundle
from generator.process import run
from generator.project.render import read_answers, render_project
from generator.project.variants import default_variant
from generator.tools import require

STDERR = stderr_console()

MB = 1_000_000

# What a first Dockerfile often looks like: one stage, pip resolving at build time (no lock),
# build tools and caches left in, trained in place. A venv because Debian's python3 refuses
# system-wide pip installs (PEP 668) and has no pip module of its own.
NAIVE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
WORKDIR /app
COPY . .
RUN --mount=type=secret,id=ca_bundle \\
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \\
    && python3 -m venv /opt/venv && /opt/venv/bin/pip install . \\
    && /opt/venv/bin/python -m {package}.train --output /opt/model
ENV PATH=/opt/venv/bin:$PATH MODEL_PATH=/opt/model/model.joblib
USER 10001
CMD ["python", "-m", "{package}.serve"]
"""


def _fresh_base(base: str, scratch: Path, docker: Path) -> str:
    """``base`` plus a one-file layer: BuildKit keys an image by its layers, not its config."""
    context = scratch / "fresh-base"
    context.mkdir()
    (context / "stamp").write_text(uuid.uuid4().hex)
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY stamp /etc/dsdeploy-bench-stamp\n")
    tag = f"dsdeploy-bench/base:{uuid.uuid4().hex[:12]}"
    run([docker, "buildx", "build", "--quiet", "--tag", tag, context], timeout=300)
    return tag


def _build(
    project: Path,
    workdir: Path,
    tag: str,
    base: str,
    ca: Path | None,
    verbose: bool,
    dockerfile: Path | None = None,
) -> BuildResult:
    # The one build path (a locked copy per build); the project is locked already, so it stays as is.
    # BuildKit's lines go to stderr: the latest beside a live spinner, all of them with --verbose.
    with tracked(STDERR, f"building {tag}") as tracker:
        shown = verbose or live_allowed(STDERR)
        prepared = prepare_image(
            project, workdir, base_image=base, ca_bundle=ca, tag=tag, relock=False, dockerfile=dockerfile,
            progress=tracker.step if shown else (lambda line: None),
        )  # fmt: skip
        return prepared.result


def _start(image: str) -> tuple[float, float]:
    """Wall seconds from start to ready, and the CPU seconds the container used by then.

    On a shared machine the wall time follows the load; the CPU time is what the image costs.
    """
    started = time.monotonic()
    with running(image) as (container, base_url):
        wall = wait_ready(container, base_url, started=started)
        stats = container.stats(stream=False)
    return wall, stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _row(label: str, value: str, note: str = "") -> None:
    print(f"{label:<26}{value:>10}" + (f"   ({note})" if note else ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--warm-downloads", action="store_true", help="keep BuildKit cache mounts (uv downloads)"
    )
    parser.add_argument("--ca-bundle", type=Path, default=system_ca_bundle())
    parser.add_argument("--starts", type=int, default=5, help="container starts for the ready median")
    parser.add_argument("--verbose", action="store_true", help="stream BuildKit's output")
    args = parser.parse_args()
    docker = require("docker")

    with tempfile.TemporaryDirectory(prefix="dsdeploy-bench-image-") as tmp:
        project = render_project(Path(tmp) / "project", default_variant().as_dict())
        answers = read_answers(project)
        version, package = str(answers["python_version"]), str(answers["package_name"])
        try:
            lock(project)  # once: every build's copy carries this uv.lock
        except ImagePrerequisiteMissing as exc:
            sys.exit(str(exc))
        base = choose_base_image(version)
        if base is None:
            sys.exit(f"no base image for Python {version}: run scripts/setup-docker.sh")
        tag = f"dsdeploy-bench/{answers['project_slug']}"
        print(f"default variant: Python {version} on {base}")

        if not args.warm_downloads:
            # Cold means cold: uv's download cache lives in a BuildKit cache mount.
            run([docker, "buildx", "prune", "--force", "--filter", "type=exec.cachemount"], timeout=300)
        # A base with a fresh id starts a fresh cache chain, so the cold build is a normal first
        # build (--no-cache would skip the content hashing a first build does, and shift it onto
        # the rebuild), and the layer cache of other images stays untouched.
        base = _fresh_base(base, Path(tmp), docker)
        cold = _build(project, Path(tmp) / "cold", f"{tag}:cold", base, args.ca_bundle, args.verbose)

        serve = next((project / "src").glob("*/serve.py"))
        serve.write_text(
            serve.read_text(encoding="utf-8") + f"\n# edit {uuid.uuid4().hex}\n", encoding="utf-8"
        )
        rebuild = _build(project, Path(tmp) / "edited", f"{tag}:edited", base, args.ca_bundle, args.verbose)
        reused = sum(step.cached for step in rebuild.steps)

        size, base_size = image_size(rebuild.tag), image_size(base)
        starts = []
        with tracked(STDERR, "start to ready", total=args.starts) as tracker:
            for _ in range(args.starts):
                starts.append(_start(rebuild.tag))
                tracker.advance(f"{starts[-1][0]:.2f} s")
        ready, cpu = [wall for wall, _ in starts], [used for _, used in starts]

        naive_file = Path(tmp) / "Dockerfile.naive"
        naive_file.write_text(NAIVE_DOCKERFILE.format(package=package), encoding="utf-8")
        naive = _build(
            project, Path(tmp) / "naive", f"{tag}:naive", base, args.ca_bundle, args.verbose, naive_file
        )
        naive_size = image_size(naive.tag)

    ratio = rebuild.seconds / cold.seconds
    cache_note = "downloads cached" if args.warm_downloads else "download cache pruned"
    ready_runs = ", ".join(f"{seconds:.2f}" for seconds in ready)
    _row("image size", f"{size / MB:.1f} MB")
    _row("added over base", f"{(size - base_size) / MB:.1f} MB", f"base {base_size / MB:.1f} MB; goal < 250")
    _row("cold build", f"{cold.seconds:.1f} s", f"no layer cache, {cache_note}")
    _row("rebuild after src edit", f"{rebuild.seconds:.1f} s", f"{reused}/{len(rebuild.steps)} steps cached")
    _row("rebuild / cold", f"{ratio:.1%}", "goal < 15%")
    _row("start to ready, median", f"{statistics.median(ready):.2f} s", f"of {ready_runs}; goal < 3")
    _row("  CPU used until ready", f"{statistics.median(cpu):.2f} s", f"median; load average now {_load()}")
    _row(
        "naive single-stage size",
        f"{naive_size / MB:.1f} MB",
        f"added {(naive_size - base_size) / MB:.1f} MB",
    )
    _row("naive cold build", f"{naive.seconds:.1f} s")
    _row("naive / multi-stage size", f"{naive_size / size:.2f}x")
    slowest = sorted(rebuild.steps, key=lambda step: step.seconds, reverse=True)[:3]
    print(
        "rebuild's slowest steps   " + "; ".join(f"{step.seconds:.1f} s {step.name[:48]}" for step in slowest)
    )
    for image in (cold.tag, rebuild.tag, naive.tag, base):
        subprocess.run([str(docker), "image", "rm", image], capture_output=True, check=False)


if __name__ == "__main__":
    main()
