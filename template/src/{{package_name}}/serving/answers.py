"""Answers: what the service says back, built from a prediction or from the model itself.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

The v2 inference response, the ``/predict`` response and the v2 model metadata, as plain
JSON-ready values; both ways into the service (the routes and the fast path) build theirs here.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from .artifact import Model
from .batching import Prediction
from .protocol import (
    OUTPUT_ALIASES,
    OUTPUT_PREDICT,
    OUTPUT_PROBA,
    InferRequest,
    ModelMetadata,
    NumericInferRequest,
    TensorMetadata,
)
from .signature import Signature, to_json_values
from .smoke import example_digest

#: Values of synthetic rows for columns without categories, by kind (row ``i`` takes item ``i``).
SYNTHETIC_VALUES: dict[str, tuple[Any, ...]] = {
    "number": (0.0, 1.0, 2.0),
    "integer": (0, 1, 2),
    "boolean": (False, True, False),
    "string": ("example 1", "example 2", "example 3"),
}


def label_datatype(labels: NDArray[Any]) -> str:
    """The v2 datatype of an array of labels."""
    kind = labels.dtype.kind
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def labels_to_json(labels: NDArray[Any]) -> list[Any]:
    """Labels as JSON values: numbers stay numbers, anything else becomes a string."""
    return labels.tolist() if labels.dtype.kind in "iufb" else [str(label) for label in labels]


def infer_content(
    body: InferRequest | NumericInferRequest, wanted: Sequence[str], prediction: Prediction, model_name: str
) -> dict[str, Any]:
    """The v2 inference response for ``body``, as plain JSON-ready values.

    Args:
        body: The request (for its ``id``).
        wanted: Output names, as ``check_infer`` returned them (an alias is answered by its name).
        prediction: The model's answer for the request's rows.
        model_name: The served model's name.

    Returns:
        The ``InferResponse`` fields; a new id when the request had none.
    """
    outputs = []
    for name in wanted:
        if OUTPUT_ALIASES.get(name, name) == OUTPUT_PREDICT:
            labels = prediction.labels
            outputs.append(
                {
                    "name": name,
                    "shape": [len(labels)],
                    "datatype": label_datatype(labels),
                    "data": labels_to_json(labels),
                }
            )
        else:
            proba = cast(NDArray[np.float64], prediction.proba)
            outputs.append(
                {"name": name, "shape": list(proba.shape), "datatype": "FP64", "data": proba.ravel().tolist()}
            )
    return {
        "model_name": model_name,
        "model_version": __version__,
        "id": body.id or response_id(),
        "outputs": outputs,
    }


class _Ids:
    """Ids for answers to requests that sent none: 64 random bits per process, then a count."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)  # a forked worker never shares a count

    def renew(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


_IDS = _Ids()


def response_id() -> str:
    """A new answer id, 32 hex digits as a UUID's, unique across processes and restarts.

    Not ``uuid4()``: a read of 16 bytes from the kernel per answer cost 8 us of a one-row request
    (issue 34); the process's 64 random bits and a count name an answer as uniquely.
    """
    return _IDS.next()


def predict_content(prediction: Prediction) -> dict[str, Any]:
    """The ``/predict`` response: one label (or value) per row."""
    return {"predictions": labels_to_json(prediction.labels)}


def platform_of(estimator: Any) -> str:
    """The library behind ``estimator`` (its final step's, for a pipeline): scikit-learn, xgboost, ..."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    library = type(final).__module__.split(".")[0]
    return "scikit-learn" if library == "sklearn" else library


def synthetic_rows(signature: Signature, count: int) -> list[list[Any]]:
    """``count`` rows (at most 3) made from the signature alone, no row of any data set.

    A category column cycles through its categories; another takes 0, 1, 2 (``SYNTHETIC_VALUES``).
    """
    return [
        [
            c.categories[index % len(c.categories)] if c.categories else SYNTHETIC_VALUES[c.kind][index]
            for c in signature.columns
        ]
        for index in range(min(count, 3))
    ]


def public_example(model: Model, public: bool) -> dict[str, Any]:
    """The example request anonymous clients see: the held-out rows only if ``public``.

    Held-out rows are real data (``PUBLIC_EXAMPLE`` opts in). Otherwise as many synthetic rows
    (``synthetic_rows``) and the model's own answers to them (none if the model refuses them),
    so the page and a client still get a request that fits. ``digest`` names the real example
    without showing it: the smoke check uses the artifact's ``signature.json`` when it matches.
    """
    signature = model.signature
    real = {
        "instances": [list(row) for row in signature.example_rows],
        "predictions": list(signature.example_predictions),
    }
    digest = example_digest(real)
    if public or not signature.example_rows:
        return {**real, "source": "held-out", "digest": digest}
    rows = synthetic_rows(signature, len(signature.example_rows))
    try:
        predictions = to_json_values(list(np.asarray(model.predict(rows)).ravel()))
    except Exception:  # any estimator's refusal of made-up rows: publish them unanswered
        predictions = []
    return {"instances": rows, "predictions": predictions, "source": "synthetic", "digest": digest}


def model_metadata(model: Model, model_name: str, *, public: bool = False) -> ModelMetadata:
    """The v2 metadata of ``model`` served as ``model_name`` (built once, at start-up).

    ``parameters`` carry the whole signature, so a client (the chart's test pod, CI smoke
    steps, dsdeploy) can build a valid request from this alone; its example is the held-out
    rows only when ``public`` (``PUBLIC_EXAMPLE``), else synthetic (``public_example``).
    """
    signature = model.signature
    label_type = label_datatype(model.classes) if signature.task == "classification" else "FP64"
    outputs = [TensorMetadata(name=OUTPUT_PREDICT, datatype=label_type, shape=[-1])]
    if model.has_proba:
        outputs.append(TensorMetadata(name=OUTPUT_PROBA, datatype="FP64", shape=[-1, len(model.classes)]))
    if signature.numeric:
        inputs = [TensorMetadata(name="input-0", datatype="FP64", shape=[-1, model.n_features])]
    else:
        inputs = [TensorMetadata(name=c.name, datatype=c.datatype, shape=[-1]) for c in signature.columns]
    return ModelMetadata(
        name=model_name,
        versions=[__version__],
        platform=platform_of(model.estimator),
        inputs=inputs,
        outputs=outputs,
        parameters={
            **signature.to_dict(),
            "example": public_example(model, public),
            "feature_names": list(model.feature_names),
        },
    )
