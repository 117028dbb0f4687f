"""The generated service's gRPC messages are KServe's: its description equals the compiled proto.

The template builds the messages of ``inference.GRPCInferenceService`` at import from a
description of its own (``serving/grpc_proto.py``: no generated code beside a proto). Here protoc
(grpcio-tools) compiles the real ``grpc_predict_v2.proto`` (``data/``, fetched from kserve/kserve)
and every message, nested message, field (name, number, type, label, message type, oneof), map
entry and method must be equal: a client built from the proto reads and writes the same bytes.
The template file is plain Python (no Jinja), so it is loaded as it is, without a render.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

protoc = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is a test dependency")
from google.protobuf import descriptor_pb2  # noqa: E402 - after the skip: grpcio-tools brings protobuf

ROOT = Path(__file__).resolve().parents[2]
PROTO = Path(__file__).parent / "data" / "grpc_predict_v2.proto"
DESCRIPTION = ROOT / "template" / "src" / "{{package_name}}" / "serving" / "grpc_proto.py"


def _ours() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dsdeploy_grpc_proto", DESCRIPTION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compiled(tmp_path: Path) -> descriptor_pb2.FileDescriptorProto:
    out = tmp_path / "set.pb"
    status = protoc.main(["protoc", f"-I{PROTO.parent}", f"--descriptor_set_out={out}", PROTO.name])
    assert status == 0, f"protoc failed on {PROTO}"
    [compiled] = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return compiled


def _shape(message: descriptor_pb2.DescriptorProto) -> dict[str, object]:
    """What a message is on the wire and to a client: fields, nested messages, oneofs, map entries."""
    return {
        "fields": [
            (
                field.name,
                field.number,
                descriptor_pb2.FieldDescriptorProto.Type.Name(field.type),
                descriptor_pb2.FieldDescriptorProto.Label.Name(field.label),
                field.type_name,
                field.oneof_index if field.HasField("oneof_index") else None,
            )
            for field in message.field
        ],
        "nested": {nested.name: _shape(nested) for nested in message.nested_type},
        "oneofs": [oneof.name for oneof in message.oneof_decl],
        "map_entry": message.options.map_entry,
    }


def test_the_description_equals_kserves_compiled_proto(tmp_path: Path) -> None:
    compiled, ours = _compiled(tmp_path), _ours().file_descriptor()
    assert (ours.package, ours.syntax) == (compiled.package, compiled.syntax) == ("inference", "proto3")
    assert {m.name: _shape(m) for m in ours.message_type} == {
        m.name: _shape(m) for m in compiled.message_type
    }
    methods = {
        service.name: [(m.name, m.input_type, m.output_type) for m in service.method]
        for service in compiled.service
    }
    assert methods == {
        service.name: [(m.name, m.input_type, m.output_type) for m in service.method]
        for service in ours.service
    }
    assert list(methods) == ["GRPCInferenceService"]
    assert len(methods["GRPCInferenceService"]) == 6


def test_messages_made_from_it_read_what_protoc_built_classes_write(tmp_path: Path) -> None:
    # The same bytes both ways: a ModelInferRequest written by classes from the compiled proto.
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(_compiled(tmp_path))
    theirs = message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelInferRequest"))
    sent = theirs(model_name="m", id="1")
    tensor = sent.inputs.add(name="input-0", datatype="FP64", shape=[1, 2])
    tensor.contents.fp64_contents.extend([1.5, 2.5])
    tensor.parameters["binary_data_size"].int64_param = 16
    sent.raw_input_contents.append(b"\x00" * 16)
    read = _ours().ModelInferRequest.FromString(sent.SerializeToString())
    assert (read.model_name, read.id, list(read.inputs[0].shape)) == ("m", "1", [1, 2])
    assert list(read.inputs[0].contents.fp64_contents) == [1.5, 2.5]
    assert read.inputs[0].parameters["binary_data_size"].WhichOneof("parameter_choice") == "int64_param"
    assert read.SerializeToString() == sent.SerializeToString()
