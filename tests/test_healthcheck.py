"""`python -m whatsapp_errors.server.healthcheck` against a server with mutual TLS and a token.

The Docker HEALTHCHECK must be able to probe a TLS server: plaintext fails
(exit 1), the CA plus client certificate and token succeed (exit 0), and a
missing file is a usage error (exit 2), never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.support.certs import Authority
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.ops.security import TlsFiles

TOKEN = "health-test-token-0a9f"


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority.create()


@pytest.fixture(scope="module")
def mtls_server(ca: Authority) -> Iterator[ServerThread]:
    pair = ca.issue("localhost", server=True)
    tls = TlsFiles(pair.cert, pair.key, client_ca=ca.pair.cert)
    thread = ServerThread(ServerConfig(tls=tls, token=TOKEN)).start()
    yield thread
    thread.stop(grace=0.5)


def probe(
    port: int, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server.healthcheck",
            "--port",
            str(port),
            "--timeout",
            "2",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


def test_probes_a_mutual_tls_server_with_a_token(
    mtls_server: ServerThread, ca: Authority, tmp_path: Path
) -> None:
    (tmp_path / "ca.crt").write_bytes(ca.pair.cert)
    cert, key = ca.issue("healthcheck", server=False).write(tmp_path, "client")
    (tmp_path / "token").write_text(TOKEN + "\n")
    tls = ["--tls-ca", str(tmp_path / "ca.crt"), "--tls-cert", str(cert), "--tls-key", str(key)]
    ok = probe(
        mtls_server.port,
        *tls,
        "--tls-server-name",
        "localhost",
        "--token-file",
        str(tmp_path / "token"),
    )
    assert (ok.returncode, ok.stdout.strip()) == (0, "SERVING"), ok.stderr
    plaintext = probe(mtls_server.port)
    assert plaintext.returncode == 1 and plaintext.stderr.startswith("unhealthy: UNAVAILABLE")
    missing = probe(mtls_server.port, "--tls-ca", str(tmp_path / "missing.crt"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    half = probe(mtls_server.port, "--tls-ca", str(tmp_path / "ca.crt"), "--tls-cert", str(cert))
    assert half.returncode == 2 and "go together" in half.stderr
