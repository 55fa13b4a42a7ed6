"""Sharing the server fairly: per-connection streams, idle streams, health, silent unary calls.

Some attacks need a client that breaks the rules a grpc client keeps, so
`RawH2` speaks HTTP/2 by hand (frames and literal HPACK headers): it can open
more streams than the server allows, half-close a unary call with no
message, or reset thousands of streams. The server side is real:
`ServerThread` on port 0, or a `python -m whatsapp_errors.server` process where its memory
is measured.

- D5: one connection's idle streams held every admission slot. Now a
  connection may have 100 streams open (SETTINGS_MAX_CONCURRENT_STREAMS;
  the 101st is refused by the transport) and a stream that sends nothing is
  ended after --stream-idle-timeout.
- D6: unary calls half-closed without a message were never answered,
  counted or refused, and unauthenticated health Watch streams were
  unlimited. Now the first are answered (INVALID_ARGUMENT, or
  DEADLINE_EXCEEDED after --request-timeout) and Watch has its own cap.
- D13: rapid reset (HEADERS then RST_STREAM, over and over), measured.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import ServerThread
from tests.support.processes import ROOT, free_port, wait_serving
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

SERVICE = "/whatsapp.errors.v1.ErrorCatalogService"
IDLE_S = 0.5
REQUEST_S = 0.5
WATCHES = 4

_DATA, _HEADERS, _RST, _SETTINGS, _PING, _GOAWAY, _WINDOW = 0, 1, 3, 4, 6, 7, 8
_END_STREAM, _END_HEADERS, _ACK = 0x1, 0x4, 0x1
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
REFUSED_STREAM = 0x7


def _hpack_literal(name: str, value: str) -> bytes:
    """A literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""

    def string(text: str) -> bytes:
        raw = text.encode()
        if len(raw) < 127:
            return bytes([len(raw)]) + raw
        rest, out = len(raw) - 127, bytearray([127])
        while rest >= 128:
            out.append((rest & 0x7F) | 0x80)
            rest >>= 7
        return bytes(out) + bytes([rest]) + raw

    return b"\x00" + string(name) + string(value)


