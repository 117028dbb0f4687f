"""Issue 31: a model saved by its own library answers the same through the served image.

For each format `make import-model` takes (an MLflow model folder of the sklearn, xgboost and
lightgbm flavours, the sklearn one also as MLflow 2 pickled it, which is imported through the
sandbox's container; a skops file, XGBoost's native JSON, LightGBM's text file), a classifier is
saved by that library (tests/image/data/make_sources.py, in the project's own environment with
mlflow-skinny and skops beside it: the library versions its image has), imported by the
project's own `make import-model`, baked in by `make build MODEL_SOURCE=imported` and served by
one container per format. The service's labels must equal the source library's own, and its
probabilities lie within 1e-9 of them, on every row; each format's figures (rows compared,
largest difference, seconds) go to the junit properties (``--junitxml -o junit_family=legacy``).

Cost: one project per framework, each a copy of a project whose image the suite already builds
(the default project, the XGBoost and LightGBM swaps), so every build reuses the dependency
layers and runs only the model's two layers.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.engine.run import http, running, wait_ready
from generator.image.build import project_python_version
from generator.image.project_image import PreparedImage
from generator.process import run
from generator.project.render import read_answers
from generator.tools import find_python, require

pytestmark = pytest.mark.docker

SOURCES_SCRIPT = Path(__file__).parent / "data" / "make_sources.py"
#: The furthest a served probability may lie from the source library's.
TOLERANCE = 1e-9
#: The project each framework's formats are imported into: one whose image the suite builds.
FRAMEWORKS = {
    "sklearn": None,  # the default project
    "xgboost": "xgboost-diabetes-regression",
    "lightgbm": "lightgbm-mixed-table",
}
#: The formats each framework's project imports (make_sources.py saves them).
FORMATS = {
    "sklearn": ("mlflow-sklearn", "mlflow-sklearn-pickle", "skops"),
    "xgboost": ("xgboost-json", "mlflow-xgboost"),
    "lightgbm": ("lightgbm-text", "mlflow-lightgbm"),
}


def _environment(project: Path) -> dict[str, str]:
    """The user's shell: uv on PATH, the project's Python found here, never downloaded."""
    unset = ("VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["UV_PYTHON_DOWNLOADS"] = "never"
    python = find_python(project_python_version(project))
    if python is None:
        pytest.skip(f"no Python {project_python_version(project)} interpreter here (pyenv or PATH)")
    env["UV_PYTHON"] = str(python)
    return env


def _make(project: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["make", *args], cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"make {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _sources(project: Path, env: dict[str, str], framework: str, out: Path) -> dict[str, Any]:
    """The framework's models, saved by their libraries, with those libraries' answers."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("mlflow-skinny", "skops")]
    overlay = [arg for pin in pins for arg in ("--with", pin)]
    command = [require("uv"), "run", "--frozen", *overlay, "--with", "pandas", "python", SOURCES_SCRIPT]
    run([*command, framework, out], cwd=project, env={**env, "MLFLOW_LOGGING_LEVEL": "ERROR"}, timeout=900)
    return json.loads((out / "sources.json").read_text(encoding="utf-8"))


def _served(url: str, name: str, rows: list[list[float]]) -> tuple[list[Any], list[list[float]]]:
    """Labels and probabilities of ``rows`` from the running service's v2 infer route."""
    flat = [value for row in rows for value in row]
    body = {
        "inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": flat}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    status, answer = http("POST", f"{url}/v2/models/{name}/infer", json.dumps(body).encode())
    assert status == 200, answer
    outputs = {output["name"]: output for output in answer["outputs"]}
    width = outputs["predict_proba"]["shape"][1]
    data = outputs["predict_proba"]["data"]
    return outputs["predict"]["data"], [data[i : i + width] for i in range(0, len(data), width)]


def _largest_difference(got: list[list[float]], want: list[list[float]]) -> float:
    assert len(got) == len(want)
    return max(abs(a - b) for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=True))


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_each_format_answers_through_the_image_as_its_own_library(
    framework: str,
    default_image: PreparedImage,
    build: Callable[[Path], PreparedImage],
    swapped: Callable[[str], Path],
    ca_bundle: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # record_property's list, without its warning under junit_family xunit2 (which drops properties).
    def record_property(name: str, value: object) -> None:
        request.node.user_properties.append((name, value))

    swap = FRAMEWORKS[framework]
    built = default_image if swap is None else build(swapped(swap))
    project = tmp_path / built.project.name
    shutil.copytree(built.project, project, ignore=shutil.ignore_patterns(".venv", "imported"))
    env = _environment(project)
    started = time.monotonic()
    sources = _sources(project, env, framework, tmp_path / "sources")
    record_property(f"equality-{framework}-sources-seconds", round(time.monotonic() - started, 1))
    name = str(read_answers(project)["project_slug"])
    docker = require("docker")
    for source_format in FORMATS[framework]:
        source = sources[source_format]
        format_started = time.monotonic()
        model = tmp_path / "sources" / source["model"]
        example = tmp_path / "sources" / "example.json"
        # The base image and CA as for the build: a pickle's import builds the sandbox's deps stage.
        base = (f"BASE_IMAGE={built.result.base_image}", f"CA_BUNDLE={ca_bundle.path}")
        imported = _make(project, env, "import-model", f"MODEL={model}", f"EXAMPLE={example}", *base)
        # Only a pickle goes through the sandbox: its import says so, the others' must not.
        assert ("in a docker sandbox" in imported) == source_format.endswith("-pickle"), imported
        tag = f"{built.tag}-{source_format}"
        _make(project, env, "build", "MODEL_SOURCE=imported", f"IMAGE={tag}", *base, "VERSION=0.1.0")
        try:
            with running(tag) as (container, url):
                wait_ready(container, url, timeout=120)
                labels, probabilities = _served(url, name, source["rows"])
        finally:
            run([docker, "image", "rm", tag], check=False)
        assert labels == source["labels"], f"{source_format}: labels differ from the source library's"
        largest = _largest_difference(probabilities, source["probabilities"])
        figures = f"{len(source['rows'])} rows compared, largest difference {largest:.3g}"
        record_property(f"equality-{source_format}", figures)
        print(f"{source_format}: {figures}")  # the run's log shows the figures
        record_property(f"equality-{source_format}-seconds", round(time.monotonic() - format_started, 1))
        assert largest <= TOLERANCE, f"{source_format}: {figures}, over {TOLERANCE}"
    record_property(f"equality-{framework}-seconds", round(time.monotonic() - started, 1))
