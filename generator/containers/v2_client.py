"""The one Open Inference Protocol v2 client of dsdeploy's checks.

Every runtime check (image smoke, pod-spec smoke, kind deploy, the Kubeflow and rollout tests)
asks a served model the same question: does it answer its own example request as it did at
training? The example comes from the model's signature, written by the generated project's
training beside the artifact (``signature.json``), so the checks follow whatever model the image
carries: no row of data is written here. This module builds the requests from it, reads the
answers, compares them, and names the model the one way the chart does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from generator.engine.client import docker_client
from generator.engine.image_store import image_config
from generator.engine.run import hardened_run_options
from generator.errors import GeneratorError

#: The image label that names the model when the pod spec sets no ``MODEL_NAME``.
TITLE_LABEL = "org.opencontainers.image.title"

# Prints the signature of the image's model: signature.json beside the artifact (written by
# training) in MODEL_DIR, which wins as in the service, else beside MODEL_PATH; else the copy
# inside the artifact (an artifact copied in without its folder).
_SIGNATURE_SCRIPT = """
import json, os, pathlib
folder = os.environ.get("MODEL_DIR", "").strip()
path = pathlib.Path(folder) / "model.joblib" if folder else pathlib.Path(os.environ["MODEL_PATH"])
beside = path.with_name("signature.json")
if beside.is_file():
    print(beside.read_text())
else:
    import joblib
    print(json.dumps(joblib.load(path)["signature"]))
"""


@dataclass(frozen=True)
class Example:
    """The model's example request and its own answers, from its signature.

    Attributes:
        rows: Held-out rows, values in column order; a missing value is None (JSON's null),
            however the signature spelled it (null, or NaN as ``json.dumps`` writes a float NaN).
        predictions: The model's answers to ``rows`` at training.
        columns: The signature's columns (``name``, ``kind``, ``datatype``).
    """

    rows: list[list[Any]]
    predictions: list[Any]
    columns: list[dict[str, Any]]

    @classmethod
    def from_signature(cls, signature: Mapping[str, Any]) -> Example:
        """Read the example of a signature (``signature.json``, or metadata ``parameters``).

        Raises:
            GeneratorError: The signature carries no example request.
        """
        example = signature.get("example") or {}
        rows, predictions = example.get("instances"), example.get("predictions")
        if not rows or predictions is None:
            raise GeneratorError(
                "the model's signature has no example request",
                hint="train it with the generated project's train.py (it writes signature.json)",
            )
        # A missing value goes as null: NaN is not JSON, and a strict parser refuses the request.
        plain = [[None if _is_nan(value) else value for value in row] for row in rows]
        return cls(plain, list(predictions), list(signature.get("columns", [])))

    @property
    def numeric(self) -> bool:
        """Whether every column is a number, so one 2-D FP64 tensor carries the rows."""
        return all(column.get("kind") in ("number", "integer") for column in self.columns)

    def infer_request(self, rows: Sequence[Sequence[Any]] | None = None) -> dict[str, Any]:
        """A v2 infer request: one ``[rows, columns]`` tensor when numeric, else one per column."""
        rows = self.rows if rows is None else rows
        if self.numeric:
            flat = [value for row in rows for value in row]
            shape = [len(rows), len(self.columns)]
            return {"inputs": [{"name": "input-0", "shape": shape, "datatype": "FP64", "data": flat}]}
        return {
            "inputs": [
                {
                    "name": column["name"],
                    "shape": [len(rows)],
                    "datatype": column["datatype"],
                    "data": [row[i] for row in rows],
                }
                for i, column in enumerate(self.columns)
            ]
        }

    def infer_body(self) -> bytes:
        """:meth:`infer_request` as JSON bytes."""
        return json.dumps(self.infer_request()).encode()

    def predict_body(self) -> bytes:
        """The ``/predict`` request for the example rows, as JSON bytes."""
        return json.dumps({"instances": self.rows}).encode()

    def matches(self, answer: Any) -> bool:
        """Whether ``answer`` is the model's own (numbers within a relative 1e-6)."""
        return same_answers(answer, self.predictions)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def same_answers(got: Any, want: Sequence[Any]) -> bool:
    """Equal answers, numbers within a relative 1e-6 (a regressor's floats cross JSON)."""
    if not isinstance(got, list) or len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
            if not numbers or not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9):
                return False
        elif a != b:
            return False
    return True


def infer_answer(body: Any) -> Any:
    """The ``predict`` output's data of a v2 infer response (the first output's, if unnamed)."""
    outputs = body.get("outputs", []) if isinstance(body, dict) else []
    named = [o.get("data") for o in outputs if isinstance(o, dict) and o.get("name") == "predict"]
    if named:
        return named[0]
    return outputs[0].get("data") if outputs and isinstance(outputs[0], dict) else None


def predict_answer(body: Any) -> Any:
    """The ``predictions`` of a ``/predict`` response."""
    return body.get("predictions") if isinstance(body, dict) else None


def parse(raw: bytes) -> Any:
    """A response body as JSON, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None


def example_in_image(client: docker.DockerClient, image: str, run_options: Mapping[str, Any]) -> Example:
    """The example of the model baked into ``image``, read in a throwaway container.

    Args:
        client: The engine's client.
        image: Image reference.
        run_options: Hardened ``containers.run`` options (non-root, read-only root, /tmp).

    Raises:
        GeneratorError: The container could not read a signature.
    """
    try:
        output = client.containers.run(
            image, ["python", "-c", _SIGNATURE_SCRIPT], remove=True, network_disabled=True, **run_options
        )
    except docker.errors.ContainerError as exc:
        raise GeneratorError(
            f"reading the model's signature in {image} failed: {exc.stderr!r}",
            hint="retrain the model with the generated project's train.py, which writes signature.json",
        ) from exc
    return Example.from_signature(json.loads(output))


def model_name(image: str, declared: str | None = None, client: docker.DockerClient | None = None) -> str:
    """The name in the v2 routes: the spec's ``MODEL_NAME`` when set, else the image's title label.

    This is the service's own rule (its default model name is the project slug, which the image
    carries as its title), so every check names the model the same way.

    Raises:
        GeneratorError: Neither is set.
    """
    if declared:
        return declared
    labels = image_config(image, client).get("Labels") or {}
    if not labels.get(TITLE_LABEL):
        raise GeneratorError(
            f"{image} has no {TITLE_LABEL} label and no MODEL_NAME is set",
            hint="build the image from the generated Dockerfile, or pass the model name",
        )
    return str(labels[TITLE_LABEL])


def image_example(image: str, client: docker.DockerClient | None = None) -> Example:
    """The example request of the model in ``image`` and the model's own answers to it.

    ``client`` is the engine's (default: Docker's).
    """
    return example_in_image(client or docker_client(), image, hardened_run_options())
