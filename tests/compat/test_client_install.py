"""The client as another team installs it: alone, beside their own modules, on old grpcio.

`make test-oldest` copies this file out of the checkout and runs it in a venv
holding only `pip install ./client` at the oldest grpcio, protobuf and
googleapis-common-protos that client/pyproject.toml allows, against a server
run by the main venv (WAERR_SERVER_PYTHON). In `make test` it runs on the
newest versions. It imports nothing from the checkout but the client, so
what it proves is the installed package.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import grpc
import pytest

from whatsapp_errors.client import (
    Category,
    ErrorClient,
    InputRefused,
    RetryStrategy,
    Unreachable,
    decide_per_message,
)
from whatsapp_errors.v1 import error_catalog_pb2 as pb

SERVER_PYTHON = os.environ.get("WAERR_SERVER_PYTHON", sys.executable)
"""The interpreter that runs the server: the main venv's when this venv holds only the client."""
CHECKOUT = Path(os.environ.get("WAERR_CHECKOUT", Path(__file__).resolve().parents[2]))
WEBHOOK = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
                                "status": "failed",
                                "recipient_id": "16505551234",
                                "errors": [{"code": 131047, "title": "Re-engagement message"}],
                            }
                        ],
                    },
                }
            ],
        }
    ],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [SERVER_PYTHON, "-m", "whatsapp_errors.server", "--port", str(port)],
        cwd=CHECKOUT,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with grpc.insecure_channel(address) as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=1)
                    break
                except grpc.FutureTimeoutError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the server did not start") from None
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_installed_client_answers_lookups_webhooks_and_streams(target: str) -> None:
    with ErrorClient(target) as errors:
        info = errors.get_error(131047).error
        assert isinstance(info, pb.ErrorInfo)
        assert info.code == 131047 and Category(info.category) is Category.BUSINESS_ACCOUNT
        [(wamid, decision)] = decide_per_message(errors.classify(WEBHOOK)).items()
        assert wamid.startswith("wamid.") and decision.code == 131047
        assert decision.action is RetryStrategy.RESEND_AS_TEMPLATE and not decision.retry
        answered = list(errors.classify_stream([131026, 131047] * 250, batch_size=100))
        codes = [result.classifications[0].error_info.code for result in answered]
        assert codes == [131026, 131047] * 250
        with pytest.raises(InputRefused) as refused:
            errors.classify(b"{not json")
        assert isinstance(refused.value, grpc.RpcError)


def test_an_unreachable_server_is_its_own_exception() -> None:
    with ErrorClient(f"127.0.0.1:{_free_port()}", timeout=10) as errors, pytest.raises(Unreachable):
        errors.get_error(131047)


def test_the_client_needs_only_grpcio_protobuf_and_googleapis_common_protos() -> None:
    wanted = {
        req.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        for req in metadata.requires("whatsapp-errors-client") or []
        if "extra ==" not in req
    }
    assert wanted == {"grpcio", "protobuf", "googleapis-common-protos"}


def test_an_app_with_its_own_client_server_and_whatsapp_modules_imports_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "client.py").write_text("NAME = 'the app client'\n")
    (tmp_path / "whatsapp.py").write_text("NAME = 'the app whatsapp'\n")
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "__init__.py").write_text("NAME = 'the app server'\n")
    program = textwrap.dedent(
        """
        import client, server, whatsapp
        from whatsapp_errors.client import ErrorClient
        from whatsapp_errors.v1 import error_catalog_pb2_grpc
        print(client.NAME, server.NAME, whatsapp.NAME, ErrorClient.__module__, sep="|")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split("|") == [
        "the app client",
        "the app server",
        "the app whatsapp",
        "whatsapp_errors.client.sync_client",
    ]