class RawH2:
    """One HTTP/2 connection, by hand: what a grpc client never sends, sent on purpose."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self._frame(_SETTINGS, 0, 0, b""))
        self.settings: dict[int, int] = {}
        self.ended: set[int] = set()
        """Streams the server finished (a frame with END_STREAM)."""
        self.reset: dict[int, int] = {}
        """Streams the server reset, with the error code."""
        self.goaway: int | None = None
        self._next = 1
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self._settled.wait(10), "no SETTINGS from the server"

    @staticmethod
    def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))[1:]
            + bytes([kind, flags])
            + struct.pack(">I", stream)
            + payload
        )

    def _send(self, data: bytes) -> None:
        with self._lock:
            self.sock.sendall(data)

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while len(buffer) >= 9:
                    length = int.from_bytes(buffer[:3], "big")
                    if len(buffer) < 9 + length:
                        break
                    kind, flags = buffer[3], buffer[4]
                    stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
                    payload, buffer = buffer[9 : 9 + length], buffer[9 + length :]
                    self._on_frame(kind, flags, stream, payload)
        except OSError:
            return

    def _on_frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == _SETTINGS and not flags & _ACK:
            for at in range(0, len(payload), 6):
                key, value = struct.unpack(">HI", payload[at : at + 6])
                self.settings[key] = value
            self._send(self._frame(_SETTINGS, _ACK, 0, b""))
            self._settled.set()
        elif kind == _PING and not flags & _ACK:
            self._send(self._frame(_PING, _ACK, 0, payload))
        elif kind in (_HEADERS, _DATA) and flags & _END_STREAM:
            self.ended.add(stream)
        elif kind == _DATA and payload:  # keep the server's window open
            update = struct.pack(">I", len(payload))
            self._send(self._frame(_WINDOW, 0, 0, update) + self._frame(_WINDOW, 0, stream, update))
        elif kind == _RST:
            self.reset[stream] = int.from_bytes(payload[:4], "big")
        elif kind == _GOAWAY:
            self.goaway = int.from_bytes(payload[4:8], "big")

    def open(
        self,
        method: str,
        end: bool = False,
        service: str = SERVICE,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> int:
        """HEADERS of a gRPC call; `end`: half-closed at once, no message."""
        stream, self._next = self._next, self._next + 2
        block = b"".join(
            _hpack_literal(name, value)
            for name, value in (
                (":method", "POST"),
                (":scheme", "http"),
                (":path", f"{service}/{method}"),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                *metadata,
            )
        )
        flags = _END_HEADERS | (_END_STREAM if end else 0)
        self._send(self._frame(_HEADERS, flags, stream, block))
        return stream

    def message(self, stream: int, body: bytes, end: bool = True) -> None:
        """One length-prefixed gRPC message on `stream`."""
        data = b"\x00" + struct.pack(">I", len(body)) + body
        self._send(self._frame(_DATA, _END_STREAM if end else 0, stream, data))

    def cancel(self, stream: int) -> None:
        self._send(self._frame(_RST, 0, stream, struct.pack(">I", 0x8)))

    def wait_for(self, done: set[int], timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done <= self.ended | set(self.reset):
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[ServerThread]:
    thread = ServerThread(
        ServerConfig(
            max_concurrent_rpcs=150,
            stream_idle_timeout=IDLE_S,
            request_timeout=REQUEST_S,
            max_health_watches=WATCHES,
            token="sesame",
        )
    ).start()
    yield thread
    thread.stop()


AUTH = (("authorization", "Bearer sesame"),)


def _serving(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        reply = pb_grpc.ErrorCatalogServiceStub(channel).GetError(
            pb.GetErrorRequest(code=131047), timeout=5, metadata=AUTH
        )
    assert reply.error.code == 131047


# ---- D5 -----------------------------------------------------------------------------------


def test_d5_one_connection_holds_at_most_100_streams_and_others_are_served(
    shared: ServerThread,
) -> None:
    conn = RawH2(shared.port)
    try:
        assert conn.settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == 100
        streams = [conn.open("ClassifyStream", metadata=AUTH) for _ in range(150)]  # past it
        time.sleep(0.2)
        refused = [s for s in streams if conn.reset.get(s) == REFUSED_STREAM]
        assert refused == streams[100:], "the transport let one connection open past its cap"
        _serving(shared.target)  # 150 slots, at most 100 taken by that connection
    finally:
        conn.close()


def test_d5_a_stream_that_sends_nothing_is_ended_after_the_idle_timeout(
    shared: ServerThread,
) -> None:
    with grpc.insecure_channel(shared.target) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        began = time.monotonic()
        silent = stub.ClassifyStream(iter(threading.Event().wait, True), metadata=AUTH, timeout=30)
        with pytest.raises(grpc.RpcError) as ended:
            next(silent)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "--stream-idle-timeout" in (ended.value.details() or "")
        assert IDLE_S <= time.monotonic() - began < IDLE_S + 5


def test_d5_a_stream_in_use_is_not_idle(shared: ServerThread) -> None:
    def paced() -> Iterator[pb.ClassifyStreamRequest]:
        for i in range(4):
            yield pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id=str(i), code=131047)])
            time.sleep(IDLE_S * 0.6)  # each gap under the timeout, the whole over it

    with grpc.insecure_channel(shared.target) as channel:
        answers = list(
            pb_grpc.ErrorCatalogServiceStub(channel).ClassifyStream(
                paced(), metadata=AUTH, timeout=30
            )
        )
    assert [a.results[0].id for a in answers] == ["0", "1", "2", "3"]


# ---- D6 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GetError", "Classify", "ListCategories"])
def test_d6_a_unary_call_half_closed_without_a_message_is_answered(
    shared: ServerThread, method: str
) -> None:
    conn = RawH2(shared.port)
    try:
        streams = {conn.open(method, end=True) for _ in range(20)}  # no token, no message
        assert conn.wait_for(streams, timeout=5), "half-closed unary calls left unanswered"
    finally:
        conn.close()


def test_d6_a_unary_call_that_never_sends_its_message_is_timed_out(shared: ServerThread) -> None:
    conn = RawH2(shared.port)
    try:
        began = time.monotonic()
        streams = {conn.open("Classify") for _ in range(20)}
        health = conn.open("Check", service="/grpc.health.v1.Health")
        assert conn.wait_for(streams | {health}, timeout=REQUEST_S + 5)
        assert time.monotonic() - began >= REQUEST_S
    finally:
        conn.close()


def test_d6_health_watch_streams_have_their_own_cap_and_check_never_does(
    shared: ServerThread,
) -> None:
    with grpc.insecure_channel(shared.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watches = [
            health.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(WATCHES)
        ]
        for watch in watches:
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as refused:
            next(health.Watch(health_pb2.HealthCheckRequest(), timeout=30))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-health-watches" in (refused.value.details() or "")
        check = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        for watch in watches:
            watch.cancel()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the slots come back
            try:
                again = health.Watch(health_pb2.HealthCheckRequest(), timeout=30)
                assert next(again).status == health_pb2.HealthCheckResponse.SERVING
                again.cancel()
                break
            except grpc.RpcError:
                time.sleep(0.05)
        else:
            raise AssertionError("cancelled Watch streams kept their slots")


def test_d6_6000_silent_calls_no_longer_pin_memory() -> None:
    """The review's 6000 half-closed unary calls: +114 MiB held until the connection closed."""
    port = free_port()
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_serving(port)
        before = _rss_mib(popen.pid)
        conns = [RawH2(port) for _ in range(30)]
        for conn in conns:
            streams = {conn.open("Classify", end=True) for _ in range(200)}
            assert conn.wait_for(streams, timeout=20)
        held = _rss_mib(popen.pid) - before
        print(f"\nD6: 6000 half-closed unary calls, all answered; RSS {held:+.0f} MiB held")
        for conn in conns:
            conn.close()
        assert held < 40
    finally:
        popen.terminate()
        popen.wait(timeout=30)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# ---- D13 ----------------------------------------------------------------------------------

