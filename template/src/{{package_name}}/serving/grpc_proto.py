"""The messages of KServe's ``inference.GRPCInferenceService``, built at import from a description here.

Owned by the template: ``copier update`` may replace this file.

The Open Inference Protocol's gRPC service is defined by KServe's ``grpc_predict_v2.proto``
(``docs/predict-api/v2/`` in kserve/kserve, Apache-2.0). Rather than commit code that ``protoc``
generated from it (a second copy of the definition, tied to the protobuf version that generated
it), this module describes the same messages as data, lets protobuf build a descriptor from it
and makes the message classes from that (``message_factory``): the wire format is the proto's,
field for field. The template repository's suite compiles the real proto and checks that every
message, field number and type, and every method, equal these.

The messages live in a descriptor pool of their own, so a client library that registers
``inference.*`` messages of its own (tritonclient does) in the same process never clashes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"
FILE_NAME = "grpc_predict_v2.proto"

_Field = descriptor_pb2.FieldDescriptorProto
#: Scalar types by their name in the proto.
_SCALARS = {
    "bool": _Field.TYPE_BOOL,
    "string": _Field.TYPE_STRING,
    "bytes": _Field.TYPE_BYTES,
    "int32": _Field.TYPE_INT32,
    "int64": _Field.TYPE_INT64,
    "uint32": _Field.TYPE_UINT32,
    "uint64": _Field.TYPE_UINT64,
    "float": _Field.TYPE_FLOAT,
    "double": _Field.TYPE_DOUBLE,
}
# A field: (name, number, type), the type a scalar's name, a message's name (``Outer.Inner`` for a
# nested one), "repeated <type>", or "map <message>" (``map<string, message>``, the only kind used).
PARAMETERS = "map InferParameter"
_TENSOR = [("name", 1, "string"), ("datatype", 2, "string"), ("shape", 3, "repeated int64")]
_TYPED_TENSOR = [*_TENSOR, ("parameters", 4, PARAMETERS), ("contents", 5, "InferTensorContents")]
#: Messages in the proto's order: fields, and nested messages.
MESSAGES: dict[str, tuple[list[tuple[str, int, str]], dict[str, list[tuple[str, int, str]]]]] = {
    "ServerLiveRequest": ([], {}),
    "ServerLiveResponse": ([("live", 1, "bool")], {}),
    "ServerReadyRequest": ([], {}),
    "ServerReadyResponse": ([("ready", 1, "bool")], {}),
    "ModelReadyRequest": ([("name", 1, "string"), ("version", 2, "string")], {}),
    "ModelReadyResponse": ([("ready", 1, "bool")], {}),
    "ServerMetadataRequest": ([], {}),
    "ServerMetadataResponse": (
        [("name", 1, "string"), ("version", 2, "string"), ("extensions", 3, "repeated string")],
        {},
    ),
    "ModelMetadataRequest": ([("name", 1, "string"), ("version", 2, "string")], {}),
    "ModelMetadataResponse": (
        [
            ("name", 1, "string"),
            ("versions", 2, "repeated string"),
            ("platform", 3, "string"),
            ("inputs", 4, "repeated ModelMetadataResponse.TensorMetadata"),
            ("outputs", 5, "repeated ModelMetadataResponse.TensorMetadata"),
        ],
        {"TensorMetadata": _TENSOR},
    ),
    "ModelInferRequest": (
        [
            ("model_name", 1, "string"),
            ("model_version", 2, "string"),
            ("id", 3, "string"),
            ("parameters", 4, PARAMETERS),
            ("inputs", 5, "repeated ModelInferRequest.InferInputTensor"),
            ("outputs", 6, "repeated ModelInferRequest.InferRequestedOutputTensor"),
            ("raw_input_contents", 7, "repeated bytes"),
        ],
        {
            "InferInputTensor": _TYPED_TENSOR,
            "InferRequestedOutputTensor": [("name", 1, "string"), ("parameters", 2, PARAMETERS)],
        },
    ),
    "ModelInferResponse": (
        [
            ("model_name", 1, "string"),
            ("model_version", 2, "string"),
            ("id", 3, "string"),
            ("parameters", 4, PARAMETERS),
            ("outputs", 5, "repeated ModelInferResponse.InferOutputTensor"),
            ("raw_output_contents", 6, "repeated bytes"),
        ],
        {"InferOutputTensor": _TYPED_TENSOR},
    ),
    # One of the three (a oneof, ``parameter_choice``).
    "InferParameter": (
        [("bool_param", 1, "bool"), ("int64_param", 2, "int64"), ("string_param", 3, "string")],
        {},
    ),
    "InferTensorContents": (
        [
            ("bool_contents", 1, "repeated bool"),
            ("int_contents", 2, "repeated int32"),
            ("int64_contents", 3, "repeated int64"),
            ("uint_contents", 4, "repeated uint32"),
            ("uint64_contents", 5, "repeated uint64"),
            ("fp32_contents", 6, "repeated float"),
            ("fp64_contents", 7, "repeated double"),
            ("bytes_contents", 8, "repeated bytes"),
        ],
        {},
    ),
}
ONEOFS = {"InferParameter": "parameter_choice"}
#: The service's methods, in the proto's order: each takes ``<name>Request`` and answers ``<name>Response``.
METHODS = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")


def _add_field(
    message: descriptor_pb2.DescriptorProto, scope: str, name: str, number: int, kind: str
) -> None:
    """Add a field to ``message`` (full name ``scope`` in the package) as ``protoc`` would."""
    field = message.field.add(name=name, number=number, json_name=_camel(name))
    label, _, kind = kind.rpartition(" ")
    field.label = _Field.LABEL_OPTIONAL
    if label == "repeated":
        field.label = _Field.LABEL_REPEATED
    if label == "map":
        # protoc's spelling of map<string, V>: a repeated nested ``<Field>Entry`` marked as a map entry.
        entry = message.nested_type.add(name=_camel(name, upper=True) + "Entry")
        entry.options.map_entry = True
        _add_field(entry, f"{scope}.{entry.name}", "key", 1, "string")
        _add_field(entry, f"{scope}.{entry.name}", "value", 2, kind)
        field.label = _Field.LABEL_REPEATED
        field.type = _Field.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{scope}.{entry.name}"
        return
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    else:
        field.type = _Field.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{kind}"


def _camel(name: str, *, upper: bool = False) -> str:
    head, *rest = name.split("_")
    text = head + "".join(part.capitalize() for part in rest)
    return text[:1].upper() + text[1:] if upper else text


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The description of ``grpc_predict_v2.proto``, as ``protoc`` would write it."""
    proto = descriptor_pb2.FileDescriptorProto(name=FILE_NAME, package=PACKAGE, syntax="proto3")
    for name, (fields, nested) in MESSAGES.items():
        message = proto.message_type.add(name=name)
        for inner, inner_fields in nested.items():
            nested_message = message.nested_type.add(name=inner)
            for field in inner_fields:
                _add_field(nested_message, f"{name}.{inner}", *field)
        for field in fields:
            _add_field(message, name, *field)
        if name in ONEOFS:
            message.oneof_decl.add(name=ONEOFS[name])
            for field_proto in message.field:
                field_proto.oneof_index = 0
    service = proto.service.add(name=SERVICE.rpartition(".")[2])
    for method in METHODS:
        service.method.add(
            name=method, input_type=f".{PACKAGE}.{method}Request", output_type=f".{PACKAGE}.{method}Response"
        )
    return proto


