"""Turns what a caller has into Classify requests and ClassifyStream batches.

A caller hands over whatever it holds: a code (int), the raw webhook body
(bytes), an error text (str), a parsed body (a dict, re-encoded as JSON bytes
so integers stay integers, which a protobuf Struct would turn into floats), a
StructuredError, a Struct, or a ready ClassifyItem with its own id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

from google.protobuf import struct_pb2

from whatsapp_errors.v1 import error_catalog_pb2 as pb

MAX_BATCH_ITEMS = 1000
"""Most items the server accepts in one ClassifyStream or SummarizeErrors request."""
MAX_BATCH_GET = 1000
"""Most codes one BatchGetErrors call carries; longer lists are split."""
DEFAULT_BATCH_ITEMS = 500
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
"""Byte budget of one batch: half the 8 MiB message limit."""

Input: TypeAlias = (
    int
    | bytes
    | bytearray
    | memoryview
    | str
    | Mapping[str, Any]
    | pb.StructuredError
    | struct_pb2.Struct
    | pb.ClassifyItem
)
"""One failure to classify (see the module docstring)."""


def _fields(value: Input) -> dict[str, Any]:
    """The ClassifyRequest/ClassifyItem oneof field for one input."""
    if isinstance(value, bool):
        raise TypeError("a bool is not an error code")
    if isinstance(value, int):
        return {"code": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"payload": bytes(value)}
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, pb.StructuredError):
        return {"error": value}
    if isinstance(value, struct_pb2.Struct):
        return {"json": value}
    if isinstance(value, Mapping):
        try:
            return {
                "payload": json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
            }
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot encode the payload as JSON: {exc}") from exc
    raise TypeError(
        f"cannot classify a {type(value).__name__}: give an int code, bytes, str, dict, "
        "StructuredError, Struct or ClassifyItem"
    )


def classify_request(value: Input, transport: pb.Transport | None = None) -> pb.ClassifyRequest:
    """The Classify request for one input, with the HTTP status and headers the caller got."""
    if isinstance(value, pb.ClassifyItem):
        kind = value.WhichOneof("input")
        if kind is None:
            raise TypeError("the ClassifyItem has no input set")
        request = pb.ClassifyRequest(**{kind: getattr(value, kind)})
        if value.HasField("transport"):
            request.transport.CopyFrom(value.transport)
    else:
        request = pb.ClassifyRequest(**_fields(value))
    if transport is not None:
        request.transport.CopyFrom(transport)
    return request


def classify_item(item_id: str, value: Input) -> pb.ClassifyItem:
    """One stream item; a ClassifyItem keeps its own id unless it has none."""
    if isinstance(value, pb.ClassifyItem):
        if value.id:
            return value
        copy = pb.ClassifyItem()
        copy.CopyFrom(value)
        copy.id = item_id
        return copy
    return pb.ClassifyItem(id=item_id, **_fields(value))


def check_batch_size(batch_size: int) -> int:
    """`batch_size`, or ValueError when the server would refuse it."""
    if not 1 <= batch_size <= MAX_BATCH_ITEMS:
        raise ValueError(f"batch_size must be 1 to {MAX_BATCH_ITEMS}, got {batch_size}")
    return batch_size


class Batcher:
    """Cuts items into batches of at most `batch_size` items and about `max_bytes` bytes.

    The byte budget keeps a batch of large payloads under the 8 MiB message
    limit; an item over the budget travels alone.
    """

    def __init__(self, batch_size: int, max_bytes: int = DEFAULT_BATCH_BYTES) -> None:
        self.batch_size = check_batch_size(batch_size)
        self.max_bytes = max_bytes
        self.batch: list[pb.ClassifyItem] = []
        self.size = 0

    def add(self, item: pb.ClassifyItem) -> list[pb.ClassifyItem] | None:
        """Adds `item`; returns the batch it closed, if any."""
        size = item.ByteSize() + 8  # + field tag and length
        done = None
        if self.batch and self.size + size > self.max_bytes:
            done = self.flush()
        self.batch.append(item)
        self.size += size
        if len(self.batch) >= self.batch_size:
            return done or self.flush()  # done is None here: one item never fills two batches
        return done

    def flush(self) -> list[pb.ClassifyItem] | None:
        """The open batch (None when empty); a new one starts."""
        batch, self.batch, self.size = self.batch, [], 0
        return batch or None


def item_batches(
    values: Iterable[Input], batch_size: int = DEFAULT_BATCH_ITEMS
) -> Iterator[list[pb.ClassifyItem]]:
    """Items in batches (see Batcher), ids "0", "1", ... unless items bring their own."""
    batcher = Batcher(batch_size)
    for index, value in enumerate(values):
        batch = batcher.add(classify_item(str(index), value))
        if batch:
            yield batch
    last = batcher.flush()
    if last:
        yield last


def batch_get_requests(codes: Iterable[int]) -> Iterator[pb.BatchGetErrorsRequest]:
    """BatchGetErrors requests of at most MAX_BATCH_GET codes (one, empty, for no codes)."""
    codes = list(codes)
    for start in range(0, max(len(codes), 1), MAX_BATCH_GET):
        yield pb.BatchGetErrorsRequest(codes=codes[start : start + MAX_BATCH_GET])


class Guarded:
    """Wraps a request iterator gRPC drains on its own thread, keeping its exception.

    gRPC would swallow it and cancel the call ("Exception iterating requests");
    instead the requests simply end and the caller re-raises `error` afterwards.
    """

    def __init__(self, requests: Iterable[Any]) -> None:
        self._requests = requests
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._requests
        except BaseException as exc:
            self.error = exc

    def reraise(self) -> None:
        """Raises the input's exception, if it had one."""
        if self.error is not None:
            raise self.error
