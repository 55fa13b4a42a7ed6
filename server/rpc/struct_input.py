"""The `json` input (a google.protobuf.Struct) as the document a payload would parse to.

`json` is "the same body as a JSON object", so it must read as the same
bytes sent as `payload` would: a Struct holds every number as a double, so
whole numbers come back as ints here (`{"errors": [131047]}` is a bare code,
an id `123` reads "123", not "123.0"). It is bounded twice: on the wire,
unparsed (server/rpc/wire_guard.py: MAX_NESTED_BYTES), and here by
MAX_VALUES values, counted while converting, because a Struct of two
million empty objects fits in a 7.6 MiB message and
json_format.MessageToDict would make all of them Python dicts before
anything looked at them (about 40 times the message in memory).
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from whatsapp_errors.server.classify.found import InputError

MAX_VALUES = 100_000
"""Most values (objects, arrays, strings, numbers...) one `json` input may hold."""
_MAX_INT = 2**63
"""Whole doubles from here up stay floats (a code must fit in int64 anyway)."""


class _Count:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_VALUES

    def take(self, count: int, field: str) -> None:
        self.left -= count
        if self.left < 0:
            raise InputError(field, f"more than {MAX_VALUES} values in one JSON object")


def struct_document(struct: struct_pb2.Struct, field: str = "json") -> dict[str, Any]:
    """The Struct as plain JSON values; InputError if too many, empty, NaN or infinite.

    Its size on the wire was checked before it was parsed (server/rpc/wire_guard.py).
    """
    document = _object(struct, _Count(), field)
    if not document:
        raise InputError(field, "the JSON object is empty")
    return document


def _object(struct: struct_pb2.Struct, count: _Count, field: str) -> dict[str, Any]:
    fields = struct.fields
    count.take(len(fields), field)
    return {key: _value(value, count, field) for key, value in fields.items()}


def _value(value: struct_pb2.Value, count: _Count, field: str) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise InputError(field, f"not representable as JSON: the number {number}")
        if number.is_integer() and -_MAX_INT < number < _MAX_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return _object(value.struct_value, count, field)
    if kind == "list_value":
        values = value.list_value.values
        count.take(len(values), field)
        return [_value(item, count, field) for item in values]
    if kind == "bool_value":
        return value.bool_value
    return None  # null_value, or no kind set (MessageToDict reads that as null too)
