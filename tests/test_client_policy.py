"""The published channel policy: JSON beside the proto, the one source the client reads.

Other languages load the same two files (examples/node does, in
tests/test_node_example.py), so the Python client must take its retry,
balancing, keepalive and limit settings from them and nowhere else, and the
files must ship in the installed package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from client import ErrorClient, InputRefused, LimitExceeded
from client.config import MAX_MESSAGE_BYTES, SERVICE_NAME, ClientConfig, channel_options
from client.policy import CHANNEL_OPTIONS, CHANNEL_OPTIONS_FILE, SERVICE_CONFIG, SERVICE_CONFIG_FILE
from tests.conftest import ServerThread
from whatsapp.errors.v1 import error_catalog_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "protos" / "whatsapp" / "errors" / "v1"


def test_the_client_uses_the_files_beside_the_proto() -> None:
    assert json.loads((PUBLISHED / SERVICE_CONFIG_FILE).read_text()) == SERVICE_CONFIG
    assert json.loads((PUBLISHED / CHANNEL_OPTIONS_FILE).read_text()) == CHANNEL_OPTIONS
    options = dict(channel_options(ClientConfig()))
    assert json.loads(options["grpc.service_config"]) == SERVICE_CONFIG
    assert {k: options[k] for k in CHANNEL_OPTIONS} == CHANNEL_OPTIONS


def test_the_service_config_names_the_service_and_retries_only_unavailable() -> None:
    (method,) = SERVICE_CONFIG["methodConfig"]
    assert method["name"] == [{"service": SERVICE_NAME}]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert method["maxRequestMessageBytes"] == method["maxResponseMessageBytes"]
    assert method["maxRequestMessageBytes"] == MAX_MESSAGE_BYTES
    assert SERVICE_CONFIG["loadBalancingConfig"] == [{"round_robin": {}}]


def test_the_limit_is_the_servers(server: ServerThread) -> None:
    """Just under the published limit reaches the server (which reads it); just over does not."""
    with ErrorClient(server.target) as errors:
        with pytest.raises(InputRefused):  # read, and refused as JSON: the size was fine
            errors.classify(b"x" * (MAX_MESSAGE_BYTES - 1024))
        with pytest.raises(LimitExceeded):
            errors.classify(b"x" * (MAX_MESSAGE_BYTES + 1024))


def test_the_json_ships_in_the_wheel(tmp_path: Path) -> None:
    """Built as the Dockerfile builds it: from pyproject, README, protos, server, client."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("protos", "server", "client"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip, "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    folder = pb.__name__.rpartition(".")[0].replace(".", "/")
    assert {f"{folder}/{SERVICE_CONFIG_FILE}", f"{folder}/{CHANNEL_OPTIONS_FILE}"} <= names
