"""The steps of answering a request that both ways into the service share, each written once.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

An inference request reaches the model through the FastAPI routes (``routes``) or, when it is
well-formed, the ASGI fast path (``fast_path``). Only the parsing differs: FastAPI parses the full
request; the fast path parses numeric-only bodies in one step and hands anything else on. From
there both run the same functions, in this order:

1. find the served model (``served_model``: 404 for another name, 503 before it is loaded);
2. check the request against its signature (``checks.check_infer`` / ``checks.check_predict``);
3. predict through the batcher (``predict``: a full queue is 503 with ``Retry-After``, rows the
   model refuses are 422, a model that does not answer one row per row is 500);
4. build the answer (``answers.infer_content`` / ``answers.predict_content``) and ``encode`` it;
5. or answer a refusal as ``{"error": "<what is wrong>"}`` with its status (``refusal``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from numpy.typing import NDArray
from pydantic_core import to_json
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .artifact import Model
from .batching import Batcher, ModelOutputError, Prediction, QueueFullError
from .checks import unprocessable
from .protocol import OUTPUT_PREDICT, OUTPUT_PROBA

RETRY_AFTER_SECONDS = 1  # what a 503 for a full queue tells the client to wait


def served_model(state: State, model_name: str | None = None, version: str | None = None) -> Model:
    """The model the app serves, once it is loaded.

    Args:
        state: The app's state (``settings`` and ``model``).
        model_name: The name the request asked for (its path's); ``None`` for ``/predict``.
        version: The version the request asked for (a ``/versions/{version}`` path's); ``None``
            for any. The one version served is the package's (the metadata's ``versions``).

    Returns:
        The loaded model.

    Raises:
        HTTPException: 404 when ``model_name`` is another model's or ``version`` another version,
            503 before the model is loaded.
    """
    served = state.settings.model_name
    if model_name is not None and model_name != served:
        raise HTTPException(
            status_code=404, detail=f"model {model_name!r} not found: this server serves {served!r}"
        )
    if version is not None and version != __version__:
        raise HTTPException(
            status_code=404,
            detail=f"model {served!r} has no version {version!r}: it serves version {__version__!r} only",
        )
    model: Model | None = state.model
    if model is None:
        raise HTTPException(
            status_code=503, detail="model is not loaded yet: retry when /v2/health/ready is 200"
        )
    return model


async def predict(
    batcher: Batcher, matrix: NDArray[Any], outputs: Sequence[str] = (OUTPUT_PREDICT,)
) -> Prediction:
    """Run checked rows through the batcher.

    Args:
        batcher: The app's batcher.
        matrix: The rows, as a check returned them.
        outputs: The outputs asked for (``check_infer``'s); probabilities are computed only when
            ``predict_proba`` is among them.

    Returns:
        The model's answer for these rows.

    Raises:
        HTTPException: 503 with ``Retry-After`` when the queue is full; 422 when the model
            refuses the rows; 500 when the model answers another number of rows than it was given.
    """
    try:
        return await batcher.predict(matrix, proba=OUTPUT_PROBA in outputs)
    except QueueFullError as exc:
        raise overloaded(exc) from None
    except ValueError as exc:
        # Checked values the estimator still refuses (a scaler overflowing to infinity): the
        # request's rows are the problem, and only this request's (the batcher bisects the batch).
        raise model_refused(exc) from None
    except ModelOutputError as exc:
        # The served model is at fault, not the request: a 500, honestly, with the reason (its
        # answers are withheld, since they cannot be matched to the rows that were sent).
        raise HTTPException(status_code=500, detail=f"the model is broken: {exc}") from None


def overloaded(exc: QueueFullError) -> HTTPException:
    """A 503 with ``Retry-After`` for a full queue."""
    # Refuse rather than queue without bound: the client (or the load balancer) retries
    # elsewhere or a moment later, and the requests already queued keep their latency.
    return HTTPException(
        status_code=503,
        detail=f"server overloaded ({exc}): retry after {RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def model_refused(exc: ValueError) -> HTTPException:
    """A 422 for rows the model itself cannot score (its ``predict`` raised ``ValueError``)."""
    return unprocessable(f"the model cannot score these rows: {exc}")


def encode(content: Any) -> bytes:
    """An answer as JSON bytes: pydantic-core's serializer (Rust), no response-model round trip.

    A NaN (a regressor's answer for a row it cannot score, say) is JSON's null: JSON has no NaN.
    """
    return to_json(content, inf_nan_mode="null")


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The answer to a refused request: ``{"error": message}`` with ``status``.

    Every refusal of the service is worded this way (``ErrorResponse`` at /docs); a Starlette
    response is also an ASGI app, so the middlewares send it as they are.
    """
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def internal_error(exc: Exception) -> JSONResponse:
    """The answer to a fault of the service: a JSON 500 that names the error's type, not its detail."""
    return error_response(500, f"internal error ({type(exc).__name__}): see the service's log")


def refusal(exc: StarletteHTTPException) -> JSONResponse:
    """The answer to a step's ``HTTPException``: its status, its detail as the error, its headers."""
    return error_response(exc.status_code, str(exc.detail), exc.headers)
