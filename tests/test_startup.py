"""Starting the server: WAERR_* variables, --version, and failures as one line and exit 2.

D12 of the reliability review: a key that does not match its certificate, a
file that is no certificate, a bogus client CA and a port in use all ended
in a traceback about "Failed to bind", exit 1. Every start-up failure is now
one `error:` line on stderr, exit status 2, and names what is wrong.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.certs import Authority
from tests.support.processes import ROOT, free_port, wait_serving
from whatsapp_errors.server.__main__ import build_parser, parse_args, version
from whatsapp_errors.server.ops.env_flags import apply_env_defaults, flag_variables


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A server process that is expected to fail at start-up."""
    return subprocess.run(
        [sys.executable, "-m", "whatsapp_errors.server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The failure's single `error:` line; no traceback anywhere."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tls")
    ca = Authority.create()
    cert, key = ca.issue("localhost", server=True).write(directory, "server")
    other_cert, other_key = (
        Authority.create("other").issue("localhost", server=True).write(directory, "other")
    )
    bogus = directory / "bogus.pem"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    return {"cert": cert, "key": key, "other_key": other_key, "bogus": bogus, "other": other_cert}


# ---- D12 ----------------------------------------------------------------------------------


def test_d12_a_key_of_another_pair_is_named_not_a_bind_failure(tls_files: dict[str, Path]) -> None:
    done = _start(
        "--port", str(free_port()), "--tls-cert", str(tls_files["cert"]),
        "--tls-key", str(tls_files["other_key"]),
    )  # fmt: skip
    line = _one_error_line(done)
    assert "does not match the certificate" in line and str(tls_files["other_key"]) in line
    assert "bind" not in line


@pytest.mark.parametrize(
    "flags",
    [
        ("--tls-cert", "{key}", "--tls-key", "{key}"),  # the key given as the certificate
        ("--tls-cert", "{bogus}", "--tls-key", "{key}"),
        ("--tls-cert", "{cert}", "--tls-key", "{key}", "--tls-client-ca", "{bogus}"),
        ("--tls-cert", "{cert}", "--tls-key", "{key}", "--tls-client-ca", "{key}"),
    ],
    ids=["key as cert", "bogus cert", "bogus client CA", "key as client CA"],
)
def test_d12_bad_tls_files_are_one_line_and_exit_2(
    tls_files: dict[str, Path], flags: tuple[str, ...]
) -> None:
    args = [flag.format(**{name: str(path) for name, path in tls_files.items()}) for flag in flags]
    line = _one_error_line(_start("--port", str(free_port()), *args))
    assert "--tls-" in line and "bind" not in line.lower()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_d12_a_port_in_use_is_one_line_and_exit_2(busy_port: int, workers: str) -> None:
    line = _one_error_line(_start("--port", str(busy_port), "--workers", workers))
    assert f"127.0.0.1:{busy_port}" in line


def test_d12_a_metrics_port_in_use_is_one_line_and_exit_2(busy_port: int) -> None:
    line = _one_error_line(_start("--port", str(free_port()), "--metrics-port", str(busy_port)))
    assert "Address already in use" in line or "address in use" in line.lower()


@pytest.mark.parametrize(
    "args",
    [("--port", "x"), ("--bogus",), ("--log-level", "LOUD"), ("--workers", "0"), ("--grace", "-1")],
)
def test_d12_bad_flags_are_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    done = _start(*args)
    _one_error_line(done)
    assert "usage:" not in done.stderr


# ---- WAERR_* variables ----------------------------------------------------------------------


def test_every_flag_reads_its_waerr_variable() -> None:
    table = dict(flag_variables(build_parser()))
    assert table["--port"] == "WAERR_PORT"
    assert table["--metrics-port"] == "WAERR_METRICS_PORT"
    assert table["--max-concurrent-rpcs"] == "WAERR_MAX_CONCURRENT_RPCS"
    assert "--help" not in table and "--version" not in table
    # The server's certificate is not the client's (client/environment.py reads WAERR_TLS_*).
    assert table["--tls-cert"] == "WAERR_SERVER_TLS_CERT"
    assert table["--tls-key"] == "WAERR_SERVER_TLS_KEY"
    assert table["--tls-client-ca"] == "WAERR_SERVER_TLS_CLIENT_CA"
    client_side = {"WAERR_TLS_CA", "WAERR_TLS_CERT", "WAERR_TLS_KEY", "WAERR_TLS_SERVER_NAME"}
    assert client_side.isdisjoint(table.values())
    environ = {
        "WAERR_HOST": "::1",
        "WAERR_PORT": "6000",
        "WAERR_METRICS_PORT": "9999",
        "WAERR_NO_REFLECTION": "true",
        "WAERR_INSECURE": "0",
        "WAERR_LOG_FORMAT": "json",
        "WAERR_GRACE": "2.5",
        "WAERR_OVERLAY": "/etc/overlay.toml",
    }
    args = parse_args([], environ)
    assert (args.host, args.port, args.metrics_port) == ("::1", 6000, 9999)
    assert args.no_reflection is True and args.insecure is False
    assert (args.log_format, args.grace, args.overlay) == ("json", 2.5, Path("/etc/overlay.toml"))


def test_the_command_line_wins_over_the_variable() -> None:
    args = parse_args(["--port", "7000"], {"WAERR_PORT": "6000", "WAERR_WORKERS": "3"})
    assert (args.port, args.workers) == (7000, 3)


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("WAERR_PORT", "abc", "WAERR_PORT='abc': not a valid value for --port"),
        ("WAERR_INSECURE", "maybe", "--insecure is a switch"),
        ("WAERR_LOG_LEVEL", "LOUD", "--log-level must be one of"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(name: str, value: str, says: str) -> None:
    line = _one_error_line(_start(env={"PATH": "/usr/bin:/bin", name: value}))
    assert says in line


def test_a_server_started_from_variables_alone_serves() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_errors.server"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "WAERR_PORT": str(port), "WAERR_LOG_LEVEL": "WARNING"},
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_serving(port, timeout=30)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_apply_env_defaults_leaves_an_unset_variable_alone() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=1)
    apply_env_defaults(parser, {})
    assert parser.parse_args([]).port == 1


# ---- --version ------------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "whatsapp_errors.server", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"python -m whatsapp_errors.server {version()}"
    assert version() != "unknown"
