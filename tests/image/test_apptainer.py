"""The apptainer tier: the project's image as a SIF file, run by Apptainer as on an HPC node.

One SIF a run, made by the Dask project's own ``make sif`` from the image the Dask tier builds
too (the default project's service plus Dask, so it serves as the default does): the service is
started from it with ``apptainer run --containall`` (as the README says) and the batch job with
``apptainer exec``. Apptainer runs the image as the calling user,
not the image's uid 10001, on its read-only root with only the bound ``/tmp`` writable.

Where this host has no apptainer that starts (bookworm cannot install Debian's), every apptainer
command runs in the trixie container of :mod:`generator.image.apptainer_image`, as a non-root
user, and ``make sif`` takes its own container path with that image: the commands are the same.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.containers.batch import parse_summary
from generator.containers.v2_client import Example, infer_answer
from generator.engine.run import http
from generator.image.apptainer_image import (
    apptainer_command,
    apptainer_image_tag,
    native_apptainer,
    runner_uid,
)
from generator.image.project_image import PreparedImage
from generator.process import run
from generator.project.render import read_answers
from generator.tools import require

pytestmark = [pytest.mark.docker, pytest.mark.apptainer]

RenderFn = Callable[..., Path]

# As root, apptainer takes its privileged path and asks for every capability, which root inside
# a container or a locked-down VM lacks (here: CAP_SYS_RESOURCE). A user namespace is what an
# unprivileged HPC user gets anyway, so the tests run that way when they run as root.
USERNS = ["--userns"] if os.geteuid() == 0 else []


@dataclass(frozen=True)
class Sif:
    """A project's SIF, made by its ``make sif``, the image it was made from and its model's example."""

    path: Path
    image: PreparedImage
    example: Example

    @property
    def answers(self) -> dict[str, object]:
        return dict(read_answers(self.image.project))


def apptainer(
    *arguments: str | Path, binds: tuple[Path, ...] = (), name: str | None = None
) -> list[str | Path]:
    """``apptainer ARGUMENTS``: this host's own, or in the trixie container with ``binds`` shared.

    The container's apptainer runs as a non-root user already, so it needs no ``--userns``.
    """
    native = native_apptainer()
    if native is not None:
        return [native, *arguments[:1], *USERNS, *arguments[1:]]
    return apptainer_command(arguments, tag=apptainer_image_tag(), uid=runner_uid(), binds=binds, name=name)


def writable_by_runner(folder: Path) -> None:
    """Make ``folder`` writable by the uid apptainer runs as (root's tests run it as another)."""
    if os.getuid() == 0:
        os.chown(folder, runner_uid(), runner_uid())


def make_sif(image: PreparedImage, folder: Path) -> Sif:
    """Run the project's ``make sif`` on its built image, writing the SIF into ``folder``."""
    sif = folder / "image.sif"
    # Only the SIF path is written: the locked project copy is shared with other tests. Without a
    # native apptainer the Makefile takes its container path, with the tier's image.
    settings = [] if native_apptainer() else [f"APPTAINER_IMAGE={apptainer_image_tag()}"]
    # zstd at level 3: a fraction of gzip's time (benchmarks/sif.py), and squashfuse reads it.
    settings.append("SIF_SQUASHFS=-comp zstd -Xcompression-level 3")
    command = [require("make"), "-C", image.project, "sif", f"IMAGE={image.tag}", f"SIF={sif}", *settings]
    run(command, timeout=1200)
    # Any uid reads a SIF on a node; the folder pytest made is root's alone.
    folder.chmod(0o755)
    # The signature beside the image's MODEL_PATH, read from the SIF itself: the Docker image may
    # be gone by then (another test session on the same engine removes the tags it did not keep).
    script = 'cat "$(dirname "$MODEL_PATH")/signature.json"'
    signature = run(apptainer("exec", "--containall", sif, "sh", "-c", script, binds=(folder,))).stdout
    return Sif(sif, image, Example.from_signature(json.loads(signature)))


@pytest.fixture(scope="module")
def sif(
    render: RenderFn, image_of: Callable[[Path], PreparedImage], tmp_path_factory: pytest.TempPathFactory
) -> Sif:
    """The Dask project's SIF: squashing an image costs a minute, so one serves every test."""
    return make_sif(image_of(render({"with_dask": True})), tmp_path_factory.mktemp("sif"))


@dataclass(frozen=True)
class Served:
    """The service running from a SIF: its base URL and the host folder bound at ``/tmp``."""

    url: str
    scratch: Path


@pytest.fixture(scope="module")
def served(
    sif: Sif,
    tmp_path_factory: pytest.TempPathFactory,
    free_port: Callable[[], int],
    wait_ready: Callable[..., None],
) -> Iterator[Served]:
    """The service started from the SIF with the README's command, once; stopped at the end."""
    folder = tmp_path_factory.mktemp("served-sif")
    scratch = folder / "tmp"
    scratch.mkdir()
    writable_by_runner(scratch)
    port = free_port()
    log = folder / "apptainer.log"
    name = f"dsdeploy-apptainer-{port}"
    # Two workers, as on a node: the service then writes its metrics files under /tmp.
    command = apptainer(
        "run", "--containall",
        "--bind", f"{scratch}:/tmp",
        "--env", f"PORT={port}", "--env", "HOST=127.0.0.1", "--env", "WORKERS=2",
        sif.path,
        binds=(scratch, sif.path.parent), name=name,
    )  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, 180, log)
        yield Served(url, scratch)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        if native_apptainer() is None:  # the container, should its client have gone first
            run([require("docker"), "rm", "--force", name], check=False)


