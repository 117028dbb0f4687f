"""Triton's binary tensor extension over HTTP: tensors as raw bytes after the JSON, both ways.

Owned by the template: ``copier update`` may replace this file.

tritonclient's HTTP client sends inputs and asks for outputs this way unless told otherwise
(``binary_data=True`` is its default), and KServe's server speaks it too. A request with the
header ``Inference-Header-Content-Length: n`` is ``n`` bytes of JSON, then the bytes of each
input whose ``parameters.binary_data_size`` counts them, in the inputs' order. ``BinaryTensors``
turns it into the plain JSON request (``data`` lists) before anything else reads it, so the
checks, the fast path, the routes and their refusals are the same as for JSON.

An output is answered in binary when asked: its ``parameters.binary_data`` is true, or it sets
none and the request's ``parameters.binary_data_output`` is true (every output when the request
names none). The answer is then the JSON answer, each such output with ``binary_data_size``
instead of ``data``, then their bytes; ``Inference-Header-Content-Length`` says where the JSON
ends. Bytes are little-endian in row-major order; ``BOOL`` is one byte; a ``BYTES`` element is
its length (4 bytes) then its UTF-8 text. A NaN sent in binary is a missing value, as JSON's null.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
from pydantic_core import to_json

from .asgi import BODY, JSON, ASGIApp, Message, Receive, Scope, Send, read_body, replay
from .routes import PREDICT_PATH, served_paths
from .steps import error_response

HEADER = b"inference-header-content-length"
OCTET_STREAM = b"application/octet-stream"
#: numpy's little-endian type of each fixed-size datatype: the bytes of this extension's tensors,
#: and of the gRPC service's raw contents (``grpc_codec``), which KServe encodes the same way.
DTYPES = {
    "BOOL": "?",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_LENGTH = struct.Struct("<I")  # a BYTES element's length


class BinaryRequestError(Exception):
    """A binary request that cannot be read: ``status`` and a sentence naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _strings(raw: bytes, name: str) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        if offset + _LENGTH.size > len(raw):
            raise BinaryRequestError(
                422, f"input {name!r}: BYTES data ends inside element {len(values)}'s length"
            )
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if offset + size > len(raw):
            raise BinaryRequestError(
                422, f"input {name!r}: BYTES element {len(values)} runs past the input's bytes"
            )
        try:
            values.append(raw[offset : offset + size].decode())
        except UnicodeDecodeError:
            raise BinaryRequestError(
                422, f"input {name!r}: BYTES element {len(values)} is not UTF-8 text"
            ) from None
        offset += size
    return values


def values_of(raw: bytes, datatype: Any, name: str) -> list[Any]:
    """The values of one input's bytes, as JSON would carry them (NaN as null: a missing value)."""
    if datatype == "BYTES":
        return _strings(raw, name)
    if datatype not in DTYPES:
        raise BinaryRequestError(422, f"input {name!r}: datatype {datatype!r} has no binary form")
    dtype = np.dtype(DTYPES[datatype])
    if len(raw) % dtype.itemsize:
        raise BinaryRequestError(
            422,
            f"input {name!r}: {len(raw)} bytes are not a whole number of {datatype} values "
            f"({dtype.itemsize} bytes each): binary_data_size must count the tensor's bytes",
        )
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    if dtype.kind == "f":
        if any(math.isinf(value) for value in values):
            raise BinaryRequestError(422, f"input {name!r} holds an infinite value: send finite numbers")
        values = [None if math.isnan(value) else value for value in values]
    return values


