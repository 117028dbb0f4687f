"""gRPC messages to and from the HTTP API's bodies, so both ways in are checked and answered alike.

Owned by the template: ``copier update`` may replace this file.

A ``ModelInferRequest`` becomes the very ``InferRequest`` a JSON body becomes (``protocol``), so
the same checks (``checks``) refuse it in the same words; the answer is the same content
(``answers.infer_content``) written back as a ``ModelInferResponse``. Tensor values arrive either
typed (``contents``: ``fp64_contents`` for FP64, ...) or as ``raw_input_contents``: one entry
per input, little-endian, each BYTES element prefixed with its length in 4 bytes (what
tritonclient's gRPC client sends). Answers go back the way the request came: raw outputs for a
raw request (as Triton does; tritonclient reads numbers only from them), typed contents otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from fastapi import HTTPException
from pydantic import ValidationError

from .binary import DTYPES, tensor_bytes
from .grpc_proto import ModelInferResponse
from .protocol import InferRequest
from .refusals import describe_validation_errors
from .signature import Signature

#: The ``InferTensorContents`` field of each datatype (the proto has none for FP16: raw only).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_LENGTH = 4  # bytes of the length before each element of a raw BYTES tensor


def invalid(message: str) -> HTTPException:
    """A 400 (a malformed gRPC request: INVALID_ARGUMENT), as a check's refusal is worded."""
    return HTTPException(status_code=400, detail=message)


def parameters(entries: Mapping[str, Any]) -> dict[str, Any]:
    """A ``map<string, InferParameter>`` as the plain values a JSON body's ``parameters`` hold."""
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
        for key, value in entries.items()
    }


def _text(name: str, values: Sequence[bytes]) -> list[str]:
    try:
        return [value.decode("utf-8") for value in values]
    except UnicodeDecodeError as exc:
        raise invalid(f"input {name!r}: a BYTES element is not UTF-8 ({exc.reason}): send text") from None


def _raw_bytes(name: str, raw: bytes) -> list[str]:
    """The elements of a raw BYTES tensor: each a 4-byte little-endian length, then that many bytes."""
    elements = []
    offset = 0
    view = memoryview(raw)
    while offset < len(raw):
        if offset + _LENGTH > len(raw):
            raise invalid(f"input {name!r}: raw BYTES contents end inside an element's 4-byte length")
        size = int.from_bytes(view[offset : offset + _LENGTH], "little")
        offset += _LENGTH
        if offset + size > len(raw):
            raise invalid(f"input {name!r}: a raw BYTES element claims {size} bytes, past the contents' end")
        elements.append(bytes(view[offset : offset + size]))
        offset += size
    return _text(name, elements)


def _values(tensor: Any, raw: bytes | None) -> list[Any]:
    """A tensor's values, flat, from its raw bytes or from the contents field of its datatype."""
    name, datatype = tensor.name, tensor.datatype
    if raw is not None:
        if tensor.HasField("contents"):
            raise invalid(f"input {name!r} has both contents and raw_input_contents: send its values in one")
        if datatype == "BYTES":
            return _raw_bytes(name, raw)
        if datatype not in DTYPES:
            raise invalid(f"input {name!r}: datatype {datatype!r} is none of {', '.join(DTYPES)}, BYTES")
        dtype = np.dtype(DTYPES[datatype])
        if len(raw) % dtype.itemsize:
            raise invalid(
                f"input {name!r}: raw contents of {len(raw)} bytes are not a whole number of {datatype} "
                f"values ({dtype.itemsize} bytes each)"
            )
        values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
        return values
    field = CONTENTS_FIELDS.get(datatype)
    present = [descriptor.name for descriptor, _ in tensor.contents.ListFields()]
    if field is None or (present and field not in present):
        where = f"contents.{field}" if field else "raw_input_contents"
        sent = f"contents.{present[0]}" if present else "no values"
        raise invalid(f"input {name!r} is {datatype}: send its values in {where}, not {sent}")
    typed = list(getattr(tensor.contents, field))
    return _text(name, typed) if datatype == "BYTES" else typed


def infer_request(message: Any, signature: Signature | None) -> InferRequest:
    """The ``InferRequest`` a ``ModelInferRequest`` says, validated as a JSON body is.

    Args:
        message: The ``ModelInferRequest``.
        signature: The served model's signature, which names the columns in a refusal.

    Raises:
        HTTPException: 400 for a malformed message (raw contents that do not match their
            inputs), 422 for a request the HTTP API refuses too, in the same words.
    """
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(message.inputs):
        raise invalid(
            f"raw_input_contents holds {len(raw)} entries but inputs lists {len(message.inputs)}: "
            "send one entry per input, in order"
        )
    body: dict[str, Any] = {
        "id": message.id or None,
        "parameters": parameters(message.parameters) or None,
        "inputs": [
            {
                "name": tensor.name,
                "shape": list(tensor.shape),
                "datatype": tensor.datatype,
                "parameters": parameters(tensor.parameters) or None,
                "data": _values(tensor, raw[index] if raw else None),
            }
            for index, tensor in enumerate(message.inputs)
        ],
        "outputs": [
            {"name": output.name, "parameters": parameters(output.parameters) or None}
            for output in message.outputs
        ]
        or None,
    }
    try:
        return InferRequest.model_validate(body)
    except ValidationError as exc:
        message = describe_validation_errors(exc.errors(include_url=False), body, signature)
        raise HTTPException(status_code=422, detail=message) from None


def infer_response(content: Mapping[str, Any], *, raw: bool) -> Any:
    """A ``ModelInferResponse`` holding ``content`` (``answers.infer_content``'s).

    Args:
        content: The answer, as the HTTP API sends it as JSON.
        raw: Whether to write the outputs' values as ``raw_output_contents`` (the request's were
            raw) rather than as typed contents.
    """
    response = ModelInferResponse(
        model_name=content["model_name"], model_version=content["model_version"] or "", id=content["id"]
    )
    for output in content["outputs"]:
        tensor = response.outputs.add(name=output["name"], datatype=output["datatype"], shape=output["shape"])
        data = output["data"]
        if raw:
            response.raw_output_contents.append(tensor_bytes(data, output["datatype"]))
        elif output["datatype"] == "BYTES":
            tensor.contents.bytes_contents.extend(str(value).encode("utf-8") for value in data)
        else:
            getattr(tensor.contents, CONTENTS_FIELDS[output["datatype"]]).extend(data)
    return response