RESET_ROUNDS = 6
RESETS_PER_ROUND = 20_000


def test_d13_rapid_reset_no_longer_pins_memory_round_after_round() -> None:
    """The review's rapid reset: +101 MiB over 12 rounds of 20,000 resets before, ~+12 now.

    The leak is grpc.aio's (its empty-handler server leaked the same way).
    The per-connection stream cap is what bounds it: run with
    `--max-streams-per-connection 1000000` and RSS climbs 50 -> 140 MiB in
    five rounds again. A round's resets each open a stream and cancel it
    before any message.
    """
    port = free_port()
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_serving(port)
        start = _rss_mib(popen.pid)
        for _ in range(RESET_ROUNDS):
            conn = RawH2(port)
            for _ in range(RESETS_PER_ROUND):
                conn.cancel(conn.open("ClassifyStream"))
            time.sleep(0.3)
            conn.close()
        grown = _rss_mib(popen.pid) - start
        print(f"\nD13: {RESET_ROUNDS * RESETS_PER_ROUND:,} rapid resets: RSS {grown:+.0f} MiB")
        assert grown < 30
        _serving_plain(port)
    finally:
        popen.terminate()
        popen.wait(timeout=30)


def _serving_plain(port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = pb_grpc.ErrorCatalogServiceStub(channel).GetError(
            pb.GetErrorRequest(code=131047), timeout=5
        )
    assert reply.error.code == 131047
