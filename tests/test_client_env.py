"""Twelve-factor client settings: WAERR_* variables, read alike by from_env() and `waerr`.

Against a real server with mutual TLS and a token, configured by nothing but
the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.support.certs import Authority
from tests.test_cli import waerr
from whatsapp_errors.client import (
    AsyncErrorClient,
    ClientConfig,
    ErrorClient,
    Unauthenticated,
    config_from_env,
)
from whatsapp_errors.client.config import DEFAULT_TARGET
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.ops.security import TlsFiles

TOKEN = "env-test-token-51c0"


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority.create()


@pytest.fixture(scope="module")
def mtls_server(ca: Authority) -> Iterator[ServerThread]:
    pair = ca.issue("localhost", server=True)
    thread = ServerThread(
        ServerConfig(tls=TlsFiles(pair.cert, pair.key, client_ca=ca.pair.cert), token=TOKEN)
    ).start()
    yield thread
    thread.stop(grace=0.5)


@pytest.fixture(scope="module")
def environ(
    mtls_server: ServerThread, ca: Authority, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Everything a client needs to reach `mtls_server`, as environment variables."""
    folder = tmp_path_factory.mktemp("env-tls")
    (folder / "ca.crt").write_bytes(ca.pair.cert)
    cert, key = ca.issue("waerr-client", server=False).write(folder, "client")
    return {
        "WAERR_TARGET": mtls_server.target,
        "WAERR_TOKEN": TOKEN,
        "WAERR_TLS_CA": str(folder / "ca.crt"),
        "WAERR_TLS_CERT": str(cert),
        "WAERR_TLS_KEY": str(key),
        "WAERR_TLS_SERVER_NAME": "localhost",
    }


def test_config_from_env_reads_every_variable(environ: dict[str, str]) -> None:
    config = config_from_env(environ)
    assert config == ClientConfig(
        target=environ["WAERR_TARGET"],
        token=TOKEN,
        tls_ca=Path(environ["WAERR_TLS_CA"]),
        tls_cert=Path(environ["WAERR_TLS_CERT"]),
        tls_key=Path(environ["WAERR_TLS_KEY"]),
        tls_server_name="localhost",
    )
    assert config.uses_tls


def test_arguments_win_and_empty_variables_count_as_unset() -> None:
    environ = {"WAERR_TARGET": "10.0.0.5:50051", "WAERR_TOKEN": "  ", "WAERR_TLS_CA": ""}
    config = config_from_env(environ, target="127.0.0.1:1", timeout=2.5, token=None)
    assert (config.target, config.timeout, config.token, config.tls_ca) == (
        "127.0.0.1:1",
        2.5,
        None,
        None,
    )
    assert config_from_env({}).target == DEFAULT_TARGET
    assert not config_from_env({}).uses_tls


def test_from_env_reaches_a_mutual_tls_server_with_a_token(environ: dict[str, str]) -> None:
    with ErrorClient.from_env(environ) as errors:
        assert errors.get_error(131047).error.code == 131047
    without_token = {k: v for k, v in environ.items() if k != "WAERR_TOKEN"}
    with ErrorClient.from_env(without_token) as errors, pytest.raises(Unauthenticated):
        errors.get_error(131047)

    async def main() -> int:
        async with AsyncErrorClient.from_env(environ, timeout=5) as errors:
            return len((await errors.classify(131047)).classifications)

    assert asyncio.run(main()) == 1


def test_the_cli_reads_the_same_variables(environ: dict[str, str]) -> None:
    result = waerr("lookup", "131047", target=None, env=environ)
    assert result.returncode == 0, result.stderr
    assert "131047" in result.stdout
    no_ca = {k: v for k, v in environ.items() if not k.startswith("WAERR_TLS")}
    refused = waerr("lookup", "131047", target=None, env=no_ca, timeout=30)
    assert refused.returncode == 1 and "cannot reach" in refused.stderr
