#!/usr/bin/env python3
"""A minimal CRI client (what a kubelet speaks to containerd), for tests that cannot install crictl.

    cri.py SOCKET METHOD [REQUEST_JSON]   one call; prints the reply as one line of JSON
    cri.py SOCKET -                       one call per stdin line `METHOD REQUEST_JSON`, one reply
                                          line each: {"ok": REPLY} or {"error": "METHOD: CODE: details"}

METHOD is an RPC of cri.proto's RuntimeService or ImageService (RunPodSandbox, ExecSync, ...).
Requests and replies use the proto3 JSON mapping with the .proto's field names, except that
replies print zero values too and bytes fields (ExecSync's stdout/stderr) come back as UTF-8 text
instead of base64.

The .proto beside this file is compiled at start-up by grpcio-tools into a descriptor set (nothing
generated is written next to the sources), so it needs grpcio, grpcio-tools and protobuf
(hack/cri-client.sh installs them).
"""
import json, os, sys, tempfile

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_tools import protoc

PROTO = "cri.proto"
TIMEOUT_S = 120


class BadRequest(Exception):
    pass


def load_services():
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix="cri-proto-") as tmp:
        out = os.path.join(tmp, "cri.pb")
        if protoc.main(["protoc", "-I" + here, "--descriptor_set_out=" + out, PROTO]) != 0:
            sys.exit(f"cri.py: protoc could not compile {os.path.join(here, PROTO)}")
        with open(out, "rb") as f:
            files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool.FindFileByName(PROTO).services_by_name.values()


def find_method(services, name):
    for service in services:
        method = service.methods_by_name.get(name)
        if method:
            return method
    known = sorted(m for s in services for m in s.methods_by_name)
    raise BadRequest(f"no RPC {name!r} in {PROTO} (known: {', '.join(known)})")


def bytes_as_text(msg, out):
    """Replaces base64 bytes fields in MessageToDict's `out` with the UTF-8 text they hold."""
    for field, value in msg.ListFields():
        key, repeated = field.name, field.label == descriptor.FieldDescriptor.LABEL_REPEATED
        if field.type == descriptor.FieldDescriptor.TYPE_BYTES and not repeated:
            out[key] = value.decode("utf-8", "replace")
        elif field.message_type and not field.message_type.GetOptions().map_entry:
            if repeated:
                for m, o in zip(value, out[key]):
                    bytes_as_text(m, o)
            else:
                bytes_as_text(value, out[key])
    return out


def call(channel, services, name, request_json):
    method = find_method(services, name)
    request_class = message_factory.GetMessageClass(method.input_type)
    reply_class = message_factory.GetMessageClass(method.output_type)
    try:
        request = json_format.Parse(request_json or "{}", request_class())
    except json_format.ParseError as e:
        raise BadRequest(f"bad {method.input_type.name}: {e}")
    stub = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=reply_class.FromString,
    )
    reply = stub(request, timeout=TIMEOUT_S)
    # Zero values are printed too: a caller asking for exit_code should not have to know that
    # proto3 JSON leaves out a 0.
    as_dict = json_format.MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return bytes_as_text(reply, as_dict)


def answer(channel, services, name, request_json):
    """{"ok": reply} or {"error": why}."""
    try:
        return {"ok": call(channel, services, name, request_json)}
    except grpc.RpcError as e:
        return {"error": f"{name}: {e.code().name}: {e.details()}"}
    except BadRequest as e:
        return {"error": f"{name}: {e}"}


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    socket, method = argv[0], argv[1]
    services = load_services()
    with grpc.insecure_channel("unix://" + os.path.abspath(socket)) as channel:
        if method != "-":
            reply = answer(channel, services, method, argv[2] if len(argv) > 2 else None)
            if "error" in reply:
                sys.exit("cri.py: " + reply["error"])
            print(json.dumps(reply["ok"]))
            return
        for line in sys.stdin:
            name, _, request_json = line.strip().partition(" ")
            print(json.dumps(answer(channel, services, name, request_json)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
