"""The apptainer tier: the project's image as a SIF file, run by Apptainer as on an HPC node.

One SIF per variant, made by the project's own ``make sif`` from the image the suite built; the
service is then started from it with ``apptainer run --containall`` (as the README says) and the
Dask variant's batch job with ``apptainer exec``. Apptainer runs the image as the calling user,
not the image's uid 10001, on its read-only root with only the bound ``/tmp`` writable.
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


def apptainer(*arguments: str | Path) -> list[str | Path]:
    return [require("apptainer"), *arguments]


def make_sif(image: PreparedImage, folder: Path) -> Sif:
    """Run the project's ``make sif`` on its built image, writing the SIF into ``folder``."""
    sif = folder / "image.sif"
    # Only the SIF path is written: the locked project copy is shared with other tests.
    run([require("make"), "-C", image.project, "sif", f"IMAGE={image.tag}", f"SIF={sif}"], timeout=1200)
    # The signature beside the image's MODEL_PATH, read from the SIF itself: the Docker image may
    # be gone by then (another test session on the same engine removes the tags it did not keep).
    script = 'cat "$(dirname "$MODEL_PATH")/signature.json"'
    signature = run(apptainer("exec", "--containall", *USERNS, sif, "sh", "-c", script)).stdout
    return Sif(sif, image, Example.from_signature(json.loads(signature)))


@pytest.fixture(scope="module")
def default_sif(
    render: RenderFn, image_of: Callable[[Path], PreparedImage], tmp_path_factory: pytest.TempPathFactory
) -> Sif:
    return make_sif(image_of(render()), tmp_path_factory.mktemp("sif-default"))


@pytest.fixture(scope="module")
def dask_sif(
    render: RenderFn, image_of: Callable[[Path], PreparedImage], tmp_path_factory: pytest.TempPathFactory
) -> Sif:
    return make_sif(image_of(render({"with_dask": True})), tmp_path_factory.mktemp("sif-dask"))


@dataclass(frozen=True)
class Served:
    """The service running from a SIF: its base URL and the host folder bound at ``/tmp``."""

    url: str
    scratch: Path


@pytest.fixture(scope="module")
def served(
    default_sif: Sif,
    tmp_path_factory: pytest.TempPathFactory,
    free_port: Callable[[], int],
    wait_ready: Callable[..., None],
) -> Iterator[Served]:
    """The service started from the SIF with the README's command, once; stopped at the end."""
    folder = tmp_path_factory.mktemp("served-sif")
    scratch = folder / "tmp"
    scratch.mkdir()
    port = free_port()
    log = folder / "apptainer.log"
    # Two workers, as on a node: the service then writes its metrics files under /tmp.
    command = apptainer(
        "run", "--containall", *USERNS,
        "--bind", f"{scratch}:/tmp",
        "--env", f"PORT={port}", "--env", "HOST=127.0.0.1", "--env", "WORKERS=2",
        default_sif.path,
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


def test_sif_serves_the_model_own_example_on_the_v2_infer_route(default_sif: Sif, served: Served) -> None:
    example = default_sif.example
    name = default_sif.answers["project_slug"]

    status, body = http("POST", f"{served.url}/v2/models/{name}/infer", example.infer_body())

    assert status == 200, body
    assert example.matches(infer_answer(body)), f"got {infer_answer(body)}, model says {example.predictions}"


def test_sif_service_writes_to_the_bound_tmp(served: Served) -> None:
    # The root is read-only: the workers' metrics files must land in the folder bound at /tmp.
    assert [path.name.startswith("prometheus-") for path in served.scratch.iterdir()] == [True]


def test_sif_files_are_readable_by_whoever_runs_it(default_sif: Sif) -> None:
    # Apptainer runs as the caller's uid, not the image's 10001: the venv and the model must be
    # readable (directories traversable) by any uid.
    script = (
        r"find /opt/venv /opt/model \( \( -type d ! -perm -o=rx \) -o \( -type f ! -perm -o=r \) \) -print"
    )

    result = run(apptainer("exec", "--containall", *USERNS, default_sif.path, "sh", "-c", script))

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


def test_sif_runs_the_batch_job_on_a_local_dask_cluster(dask_sif: Sif, tmp_path: Path) -> None:
    example = dask_sif.example
    data, scratch = tmp_path / "data", tmp_path / "tmp"
    data.mkdir()
    scratch.mkdir()
    ids = write_input(data / "rows.csv", example)
    package = dask_sif.answers["package_name"]

    result = run(
        apptainer(
            "exec", "--containall", *USERNS,
            "--bind", f"{scratch}:/tmp", "--bind", f"{data}:/data",
            dask_sif.path,
            "python", "-m", f"{package}.batch", "--input", "/data/rows.csv", "--output", "/data/predictions",
            "--output-format", "csv", "--workers", "2", "--no-progress",
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
