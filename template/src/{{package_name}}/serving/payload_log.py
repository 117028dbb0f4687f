"""Request logging for offline analysis: a sampled share of the inputs and answers, as JSON lines.

Owned by the template: ``copier update`` may replace this file.

Off by default (``PAYLOAD_LOG_RATE=0``): then nothing here runs and no row is ever written. With a
rate above 0, that share of the answered predictions (REST, the fast path and gRPC alike: it wraps
the batcher all of them call) is written to standard output as two CloudEvents in JSON, one line
each, the shape of KServe's payload logger:

    {"specversion": "1.0", "type": "org.kubeflow.serving.inference.request", "id": "<32 hex>",
     "source": "<model name>", "time": "...", "datacontenttype": "application/json",
     "data": {"instances": [{"<column>": <value>, ...}, ...]}}
    {"specversion": "1.0", "type": "org.kubeflow.serving.inference.response", "id": "<uuid>", ...,
     "data": {"predictions": [...], "probabilities": [[...], ...]}}

The request's ``data`` is a ``/predict`` body with rows keyed by column, so a logged request can be
sent again as it is. Rows are logged after the service's checks (the values the model saw);
refused requests are not logged. A line holds a whole request: with several worker processes
sharing the stream, lines longer than 4 KiB may interleave (one worker, the default, never does).
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from numpy.typing import NDArray

from .answers import labels_to_json, response_id
from .batching import Batcher, Prediction
from .signature import Signature, rows_of

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"


class PayloadLog:
    """Writes a sampled share of predictions as request/response CloudEvents, one JSON line each.

    Args:
        signature: The served model's signature (its column names key each logged row).
        source: The events' ``source``: the served model's name.
        rate: The share of predictions logged, above 0 and at most 1.
        stream: Where to write (standard output when omitted).
        draw: The random number source deciding which predictions are logged (tests seed it).
    """

    def __init__(
        self,
        signature: Signature,
        source: str,
        rate: float,
        stream: TextIO | None = None,
        draw: random.Random | None = None,
    ) -> None:
        self._names = signature.names
        self._source = source
        self._rate = rate
        self._stream = stream
        self._random = draw or random.Random()  # noqa: S311 - sampling, not security

    def sampled(self) -> bool:
        """Whether the next prediction is one to log."""
        return self._random.random() < self._rate

    def write(self, matrix: NDArray[Any], prediction: Prediction) -> None:
        """Log one request's checked rows and the model's answers for them."""
        event_id = response_id()
        rows = [dict(zip(self._names, row, strict=True)) for row in rows_of(matrix)]
        answers: dict[str, Any] = {"predictions": labels_to_json(prediction.labels)}
        if prediction.proba is not None:
            answers["probabilities"] = prediction.proba.tolist()
        lines = [
            self._event(REQUEST_TYPE, event_id, {"instances": rows}),
            self._event(RESPONSE_TYPE, event_id, answers),
        ]
        stream = self._stream or sys.stdout
        try:
            stream.write("".join(lines))  # one write: the pair stays together
            stream.flush()
        except (OSError, ValueError):
            pass  # the stream is closed or gone (the process is exiting): lose the lines, not the answer

    def _event(self, kind: str, event_id: str, data: dict[str, Any]) -> str:
        event = {
            "specversion": "1.0",
            "type": kind,
            "id": event_id,
            "source": self._source,
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
        # allow_nan=False: a value JSON cannot hold would be a bug here (rows_of made NaN None).
        return json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n"


class LoggedBatcher:
    """The batcher, with a sampled share of its predictions logged (``PayloadLog``).

    It answers ``predict`` as the batcher does, and passes everything else on to it.

    Args:
        batcher: The service's batcher.
        log: Where the sampled predictions go.
    """

    def __init__(self, batcher: Batcher, log: PayloadLog) -> None:
        self._batcher = batcher
        self._log = log

    async def predict(self, matrix: NDArray[Any], *, proba: bool = False) -> Prediction:
        """``Batcher.predict``, the request and its answer logged when sampled."""
        prediction = await self._batcher.predict(matrix, proba=proba)
        if self._log.sampled():
            self._log.write(matrix, prediction)
        return prediction

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batcher, name)