def test_sif_serves_the_model_own_example_on_the_v2_infer_route(sif: Sif, served: Served) -> None:
    example = sif.example
    name = sif.answers["project_slug"]

    status, body = http("POST", f"{served.url}/v2/models/{name}/infer", example.infer_body())

    assert status == 200, body
    assert example.matches(infer_answer(body)), f"got {infer_answer(body)}, model says {example.predictions}"


def test_sif_service_writes_to_the_bound_tmp(served: Served) -> None:
    # The root is read-only: the workers' metrics files must land in the folder bound at /tmp.
    assert [path.name.startswith("prometheus-") for path in served.scratch.iterdir()] == [True]


def test_sif_files_are_readable_by_whoever_runs_it(sif: Sif) -> None:
    # Apptainer runs as the caller's uid, not the image's 10001: the venv and the model must be
    # readable (directories traversable) by any uid.
    script = (
        r"find /opt/venv /opt/model \( \( -type d ! -perm -o=rx \) -o \( -type f ! -perm -o=r \) \) -print"
    )

    result = run(apptainer("exec", "--containall", sif.path, "sh", "-c", script, binds=(sif.path.parent,)))

    assert result.stdout.split() == []


def write_input(path: Path, example: Example) -> list[str]:
    """The example rows as a CSV, each with an id; return the ids in row order."""
    ids = [f"row-{index}" for index in range(len(example.rows))]
    with path.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(["id", *(column["name"] for column in example.columns)])
        writer.writerows([key, *row] for key, row in zip(ids, example.rows, strict=True))
    return ids


def _value(text: str) -> object:
    """A CSV cell as the number it holds, or the text (string class labels)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_sif_runs_the_batch_job_on_a_local_dask_cluster(sif: Sif, tmp_path: Path) -> None:
    example = sif.example
    data, scratch = tmp_path / "data", tmp_path / "tmp"
    data.mkdir()
    scratch.mkdir()
    ids = write_input(data / "rows.csv", example)
    for folder in (data, scratch):
        writable_by_runner(folder)
    package = sif.answers["package_name"]

    result = run(
        apptainer(
            "exec", "--containall",
            "--bind", f"{scratch}:/tmp", "--bind", f"{data}:/data",
            sif.path,
            "python", "-m", f"{package}.batch", "--input", "/data/rows.csv", "--output", "/data/predictions",
            "--output-format", "csv", "--workers", "2", "--no-progress",
            binds=(scratch, data, sif.path.parent),
        ),
        timeout=600,
    )  # fmt: skip

    records = []
    for part in sorted((data / "predictions").glob("part-*.csv")):
        with part.open(newline="", encoding="utf-8") as source:
            records.extend(csv.DictReader(source))
    got = {record["id"]: _value(record["prediction"]) for record in records}
    assert parse_summary(result.stdout)["rows"] == len(records) == len(ids)
    assert set(got) == set(ids)
    answers = [got[key] for key in ids]
    assert example.matches(answers), f"got {answers}, model says {example.predictions}"
