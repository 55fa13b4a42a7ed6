"""Structured logs: JSON lines, request ids from metadata or generated, quiet by default.

The servers here are real `python -m whatsapp_errors.server` processes; their stderr is
read back and every line must parse as one JSON object.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from grpc._cython import cygrpc
from grpc_health.v1 import health_pb2

from tests.support.processes import free_port, wait_serving
from whatsapp_errors.server.ops.logs import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure,
    resolve_format,
)
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
SECRET = "do-not-log-this-recipient-15550001111"
"""Text sent in a payload: it may appear in DEBUG lines only."""


def run_server(*args: str) -> list[dict[str, Any]]:
    """Starts a server, makes the same calls, stops it; returns its log lines parsed."""
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_errors.server", "--port", str(port), *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ErrorCatalogServiceStub(channel)
            payload = json.dumps({"errors": [{"code": 131026, "title": SECRET}]}).encode()
            stub.Classify(
                pb.ClassifyRequest(payload=payload), metadata=[("x-request-id", "req-abc-123")]
            )
            stub.Classify(pb.ClassifyRequest(code=131026))
            try:
                stub.GetError(pb.GetErrorRequest(code=987654321))
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
    finally:
        popen.send_signal(signal.SIGTERM)
        _, err = popen.communicate(timeout=20)
    assert popen.returncode == 0, err
    lines = err.splitlines()
    assert lines, "the server logged nothing"
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_default_is_quiet_json_without_payloads() -> None:
    events = run_server()  # stderr is a pipe: auto picks JSON
    messages = [e["msg"] for e in events]
    assert any(m.startswith("serving ") for m in messages)
    assert any(m == "stopped" for m in messages)
    assert len(events) < 10, messages  # lifecycle only, not one line per request
    assert not any("request_id" in e for e in events)
    assert SECRET not in json.dumps(events)
    for event in events:
        assert {"ts", "level", "logger", "msg"} <= event.keys()
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", event["ts"])


def test_debug_logs_each_call_with_its_request_id() -> None:
    events = run_server("--log-level", "DEBUG", "--log-format", "json")
    calls = [e for e in events if e["msg"] in ("rpc started", "rpc finished")]
    assert len(calls) == 6, calls
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in calls:
        by_id.setdefault(event["request_id"], []).append(event)
    assert len(by_id) == 3  # one id per call, on both of its lines
    given = by_id.pop("req-abc-123")  # taken from x-request-id metadata
    assert [e["msg"] for e in given] == ["rpc started", "rpc finished"]
    assert SECRET in given[0]["request"]  # payload content: DEBUG only
    assert given[1]["code"] == "OK" and given[1]["method"] == "Classify"
    assert given[1]["duration_ms"] >= 0
    for rid, pair in by_id.items():
        assert re.fullmatch(r"[0-9a-f]{32}", rid)  # generated
        assert pair[0]["request_id"] == pair[1]["request_id"]
    codes = {e["method"]: e["code"] for e in calls if e["msg"] == "rpc finished"}
    assert codes["GetError"] == "NOT_FOUND"


def _record(msg: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("server.test", logging.WARNING, __file__, 1, msg, (), None)
    record.__dict__.update(extra)
    RequestIdFilter().filter(record)
    return record


def test_formatters() -> None:
    line = JsonFormatter().format(_record("catalog %s", method="Classify", count=3))
    assert "\n" not in line
    event = json.loads(line)
    assert event["level"] == "WARNING" and event["logger"] == "server.test"
    assert event["method"] == "Classify" and event["count"] == 3
    assert "request_id" not in event  # outside a call there is none
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    event = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in event["exc"]
    text = TextFormatter().format(_record("hello", method="GetError"))
    assert text.endswith("WARNING server.test: hello method=GetError")


def test_format_choice() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("auto", Tty()) == "text"
    assert resolve_format("text", io.StringIO()) == "text"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        assert configure("INFO", "auto", stream) == "json"
        logging.getLogger("server.x").info("one line", extra={"k": "v"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert json.loads(stream.getvalue())["k"] == "v"


# ---- D8: what a client causes is not a server ERROR ------------------------------------------


def test_d8_health_list_is_answered_and_logs_nothing() -> None:
    """Each unauthenticated Health/List call wrote an ERROR traceback (NotImplementedError)."""
    port = free_port()
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--port",
            str(port),
            "--log-format",
            "json",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            listing = channel.unary_unary(
                "/grpc.health.v1.Health/List",
                request_serializer=health_pb2.HealthListRequest.SerializeToString,
                response_deserializer=health_pb2.HealthListResponse.FromString,
            )
            for _ in range(200):
                reply = listing(health_pb2.HealthListRequest(), timeout=5)
            assert reply.statuses[""].status == health_pb2.HealthCheckResponse.SERVING
            service = "whatsapp.errors.v1.ErrorCatalogService"
            assert reply.statuses[service].status == health_pb2.HealthCheckResponse.SERVING
    finally:
        popen.send_signal(signal.SIGTERM)
        _, err = popen.communicate(timeout=20)
    events = [json.loads(line) for line in err.splitlines()]
    assert [e for e in events if e["level"] == "ERROR"] == []
    assert len(err) < 4096


def test_d8_grpc_tracebacks_for_client_deadline_races_become_one_warning_per_10_s() -> None:
    """grpc.aio logs `ExecuteBatchError raised in core` with a traceback when a deadline races."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    grpc_logger = logging.getLogger("grpc._cython.cygrpc")
    try:
        configure("INFO", "json", stream)
        for _ in range(100):
            try:
                raise cygrpc.ExecuteBatchError(
                    'Failed "execute_batch": (<GRPC_CALL_ERROR_TOO_MANY_OPERATIONS: 8>,)'
                )
            except cygrpc.ExecuteBatchError:
                grpc_logger.exception(
                    "ExecuteBatchError raised in core by servicer method [/x/Classify]"
                )
        grpc_logger.error("a servicer's own failure stays an ERROR")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["level"] for e in events] == ["WARNING", "ERROR"]
    assert "exc" not in events[0] and "client-caused; 1 such" in events[0]["msg"]


def test_json_mode_turns_grpc_core_lines_into_json_objects_too() -> None:
    """grpc's C core writes to fd 2 itself; with --log-format json each line is still one object."""
    port = free_port()
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--port",
            str(port),
            "--log-format",
            "json",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GRPC_VERBOSITY": "debug"},  # makes the C core write a line at start
    )
    try:
        wait_serving(port)
    finally:
        popen.send_signal(signal.SIGTERM)
        _, err = popen.communicate(timeout=20)
    assert popen.returncode == 0
    events = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    core = [e for e in events if e["logger"] == "grpc.core"]
    assert core and all(e["source"] and e["level"] in {"INFO", "WARNING", "ERROR"} for e in core)
    assert events[-1]["msg"] == "stopped"  # the relay drained before the process ended
