"""Answers: what the service says back, built from a prediction or from the model itself.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

The v2 inference response, the ``/predict`` response and the v2 model metadata, as plain
JSON-ready values; both ways into the service (the routes and the fast path) build theirs here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from .artifact import Model
from .batching import Prediction
from .protocol import (
    OUTPUT_PREDICT,
    OUTPUT_PROBA,
    InferRequest,
    ModelMetadata,
    NumericInferRequest,
    TensorMetadata,
)


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
        wanted: Output names, as ``check_infer`` returned them.
        prediction: The model's answer for the request's rows.
        model_name: The served model's name.

    Returns:
        The ``InferResponse`` fields; a new id when the request had none.
    """
    outputs = []
    for name in wanted:
        if name == OUTPUT_PREDICT:
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
        "id": body.id or uuid.uuid4().hex,
        "outputs": outputs,
    }


def predict_content(prediction: Prediction) -> dict[str, Any]:
    """The ``/predict`` response: one label (or value) per row."""
    return {"predictions": labels_to_json(prediction.labels)}


def platform_of(estimator: Any) -> str:
    """The library behind ``estimator`` (its final step's, for a pipeline): scikit-learn, xgboost, ..."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    library = type(final).__module__.split(".")[0]
    return "scikit-learn" if library == "sklearn" else library


def model_metadata(model: Model, model_name: str) -> ModelMetadata:
    """The v2 metadata of ``model`` served as ``model_name`` (built once, at start-up).

    ``parameters`` carry the whole signature, so a client (the chart's test pod, CI smoke
    steps, dsdeploy) can build a valid request, and know its answer, from this alone.
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
            "feature_names": list(model.feature_names),
        },
    )
