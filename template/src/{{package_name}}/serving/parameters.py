"""Open Inference Protocol ``parameters``: the ones the service honours, and a 422 for the rest.

Owned by the template: ``copier update`` may replace this file.

The protocol defines no parameter of its own: a parameter's value is a string, a number or a
boolean (its ``$parameter``; KServe's server refuses anything else), and each server reads the
ones it knows. Like KServe and MLServer, this one ignores a parameter it does not know (Triton's
``priority`` and ``timeout``, say) and echoes none in its answer; it reads these:

* ``content_type`` (MLServer's codecs; KServe reads the request's ``pd``): on the request ``np``
  (one tensor ``[rows, columns]``) or ``pd`` (one tensor per column); on an input ``np``, or
  ``str`` for a ``BYTES`` tensor; on an output ``np``, or ``str`` for a ``BYTES`` one. The
  tensors' layout and datatypes already say how to read them, so these only have to agree.
* ``binary_data_output`` (request), ``binary_data`` (output) and ``binary_data_size`` (input):
  Triton's binary tensor extension, which ``binary`` decodes and encodes. A ``binary_data_size``
  left for these checks came without ``Inference-Header-Content-Length``: nothing to read.

Refused, naming the field: another value (an object, a list, null), a content type the service
does not decode (``base64``, ``datetime``: MLServer's codecs for other kinds of data), Triton's
classification extension (``classification`` on an output) and non-boolean binary flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .answers import label_datatype
from .artifact import Model
from .protocol import OUTPUT_ALIASES, OUTPUT_PREDICT, InferRequest, NumericInferRequest
from .refusals import unprocessable

#: The content types each level takes (``str`` only for a BYTES tensor).
REQUEST_CONTENT_TYPES = ("np", "pd")
TENSOR_CONTENT_TYPES = ("np", "str")
#: Triton's binary tensor extension's flags, by level.
BINARY_FLAGS = {"request": "binary_data_output", "output": "binary_data"}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _check_values(field: str, parameters: Mapping[str, Any]) -> None:
    for key, value in parameters.items():
        if not _is_scalar(value):
            raise unprocessable(
                f"{field}.{key} is {_json_kind(value)}: a parameter's value is a string, number or boolean"
            )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return "an object" if isinstance(value, Mapping) else "a list"


def _check_content_type(field: str, value: Any, accepted: tuple[str, ...], what: str) -> None:
    if value is not None and value not in accepted:
        choices = " or ".join(repr(choice) for choice in accepted)
        raise unprocessable(
            f"{field}.content_type {value!r} is not one this service decodes: {what} takes {choices}, "
            f"or leave it out"
        )


def _check_flag(field: str, parameters: Mapping[str, Any], level: str) -> None:
    flag = BINARY_FLAGS[level]
    if flag in parameters and not isinstance(parameters[flag], bool):
        raise unprocessable(f"{field}.{flag} must be true or false, not {parameters[flag]!r}")


def output_datatype(name: str, model: Model) -> str:
    """The datatype of the output named ``name`` (or an alias of it) in this model's answers."""
    if OUTPUT_ALIASES.get(name, name) != OUTPUT_PREDICT:
        return "FP64"  # class probabilities
    return label_datatype(model.classes) if model.signature.task == "classification" else "FP64"


def check_parameters(body: InferRequest | NumericInferRequest, model: Model) -> None:
    """Refuse (422) a v2 request's ``parameters`` that the service cannot honour, naming the field.

    Args:
        body: The parsed request; its outputs' names already checked.
        model: The served model (the datatype of its outputs).

    Raises:
        HTTPException: 422 naming the first parameter that cannot be honoured.
    """
    if body.parameters:
        _check_values("parameters", body.parameters)
        _check_content_type(
            "parameters", body.parameters.get("content_type"), REQUEST_CONTENT_TYPES, "the request"
        )
        _check_flag("parameters", body.parameters, "request")
    for index, tensor in enumerate(body.inputs):
        if not tensor.parameters:
            continue
        field = f"inputs[{index}].parameters"
        _check_values(field, tensor.parameters)
        accepted = TENSOR_CONTENT_TYPES if tensor.datatype == "BYTES" else TENSOR_CONTENT_TYPES[:1]
        _check_content_type(
            field, tensor.parameters.get("content_type"), accepted, f"a {tensor.datatype} input"
        )
        if "binary_data_size" in tensor.parameters:
            raise unprocessable(
                f"{field}.binary_data_size is for Triton's binary tensor extension: send the tensor's bytes "
                f"after the JSON with an Inference-Header-Content-Length header, or its values in data"
            )
    for index, output in enumerate(body.outputs or []):
        if not output.parameters:
            continue
        field = f"outputs[{index}].parameters"
        _check_values(field, output.parameters)
        datatype = output_datatype(output.name, model)
        accepted = TENSOR_CONTENT_TYPES if datatype == "BYTES" else TENSOR_CONTENT_TYPES[:1]
        _check_content_type(field, output.parameters.get("content_type"), accepted, f"output {output.name!r}")
        _check_flag(field, output.parameters, "output")
        if "classification" in output.parameters:
            raise unprocessable(
                f"{field}.classification (Triton's classification extension) is not supported: ask for "
                f"predict_proba and take the top classes from it"
            )
