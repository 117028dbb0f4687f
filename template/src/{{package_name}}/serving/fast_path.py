"""The ASGI fast path: well-formed inference requests answered without FastAPI's routing.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

FastAPI's routing, dependency solving and body handling cost more CPU per request than
everything else the service does for a small request, the model call aside (measured: about
140 us against 90 us, before batching shares the model call). For a POST to the served model's
infer route (with or without its version) or to ``/predict`` with a JSON body,
``FastInference`` parses the body with pydantic-core in one step and runs the routes' own steps
(``steps``) on it. Anything it cannot vouch for (another model name or version, another content
type, a body that does not validate, a failed
check, a model not yet loaded) goes on to the FastAPI routes (``routes``) unchanged, so every
error in a request is still answered, and worded, by them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from numpy.typing import NDArray
from pydantic import ValidationError

from . import steps
from .answers import infer_content, predict_content
from .artifact import Model
from .asgi import (
    BODY,
    JSON,
    ASGIApp,
    Receive,
    Scope,
    Send,
    content_type,
    is_json,
    read_body,
    replay,
    send_json,
)
from .checks import check_infer, check_predict
from .protocol import OUTPUT_PREDICT, NumericInferRequest, NumericPredictRequest
from .routes import PREDICT_PATH, served_paths
from .settings import Settings


class FastInference:
    """ASGI middleware that answers well-formed inference requests itself.

    Args:
        app: The wrapped ASGI application (FastAPI's routing).
        service: The FastAPI app, for its ``state`` (settings, model, batcher).
    """

    def __init__(self, app: ASGIApp, service: FastAPI) -> None:
        self.app = app
        self.state = service.state
        settings: Settings = service.state.settings
        self.max_rows = settings.max_rows
        self.max_values = settings.max_response_values
        self.model_name = settings.model_name
        # The served model's infer paths, with and without its version (another name or version
        # goes to the routes, for their 404), and /predict, each with its route: the metrics label
        # a request by its route's template.
        self.routes = served_paths(settings.model_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        model: Model | None = self.state.model
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        kind = content_type(scope)
        if kind is None:
            # Open Inference Protocol clients (Triton's among them) send JSON bodies without a
            # Content-Type, as Triton and KServe accept them: read those as JSON too.
            kind = JSON
            scope["headers"] = [*scope["headers"], (b"content-type", JSON)]
        if model is None or scope["path"] not in self.routes or not is_json(kind):
            await self.app(scope, receive, send)
            return
        body = scope.get(BODY)  # read whole by the limits already (their receive replays it)
        if body is None:
            body = await read_body(receive)
            if body is None:
                return  # the client left: nobody to answer
            receive = replay(body, receive)
        try:
            parsed, matrix, wanted = self._check(scope["path"], body, model)
        except (ValidationError, HTTPException):
            # Not a request we can vouch for: the route answers it, with the exact message.
            await self.app(scope, receive, send)
            return
        scope["route"] = self.routes[scope["path"]]  # as the router would, for the metrics' label
        try:
            prediction = await steps.predict(self.state.batcher, matrix, wanted)
            if isinstance(parsed, NumericPredictRequest):
                content = predict_content(prediction)
            else:
                content = infer_content(parsed, wanted, prediction, self.model_name)
            answer = steps.encode(content)
        except HTTPException as exc:  # the queue is full, or the model refuses the rows
            await steps.refusal(exc)(scope, receive, send)
            return
        except Exception as exc:
            # A fault of the service: the JSON 500 the routes give (this runs in front of FastAPI's
            # error handling), then raised on for the server to log and close the connection.
            await steps.internal_error(exc)(scope, receive, send)
            raise
        await send_json(send, 200, answer)

    def _check(
        self, path: str, body: bytes, model: Model
    ) -> tuple[NumericPredictRequest | NumericInferRequest, NDArray[Any], list[str]]:
        """Parse ``body`` as numeric-only and check it: the request, its rows and the outputs asked for."""
        if path == PREDICT_PATH:
            request = NumericPredictRequest.model_validate_json(body)
            return request, check_predict(request, model, self.max_rows), [OUTPUT_PREDICT]
        infer_request = NumericInferRequest.model_validate_json(body)
        matrix, wanted = check_infer(infer_request, model, self.max_rows, self.max_values)
        return infer_request, matrix, wanted
