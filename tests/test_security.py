"""TLS, mutual TLS, the bearer token and the bind rules, on real servers and channels.

Certificates are made here (tests/certs.py). In-process servers cover the
transport and the token; real `python -m whatsapp_errors.server` processes cover the flags:
plaintext off loopback is refused, and a fully configured server (mTLS and
a token) answers only callers with both. Payload content (phone numbers)
must never reach the logs at INFO.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import ServerThread
from tests.support.certs import Authority, Pair
from tests.support.processes import ROOT, free_port
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.ops.security import TOKEN_ENV, TlsFiles, is_loopback
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

TOKEN = "t0k3n-for-tests-only-4f9a2c"
PHONE = "15551234567"
"""A recipient's number, as webhooks carry it; it must never be logged at INFO."""


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority.create()


@pytest.fixture(scope="module")
def server_pair(ca: Authority) -> Pair:
    return ca.issue("localhost", server=True)


@pytest.fixture(scope="module")
def client_pair(ca: Authority) -> Pair:
    return ca.issue("waerr-client", server=False)


@pytest.fixture(scope="module")
def tls_server(server_pair: Pair) -> Iterator[ServerThread]:
    """TLS, no client certificate, no token."""
    thread = ServerThread(ServerConfig(tls=TlsFiles(server_pair.cert, server_pair.key))).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def mtls_server(ca: Authority, server_pair: Pair) -> Iterator[ServerThread]:
    """Mutual TLS with our CA, and a bearer token on top."""
    tls = TlsFiles(server_pair.cert, server_pair.key, client_ca=ca.pair.cert)
    thread = ServerThread(ServerConfig(tls=tls, token=TOKEN)).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def token_server() -> Iterator[ServerThread]:
    """Plaintext on loopback with a bearer token; reflection on."""
    thread = ServerThread(ServerConfig(token=TOKEN)).start()
    yield thread
    thread.stop()