def decode_request(body: bytes, header_length: bytes) -> Any:
    """A binary request as the JSON request it stands for (its inputs' bytes as ``data``)."""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise BinaryRequestError(
            400,
            f"Inference-Header-Content-Length is {header_length.decode(errors='replace')!r}: it must be the "
            f"length of the JSON before the tensors' bytes, at most the body's {len(body)} bytes",
        )
    try:
        request = json.loads(body[:length])
    except ValueError as exc:  # UnicodeDecodeError is one
        raise BinaryRequestError(400, f"malformed JSON in the first {length} bytes: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        return request  # the routes refuse it, naming what is wrong
    offset = length
    for index, tensor in enumerate(request["inputs"]):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        size, name = parameters.pop("binary_data_size"), tensor.get("name", index)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BinaryRequestError(
                422, f"inputs[{index}].parameters.binary_data_size must be a count of bytes"
            )
        if offset + size > len(body):
            raise BinaryRequestError(
                422,
                f"inputs[{index}].parameters.binary_data_size is {size} but {len(body) - offset} bytes "
                f"are left after the JSON and the inputs before it",
            )
        tensor["data"] = values_of(body[offset : offset + size], tensor.get("datatype"), str(name))
        offset += size
    if offset != len(body):
        raise BinaryRequestError(
            422,
            f"{len(body) - offset} bytes follow the inputs' binary data: each binary input's "
            f"parameters.binary_data_size must count all its bytes",
        )
    return request


def binary_outputs(request: Any) -> tuple[bool, dict[str, bool]]:
    """Whether outputs are asked for in binary: the default, and each named output's own choice."""
    if not isinstance(request, dict):
        return False, {}
    parameters = request.get("parameters")
    default = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    named = {}
    for output in request.get("outputs") or []:
        if isinstance(output, dict) and isinstance(output.get("name"), str):
            own = output.get("parameters")
            chosen = own.get("binary_data") if isinstance(own, dict) else None
            named[output["name"]] = default if chosen is None else chosen is True
    return default, named


def tensor_bytes(data: list[Any], datatype: str) -> bytes:
    """One output's values as the extension's bytes."""
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in data]
        return b"".join(_LENGTH.pack(len(value)) + value for value in encoded)
    numbers = [math.nan if value is None else value for value in data]  # JSON's null is a NaN answered
    return np.asarray(numbers, dtype=DTYPES[datatype]).tobytes()


def encode_answer(answer: bytes, default: bool, named: dict[str, bool]) -> tuple[bytes, int] | None:
    """A JSON answer with the outputs asked for in binary moved after it; ``None`` if there are none."""
    content = json.loads(answer)
    chunks = []
    for output in content.get("outputs", []):
        if not named.get(output["name"], default) or output.get("data") is None:
            continue
        raw = tensor_bytes(output.pop("data"), output["datatype"])
        output["parameters"] = {**(output.get("parameters") or {}), "binary_data_size": len(raw)}
        chunks.append(raw)
    if not chunks:
        return None
    header = to_json(content)
    return header + b"".join(chunks), len(header)


class BinaryTensors:
    """ASGI middleware: binary requests decoded to JSON, answers sent binary where asked.

    Args:
        app: The wrapped ASGI application (the fast path, then FastAPI).
        model_name: The served model's name: requests to its infer paths only are read.
    """

    def __init__(self, app: ASGIApp, model_name: str) -> None:
        self.app = app
        self.paths = frozenset(path for path in served_paths(model_name) if path != PREDICT_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        body = scope.get(BODY)  # read whole by the limits already (their receive replays it)
        # A binary request names binary_data_size in its JSON, a binary answer binary_data: a body
        # without either is plain JSON asking for JSON, the common case, passed on at once.
        if body is not None and b"binary_data" not in body:
            await self.app(scope, receive, send)
            return
        header_length = next((value for name, value in scope["headers"] if name == HEADER), None)
        body = await read_body(receive)  # the limits' replay, or the connection's
        if body is None:
            return  # the client left
        try:
            request = decode_request(body, header_length) if header_length is not None else _parsed(body)
        except BinaryRequestError as exc:
            await error_response(exc.status, str(exc))(scope, receive, send)
            return
        if header_length is not None:
            body = to_json(request)
            replaced = (HEADER, b"content-type", b"content-length")
            kept = [(name, value) for name, value in scope["headers"] if name not in replaced]
            scope["headers"] = [*kept, (b"content-type", JSON), (b"content-length", str(len(body)).encode())]
            scope[BODY] = body
        receive = replay(body, receive)
        default, named = binary_outputs(request)
        if default or any(named.values()):
            send = _binary_send(send, default, named)
        await self.app(scope, receive, send)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None  # the routes answer malformed JSON with their 400


def _binary_send(send: Send, default: bool, named: dict[str, bool]) -> Send:
    """A ``send`` that holds a 200 answer whole and sends it with its binary outputs after the JSON."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def binary_send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and message["status"] == 200:
            start = message
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)  # a refusal goes as it is
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        answer = b"".join(chunks)
        encoded = encode_answer(answer, default, named)
        replaced = (b"content-type", b"content-length")
        headers = [(name, value) for name, value in start["headers"] if name not in replaced]
        if encoded is None:
            headers.append((b"content-type", JSON))
        else:
            answer, length = encoded
            headers += [(b"content-type", OCTET_STREAM), (HEADER, str(length).encode())]
        headers.append((b"content-length", str(len(answer)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return binary_send
