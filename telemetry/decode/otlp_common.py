"""What the OTLP logs and traces decoders share: trimmed schemas, attribute values, rejections.

Protobuf requests are parsed with a copy of the schema in which every `attributes` field (and
whatever else a decoder names) is raw bytes: upb then skips them, and `AttributeDecoder` decodes
each distinct KeyValue once per request (`http.method=GET` recurs on every record). JSON requests
are msgspec Structs; `decode_json` accepts proto field names (snake_case) through a slower path.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, Final, TypeVar

import msgspec
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from telemetry.decode import otlp_json
from telemetry.decode.errors import DecodeError
from telemetry.decode.normalize import MAX_ATTRIBUTE_DEPTH, Plain, flatten
from telemetry.documents import AttributeValue

T = TypeVar("T")
Pairs = tuple[tuple[str, AttributeValue], ...]

# --- protobuf -------------------------------------------------------------------------------


def trimmed_message_class(
    modules: Iterable[ModuleType], full_name: str, raw_fields: frozenset[str]
) -> type[message.Message]:
    """The message `full_name`, each field named in `raw_fields` as bytes, in a private pool."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, *modules):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        for message_type in file.message_type:
            _raw_fields(message_type, raw_fields)
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


_MESSAGE: Final = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_BYTES: Final = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES


def _raw_fields(message_type: descriptor_pb2.DescriptorProto, raw_fields: frozenset[str]) -> None:
    """Retype the named message fields (of nested types too) as bytes."""
    for field in message_type.field:
        if field.name in raw_fields and field.type == _MESSAGE:
            field.type = _BYTES
            field.ClearField("type_name")
    for nested in message_type.nested_type:
        _raw_fields(nested, raw_fields)


def parse(message_class: type[message.Message], body: bytes, what: str) -> Any:
    """Parse a protobuf body; DecodeError when it is not one."""
    try:
        return message_class.FromString(body)
    except message.DecodeError:
        raise DecodeError(f"OTLP: the body is not a valid {what}") from None


class AttributeDecoder:
    """Decodes raw KeyValue bytes to stored attributes, each distinct KeyValue once per request."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[bytes, Pairs] = {}

    def __call__(self, raw_attributes: Sequence[bytes]) -> dict[str, AttributeValue]:
        """The stored attributes of a repeated KeyValue field."""
        out: dict[str, AttributeValue] = {}
        if not raw_attributes:
            return out
        cache = self._cache
        for raw in raw_attributes:
            pairs = cache.get(raw)
            if pairs is None:
                pairs, cacheable = _decode_attribute(raw)
                if cacheable:
                    cache[raw] = pairs
            out.update(pairs)
        return out


def _decode_attribute(raw: bytes) -> tuple[Pairs, bool]:
    """One KeyValue as stored (key, value) pairs, and whether they may be shared (no lists)."""
    try:
        key_value = common_pb2.KeyValue.FromString(raw)
    except message.DecodeError:
        raise DecodeError("OTLP: an attribute is not a valid KeyValue") from None
    key, value = key_value.key, key_value.value
    kind = value.WhichOneof("value")
    if kind in _SCALARS:  # the common cases, without the detour through plain data
        if not key:
            return (), True
        scalar = getattr(value, kind)
        if kind != "double_value" or math.isfinite(scalar):
            return ((key, scalar),), True
    pairs: list[tuple[str, AttributeValue]] = []
    flatten(key, plain_protobuf(value), pairs)
    return tuple(pairs), not any(isinstance(value, list) for _, value in pairs)


def plain_protobuf(value: common_pb2.AnyValue, depth: int = 0) -> Plain:
    """An AnyValue message as plain Python data, bytes as base64."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise DecodeError("OTLP: an attribute value is nested too deeply")
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "array_value":
        return [plain_protobuf(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: plain_protobuf(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if which is None:
        return None
    scalar: str | int | float | bool = getattr(value, which)
    return scalar


# --- JSON -----------------------------------------------------------------------------------

# The end of an object key with an underscore: no lowerCamelCase OTLP key has one, and attribute
# keys are JSON values, never object keys, so this finds proto field names (see otlp_json).
_SCALARS: Final = frozenset({"string_value", "int_value", "bool_value", "double_value"})
_SNAKE_KEY: Final = re.compile(rb'_[a-z0-9_]*"\s*:')


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T], request_type: type[T]) -> T:
    """Decode an OTLP/JSON request; DecodeError carries the JSON path of the problem."""
    try:
        if _SNAKE_KEY.search(body) is None:
            return decoder.decode(body)
        return msgspec.convert(
            _camelize_keys(msgspec.json.decode(body)), request_type, strict=False
        )
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeError(f"OTLP/JSON: {exc}") from None
    except RecursionError:
        raise DecodeError("OTLP/JSON: nested too deeply") from None


def _camelize_keys(document: Any) -> Any:
    """Rename snake_case object keys to lowerCamelCase, in place, without recursion."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [key for key in node if "_" in key]:
                head, *rest = key.split("_")
                camel = head + "".join(part[:1].upper() + part[1:] for part in rest)
                node.setdefault(camel, node.pop(key))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return document


def json_attributes(attributes: list[otlp_json.KeyValue]) -> dict[str, AttributeValue]:
    """The stored attributes of OTLP/JSON KeyValues."""
    if not attributes:
        return {}
    pairs: list[tuple[str, AttributeValue]] = []
    for attribute in attributes:
        flatten(attribute.key, plain_json(attribute.value), pairs)
    return dict(pairs)


def plain_json(value: otlp_json.AnyValue | None, depth: int = 0) -> Plain:
    """An OTLP/JSON AnyValue as plain Python data (bytes stay base64)."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise DecodeError("OTLP/JSON: an attribute value is nested too deeply")
    if value is None:
        return None
    if value.string_value is not None:
        return value.string_value
    if value.array_value is not None:
        return [plain_json(item, depth + 1) for item in value.array_value.values]
    if value.kvlist_value is not None:
        return {kv.key: plain_json(kv.value, depth + 1) for kv in value.kvlist_value.values}
    for scalar in (value.bool_value, value.int_value, value.double_value, value.bytes_value):
        if scalar is not None:
            return scalar
    return None


def enum_number(value: int | str, names: Mapping[str, int]) -> int:
    """An enum from its number or, as the protobuf JSON mapping allows, its name."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        try:
            return int(value)
        except ValueError:  # an unknown name reads as unspecified, like an unknown number
            return 0
    return value


# --- rejections and responses ---------------------------------------------------------------


class Rejections:
    """How many records were rejected, and the first reason, for partial_success."""

    __slots__ = ("_first", "count", "noun")

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.count = 0
        self._first: str | None = None

    def add(self, where: str, reason: str) -> None:
        """Count one rejected record."""
        self.count += 1
        if self._first is None:
            self._first = f"{where}: {reason}"

    def detail(self) -> str | None:
        """The first reason and how many more records were rejected."""
        detail = self._first
        if detail is not None and self.count > 1:
            detail += f" (and {self.count - 1} more rejected {self.noun})"
        return detail


def json_export_response(rejected_key: str, rejected: int, error_message: str | None) -> bytes:
    """The OTLP/JSON Export*ServiceResponse: `{}`, or partialSuccess with the rejected count."""
    if not (rejected or error_message):
        return b"{}"
    partial: dict[str, str] = {rejected_key: str(rejected)}  # int64: a JSON string
    if error_message:
        partial["errorMessage"] = error_message
    return msgspec.json.encode({"partialSuccess": partial})