def _secure(target: str, root: bytes, client: Pair | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.secure_channel(target, credentials)


def _get_error(channel: grpc.Channel, token: str | None = None) -> pb.GetErrorResponse:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    stub = pb_grpc.ErrorCatalogServiceStub(channel)
    response: pb.GetErrorResponse = stub.GetError(
        pb.GetErrorRequest(code=131047), timeout=5, metadata=metadata
    )
    return response


def _refused(channel: grpc.Channel, token: str | None = None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        _get_error(channel, token)
    return caught.value


# ---- TLS ------------------------------------------------------------------------


def test_tls_serves_a_client_that_trusts_the_ca(tls_server: ServerThread, ca: Authority) -> None:
    with _secure(tls_server.target, ca.pair.cert) as channel:
        assert _get_error(channel).error.code == 131047


def test_tls_refuses_plaintext_clients(tls_server: ServerThread) -> None:
    with grpc.insecure_channel(tls_server.target) as channel:
        assert _refused(channel).code() == grpc.StatusCode.UNAVAILABLE


def test_tls_client_rejects_a_server_from_another_ca(tls_server: ServerThread) -> None:
    stranger = Authority.create("some other CA")
    with _secure(tls_server.target, stranger.pair.cert) as channel:
        assert _refused(channel).code() == grpc.StatusCode.UNAVAILABLE


# ---- mutual TLS -------------------------------------------------------------------


def test_mtls_serves_a_client_with_a_certificate_from_the_ca(
    mtls_server: ServerThread, ca: Authority, client_pair: Pair
) -> None:
    with _secure(mtls_server.target, ca.pair.cert, client_pair) as channel:
        assert _get_error(channel, TOKEN).error.code == 131047


def test_mtls_refuses_a_client_without_a_certificate(
    mtls_server: ServerThread, ca: Authority
) -> None:
    with _secure(mtls_server.target, ca.pair.cert) as channel:
        assert _refused(channel, TOKEN).code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_certificate_from_another_ca(
    mtls_server: ServerThread, ca: Authority
) -> None:
    stranger = Authority.create("some other CA").issue("intruder", server=False)
    with _secure(mtls_server.target, ca.pair.cert, stranger) as channel:
        assert _refused(channel, TOKEN).code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_still_needs_the_token(
    mtls_server: ServerThread, ca: Authority, client_pair: Pair
) -> None:
    with _secure(mtls_server.target, ca.pair.cert, client_pair) as channel:
        assert _refused(channel).code() == grpc.StatusCode.UNAUTHENTICATED


# ---- bearer token -----------------------------------------------------------------


def test_token_missing_is_unauthenticated_and_says_what_is_missing(
    token_server: ServerThread,
) -> None:
    with grpc.insecure_channel(token_server.target) as channel:
        error = _refused(channel)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing credentials" in (error.details() or "")
    assert "authorization: Bearer <token>" in (error.details() or "")


def test_token_wrong_is_unauthenticated(token_server: ServerThread) -> None:
    with grpc.insecure_channel(token_server.target) as channel:
        error = _refused(channel, TOKEN + "x")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "invalid bearer token"


def test_token_with_another_scheme_is_unauthenticated(token_server: ServerThread) -> None:
    with grpc.insecure_channel(token_server.target) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetError(
                pb.GetErrorRequest(code=131047),
                timeout=5,
                metadata=(("authorization", f"Basic {TOKEN}"),),
            )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "must be `Bearer <token>`" in (caught.value.details() or "")


def test_token_right_is_served_unary_and_stream(token_server: ServerThread) -> None:
    auth = (("authorization", f"Bearer {TOKEN}"),)
    with grpc.insecure_channel(token_server.target) as channel:
        assert _get_error(channel, TOKEN).error.code == 131047
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        request = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="a", code=131047)])
        responses = list(stub.ClassifyStream(iter([request]), timeout=5, metadata=auth))
        assert [r.id for r in responses[0].results] == ["a"]
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ClassifyStream(iter([request]), timeout=5))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_stays_open_without_the_token(token_server: ServerThread) -> None:
    with grpc.insecure_channel(token_server.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_the_token(token_server: ServerThread) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with grpc.insecure_channel(token_server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", f"Bearer {TOKEN}"),)
        [reply] = list(stub.ServerReflectionInfo(iter([request]), timeout=5, metadata=auth))
    names = {s.name for s in reply.list_services_response.service}
    assert "whatsapp.errors.v1.ErrorCatalogService" in names


def test_unknown_method_stays_unimplemented_with_a_token(token_server: ServerThread) -> None:
    with grpc.insecure_channel(token_server.target) as channel:
        method = channel.unary_unary("/whatsapp.errors.v1.ErrorCatalogService/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as caught:
            method(b"", timeout=5, metadata=(("authorization", f"Bearer {TOKEN}"),))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.7", "example.com"))


# ---- logs -------------------------------------------------------------------------


def _phone_payloads() -> list[bytes]:
    status = {
        "id": f"wamid.{PHONE}",
        "status": "failed",
        "recipient_id": PHONE,
        "errors": [{"code": 131026, "title": f"Message undeliverable to +{PHONE}"}],
    }
    webhook = {"entry": [{"id": "1", "changes": [{"value": {"statuses": [status]}}]}]}
    bad_code = {"errors": [{"code": f"+{PHONE}", "message": f"to {PHONE}"}]}
    return [
        orjson.dumps(webhook),
        orjson.dumps(bad_code),  # an invalid code: the error message quotes it back
        orjson.dumps(webhook)[:-7],  # truncated JSON
        PHONE.encode(),  # a bare number: not an object
    ]


def _send_phone_payloads(channel: grpc.Channel) -> None:
    stub = pb_grpc.ErrorCatalogServiceStub(channel)
    for payload in _phone_payloads():
        try:
            stub.Classify(pb.ClassifyRequest(payload=payload), timeout=5)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
        stub.Classify(pb.ClassifyRequest(text=f"cannot reach +{PHONE}"), timeout=5)
    items = [pb.ClassifyItem(id=PHONE, payload=p) for p in _phone_payloads()]
    [response] = stub.ClassifyStream(iter([pb.ClassifyStreamRequest(items=items)]), timeout=5)
    assert len(response.results) == len(items)
    raw = channel.unary_unary("/whatsapp.errors.v1.ErrorCatalogService/Classify")
    text_not_utf8 = b"\x1a" + bytes([len(PHONE) + 1]) + PHONE.encode() + b"\xff"
    for undecodable in (text_not_utf8, b"\xff" + PHONE.encode()):
        with pytest.raises(grpc.RpcError) as caught:
            raw(undecodable, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_no_payload_content_in_logs_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    thread = ServerThread(ServerConfig(token=TOKEN)).start()
    try:
        with grpc.insecure_channel(thread.target) as channel:
            _refused(channel, "wrong")  # a refusal is logged: without the token it was sent
            intercepted = grpc.intercept_channel(channel, _AddToken())
            _send_phone_payloads(intercepted)
    finally:
        thread.stop()
    assert caplog.records, "the server logs at INFO (catalog load, the refusal warning)"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert PHONE not in logged
    assert TOKEN not in logged


class _AddToken(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):  # type: ignore[misc]
    """Adds the bearer token to every call on a channel."""

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {TOKEN}")]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)


# ---- the command line, on real processes ------------------------------------------


def _run_server(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "whatsapp_errors.server", "--workers", "1", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def _exit_and_error(*args: str) -> tuple[int, str]:
    proc = _run_server(*args)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode()


def test_plaintext_off_loopback_is_refused_with_exit_2() -> None:
    code, err = _exit_and_error("--host", "0.0.0.0", "--port", str(free_port()))
    assert code == 2
    assert "refusing to serve plaintext on non-loopback address 0.0.0.0" in err
    assert "--insecure" in err and "--tls-cert" in err


def test_bad_security_flags_exit_2_with_a_reason(tmp_path: Path) -> None:
    code, err = _exit_and_error("--tls-cert", str(tmp_path / "missing.crt"))
    assert code == 2
    assert "--tls-cert and --tls-key go together" in err
    code, err = _exit_and_error(
        "--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(tmp_path / "missing.key")
    )
    assert code == 2
    assert "missing.crt" in err and "No such file" in err
    empty = tmp_path / "token"
    empty.write_text("\n")
    code, err = _exit_and_error("--token-file", str(empty))
    assert code == 2
    assert "the file is empty" in err


def _wait_ready(channel: grpc.Channel, timeout: float = 30) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_mtls_and_token_flags_on_a_real_process(
    tmp_path: Path, ca: Authority, server_pair: Pair, client_pair: Pair
) -> None:
    cert, key = server_pair.write(tmp_path, "server")
    client_ca, _ = ca.pair.write(tmp_path, "ca")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    proc = _run_server(
        *("--port", str(port), "--log-level", "INFO"),
        *("--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(client_ca)),
        *("--token-file", str(token_file)),
    )
    try:
        with _secure(f"127.0.0.1:{port}", ca.pair.cert, client_pair) as channel:
            _wait_ready(channel)
            assert _get_error(channel, TOKEN).error.code == 131047
            assert _refused(channel).code() == grpc.StatusCode.UNAUTHENTICATED
            _send_phone_payloads(grpc.intercept_channel(channel, _AddToken()))
        with _secure(f"127.0.0.1:{port}", ca.pair.cert) as channel:
            assert _refused(channel, TOKEN).code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert _refused(channel, TOKEN).code() == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    log = err.decode()
    assert "mutual TLS, bearer token required" in log
    assert PHONE not in log and TOKEN not in log


def test_insecure_allows_plaintext_off_loopback_and_env_token_is_honoured() -> None:
    port = free_port()
    proc = _run_server(
        "--host", "0.0.0.0", "--insecure", "--port", str(port), env={TOKEN_ENV: TOKEN}
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _wait_ready(channel)
            assert _refused(channel).code() == grpc.StatusCode.UNAUTHENTICATED
            assert _get_error(channel, TOKEN).error.code == 131047
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    log = err.decode()
    assert "bearer token travels in plaintext" in log
    assert TOKEN not in log
