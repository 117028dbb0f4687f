"""Tier 3: the batch job on a real distributed Dask cluster made of the project image.

One scheduler and two worker containers on a Docker network of their own, all as uid 10001 with
a read-only root and a tmpfs /tmp; the job runs from a third container. Every input row must come
out exactly once, with the label the service (same image) gives that row through ``/predict``, and
the drift report beside the predictions must compare every partition's rows with the training profile.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from generator.containers.batch import dask_cluster, leftovers, run_batch_job
from generator.engine.run import http, running, wait_ready
from generator.image.build import BuildResult
from generator.project.render import read_answers

FILES = 6
ROWS_PER_FILE = 40_000
# CSV blocks of 512 kB split each ~1.2 MB file into several partitions.
BLOCKSIZE = "512kB"
PREDICT_CHUNK = 5_000
HEALTH_CHECK = (
    "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8787/health', timeout=5).read().decode())"
)

pytestmark = pytest.mark.docker


def write_input(folder: Path, features: list[str]) -> dict[str, list[float]]:
    """Write FILES CSV files of random feature rows with unique ids; return the rows by id."""
    rng = random.Random(20261127)
    rows: dict[str, list[float]] = {}
    for number in range(FILES):
        with (folder / f"rows-{number}.csv").open("w", newline="", encoding="utf-8") as sink:
            writer = csv.writer(sink)
            writer.writerow(["id", *features])
            for index in range(ROWS_PER_FILE):
                key = f"r{number}-{index:06d}"
                # Spread over the iris measurements' range so every class comes out.
                rows[key] = [round(rng.uniform(0.1, 7.9), 2) for _ in features]
                writer.writerow([key, *rows[key]])
    return rows


def read_output(folder: Path) -> tuple[Counter[str], dict[str, int]]:
    """How often each id was written, and its prediction."""
    seen: Counter[str] = Counter()
    predictions: dict[str, int] = {}
    for path in sorted(folder.glob("part-*.csv")):
        with path.open(newline="", encoding="utf-8") as source:
            for record in csv.DictReader(source):
                seen[record["id"]] += 1
                predictions[record["id"]] = int(record["prediction"])
    return seen, predictions


def read_report(folder: Path) -> tuple[dict, str]:
    """The drift report the job wrote beside its predictions: the JSON, and the HTML page."""
    report = json.loads((folder / "_drift.json").read_text(encoding="utf-8"))
    return report, (folder / "_drift.html").read_text(encoding="utf-8")


def service_predictions(base_url: str, rows: dict[str, list[float]]) -> dict[str, int]:
    """The service's ``/predict`` answer for every row, asked in chunks under MAX_ROWS."""
    keys = list(rows)
    answers: dict[str, int] = {}
    for start in range(0, len(keys), PREDICT_CHUNK):
        chunk = keys[start : start + PREDICT_CHUNK]
        body = json.dumps({"instances": [rows[key] for key in chunk]}).encode()
        status, reply = http("POST", f"{base_url}/predict", body)
        assert status == 200, reply
        answers.update(zip(chunk, reply["predictions"], strict=True))
    return answers


def test_every_row_scored_once_as_the_service_scores_it(
    dask_image: tuple[Path, BuildResult],
    dask_package: str,
    tmp_path: Path,
    record_figure: Callable[[str], None],
) -> None:
    project, build = dask_image
    slug = read_answers(project)["project_slug"]
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    # The containers run as uid 10001; the host folder belongs to whoever runs the tests.
    output_dir.chmod(0o777)
    with running(build.tag) as (service, base_url):
        wait_ready(service, base_url)
        status, metadata = http("GET", f"{base_url}/v2/models/{slug}")
        assert status == 200, metadata
        rows = write_input(input_dir, list(metadata["parameters"]["feature_names"]))
        mounts = {input_dir: ("/data/input", True), output_dir: ("/data/output", False)}
        with dask_cluster(build.tag, workers=2, mounts=mounts) as cluster:
            engine = docker.from_env()
            for name in (cluster.scheduler, *cluster.workers):
                config = engine.containers.get(name).attrs
                assert config["Config"]["User"] == "10001"
                assert config["HostConfig"]["ReadonlyRootfs"] is True
            # The chart probes the scheduler on this route; it must answer without the dashboard.
            code, health = engine.containers.get(cluster.scheduler).exec_run(
                ["python", "-c", HEALTH_CHECK], user="10001"
            )
            assert (code, health.decode().strip()) == (0, "ok")
            job = run_batch_job(
                cluster,
                dask_package,
                [
                    *("--input", "/data/input/*.csv", "--output", "/data/output"),
                    *("--output-format", "csv", "--blocksize", BLOCKSIZE),
                ],
            )
        seen, predictions = read_output(output_dir)
        report, page = read_report(output_dir)
        features = list(metadata["parameters"]["feature_names"])
        expected = service_predictions(base_url, rows)

    assert leftovers() == []  # containers and network removed
    assert job.rows == len(rows) == FILES * ROWS_PER_FILE
    assert set(seen) == set(rows)
    assert [key for key, count in seen.items() if count != 1] == []
    assert job.partitions > FILES  # the blocksize split files, not just one partition per file
    assert job.workers == 2
    assert len(job.summary["tasks_per_worker"]) == 2  # both workers scored partitions
    mismatches = [key for key in rows if predictions[key] != expected[key]]
    assert mismatches == []
    assert len(set(predictions.values())) > 1  # a constant answer would hide a broken model
    # Uniform rows over the whole measurement range are far from iris: every feature drifts, and
    # the counts of every partition, summed on the job's side, cover every row.
    assert report["rows"]["scored"] == job.rows
    assert sorted(report["drifted"]) == sorted(features) == sorted(job.summary["drifted"])
    assert [sum(item["scored_counts"]) for item in report["features"]] == [job.rows] * len(features)
    assert page.count("<svg") == len(features) + 1  # one plot per feature, and the answers'
    record_figure(
        f"container cluster: {job.rows} rows, {job.partitions} partitions, {job.workers} workers "
        f"(tasks {dict(job.summary['tasks_per_worker'])}), scoring {job.summary['seconds']:.1f} s, "
        f"job container {job.wall_seconds:.1f} s, image {build.tag}; drift report PSI "
        + ", ".join(f"{item['name']} {item['psi']:.2f}" for item in report["features"])
    )
