"""Logging set-up: one JSON object per line (or plain text), with request ids.

Every RPC binds its gRPC context to a context variable (metrics.instrument
does it: grpc.aio runs each call in its own task, so the binding is per
call and costs one ContextVar.set). The request id is only worked out when
a line is actually logged inside a call: the client's `x-request-id`
metadata if it sent a sane one, otherwise a generated one, kept for the
rest of the call. Quiet by default: INFO logs start-up, catalog loads and
reloads, signals and shutdown, never a request; request content appears
only at DEBUG.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from google.protobuf import text_format

REQUEST_ID_KEY = "x-request-id"
"""Metadata key a client sets to tie its request to our log lines."""
FORMATS = ("auto", "json", "text")
_SANE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_MAX_DEBUG_CHARS = 2048
_CALL: ContextVar[Any] = ContextVar("grpc_call", default=None)
_REQUEST_ID: ContextVar[tuple[Any, str] | None] = ContextVar("request_id", default=None)
"""(context, id) once worked out; keyed by the context so a stale one is never reused."""
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "request_id", "taskName"}
)


def bind_call(context: Any) -> None:
    """Marks the running task as serving the call `context` (cheap: no metadata read)."""
    _CALL.set(context)


def request_id() -> str | None:
    """The current call's request id (from metadata or generated), or None outside a call."""
    context = _CALL.get()
    if context is None:
        return None
    cached = _REQUEST_ID.get()
    if cached is not None and cached[0] is context:
        return cached[1]
    rid = _from_metadata(context) or uuid.uuid4().hex
    _REQUEST_ID.set((context, rid))
    return rid


def _from_metadata(context: Any) -> str | None:
    try:
        metadata = context.invocation_metadata() or ()
    except Exception:  # a context that is already gone has no metadata
        return None
    for key, value in metadata:
        if key == REQUEST_ID_KEY:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            return text if _SANE_ID.match(text) else None
    return None


def request_summary(message: Any) -> str:
    """A request's content for DEBUG lines only: one line, truncated."""
    text = text_format.MessageToString(message, as_one_line=True)
    return text if len(text) <= _MAX_DEBUG_CHARS else text[:_MAX_DEBUG_CHARS] + "..."


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record logged inside a call (None outside)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            event["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(event, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human lines for a terminal; extra fields and the request id trail the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        rid = getattr(record, "request_id", None)
        if rid is not None:
            extras = {"request_id": rid, **extras}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items() if not k.startswith("_"))
        return line


def resolve_format(name: str, stream: TextIO) -> str:
    """`auto` is text on a terminal, JSON otherwise (containers, systemd, files)."""
    if name != "auto":
        return name
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> str:
    """Installs one stderr handler on the root logger; returns the format in use."""
    stream = stream or sys.stderr
    chosen = resolve_format(fmt, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_client_caused_errors()
    return chosen


CLIENT_CAUSED = ("ExecuteBatchError",)
"""grpc core errors a client causes (its deadline or cancel racing an answer being sent)."""
GRPC_CALL_LOGGER = "grpc._cython.cygrpc"
"""Where grpc.aio logs an exception around a call, with its traceback, at ERROR."""
_SUMMARY_SECONDS = 10.0


class ClientCausedFilter(logging.Filter):
    """grpc's ERROR tracebacks for client-caused races as one WARNING line per 10 s.

    A call whose deadline expires while its answer is being written makes
    grpc.aio log `ExecuteBatchError raised in core` with a traceback at
    ERROR, which a client can provoke at will and which would trip
    error-rate alerts. Those records become WARNING, without the traceback,
    at most one per _SUMMARY_SECONDS with the count since the last; every
    other record passes untouched (a servicer's own exception stays ERROR).
    """

    def __init__(self) -> None:
        super().__init__()
        self.suppressed = 0
        self._last = -_SUMMARY_SECONDS

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not _client_caused(record):
            return True
        self.suppressed += 1
        if record.created - self._last < _SUMMARY_SECONDS:
            return False
        self._last = record.created
        count, self.suppressed = self.suppressed, 0
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = f"{record.getMessage()} (client-caused; {count} such since the last report)"
        record.args = None
        record.exc_info = record.exc_text = None
        return True


def _client_caused(record: logging.LogRecord) -> bool:
    kind = record.exc_info[0] if record.exc_info else None
    if kind is not None and kind.__name__ in CLIENT_CAUSED:
        return True
    return any(name in str(record.msg) for name in CLIENT_CAUSED)


def quiet_client_caused_errors() -> ClientCausedFilter:
    """Installs ClientCausedFilter on grpc's call logger (once); returns it."""
    logger = logging.getLogger(GRPC_CALL_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, ClientCausedFilter):
            return existing
    installed = ClientCausedFilter()
    logger.addFilter(installed)
    return installed