def _message_classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()  # a pool of our own: see the module's docstring
    pool.Add(file_descriptor())
    found = pool.FindMessageTypeByName
    return {name: message_factory.GetMessageClass(found(f"{PACKAGE}.{name}")) for name in MESSAGES}


_CLASSES = _message_classes()
ServerLiveRequest = _CLASSES["ServerLiveRequest"]
ServerLiveResponse = _CLASSES["ServerLiveResponse"]
ServerReadyRequest = _CLASSES["ServerReadyRequest"]
ServerReadyResponse = _CLASSES["ServerReadyResponse"]
ModelReadyRequest = _CLASSES["ModelReadyRequest"]
ModelReadyResponse = _CLASSES["ModelReadyResponse"]
ServerMetadataRequest = _CLASSES["ServerMetadataRequest"]
ServerMetadataResponse = _CLASSES["ServerMetadataResponse"]
ModelMetadataRequest = _CLASSES["ModelMetadataRequest"]
ModelMetadataResponse = _CLASSES["ModelMetadataResponse"]
ModelInferRequest = _CLASSES["ModelInferRequest"]
ModelInferResponse = _CLASSES["ModelInferResponse"]
InferParameter = _CLASSES["InferParameter"]
InferTensorContents = _CLASSES["InferTensorContents"]


def request_class(method: str) -> Any:
    """The request message class of ``method`` (``ModelInfer`` takes ``ModelInferRequest``)."""
    return _CLASSES[f"{method}Request"]


def response_class(method: str) -> Any:
    """The response message class of ``method``."""
    return _CLASSES[f"{method}Response"]
