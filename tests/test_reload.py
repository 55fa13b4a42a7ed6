"""Live catalog reload and the overlay, on real servers.

In-process servers (ServerThread) show the reload rules call by call: the
new catalog is validated first, a bad one is refused with its reason and
the old one keeps answering, a stream keeps the version it started with.
Subprocesses show the operator's side: SIGHUP, the file watch and
`--overlay` through the real command line.
"""

from __future__ import annotations

import logging
import queue
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.conftest import ServerThread
from tests.support.processes import free_port, wait_serving
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG
from whatsapp_errors.server.ops.reload import CatalogReloader
from whatsapp_errors.v1 import error_catalog_pb2 as pb
from whatsapp_errors.v1 import error_catalog_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
BASE_VERSION = 'version = "2026.12.03"'
OVERLAY = """
version = "acme-1"

[[errors]]
code = 990001
category = "OTHER"
reason = "Acme gateway refused the message"
description = "Our own gateway in front of the provider refused the message."
recommended_action = "Check the gateway's allow-list."
retry_strategy = "FIX_CONFIGURATION"
actor = "BUSINESS"

[[errors]]
code = 131026
category = "RECIPIENT"
reason = "Undeliverable (Acme wording)"
description = "Acme's own description of 131026."
recommended_action = "Ask the customer to check their WhatsApp."
retry_strategy = "DO_NOT_RETRY"
actor = "RECIPIENT"
"""


def catalog_copy(tmp_path: Path, version: str = "2026.12.03") -> Path:
    """The embedded catalog under tmp_path, with its version line set to `version`."""
    path = tmp_path / "catalog.toml"
    shutil.copyfile(EMBEDDED_CATALOG, path)
    set_version(path, version)
    return path


def set_version(path: Path, version: str) -> None:
    text = EMBEDDED_CATALOG.read_text(encoding="utf-8")
    assert text.count(BASE_VERSION) == 1
    replace_atomically(path, text.replace(BASE_VERSION, f'version = "{version}"'))


def replace_atomically(path: Path, text: str) -> None:
    """What an operator (or a ConfigMap) does: write a new file, rename it over the old."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def version_of(stub: pb_grpc.ErrorCatalogServiceStub) -> str:
    version: str = stub.Classify(pb.ClassifyRequest(code=131026), timeout=10).catalog_version
    return version


@pytest.fixture
def reloadable(tmp_path: Path) -> Iterator[tuple[ServerThread, CatalogReloader, Path]]:
    path = catalog_copy(tmp_path, "2026.12.03")
    thread = ServerThread(ServerConfig(catalog_path=path, metrics_port=0)).start()
    metrics = thread.running.metrics
    assert metrics is not None
    reloader = CatalogReloader(thread.running.holder, path, None, metrics.reload_result)
    yield thread, reloader, path
    thread.stop()


def test_valid_reload_swaps_and_invalid_keeps_the_old_one(
    reloadable: tuple[ServerThread, CatalogReloader, Path], caplog: pytest.LogCaptureFixture
) -> None:
    thread, reloader, path = reloadable
    with grpc.insecure_channel(thread.target) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        first = version_of(stub)
        assert first.startswith("2026.12.03-")

        set_version(path, "2026.12.01")
        assert thread.call(reloader.reload("test")) is True
        second = version_of(stub)
        assert second.startswith("2026.12.01-")
        assert stub.GetError(pb.GetErrorRequest(code=131026)).catalog_version == second

        # A duplicate code on a known line: refused, named, and the old catalog still answers.
        text = path.read_text(encoding="utf-8")
        duplicate = (
            text
            + "\n"
            + text[
                text.index("[[errors]]") : text.index("[[errors]]", 1 + text.index("[[errors]]"))
            ]
        )
        replace_atomically(path, duplicate)
        with caplog.at_level(logging.ERROR, logger="whatsapp_errors.server.ops.reload"):
            assert thread.call(reloader.reload("test")) is False
        assert version_of(stub) == second
        [record] = [r for r in caplog.records if r.name == "whatsapp_errors.server.ops.reload"]
        assert "rejected" in record.getMessage() and second in record.getMessage()
        assert str(path) in record.getMessage() and "111001" in record.getMessage()

        # Not TOML at all: refused too, with the parser's line.
        replace_atomically(path, "version = \n[[errors]\n")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="whatsapp_errors.server.ops.reload"):
            assert thread.call(reloader.reload("test")) is False
        assert f"{path}:" in caplog.records[-1].getMessage()
        assert version_of(stub) == second

    metrics = thread.running.metrics
    assert metrics is not None
    assert metrics.reloads == {"success": 1, "failure": 2}
    assert metrics.catalog_version == second


def test_a_stream_finishes_on_the_version_it_started_with(
    reloadable: tuple[ServerThread, CatalogReloader, Path],
) -> None:
    thread, reloader, path = reloadable
    requests: queue.Queue[pb.ClassifyStreamRequest | None] = queue.Queue()

    def feed() -> Iterator[pb.ClassifyStreamRequest]:
        while (request := requests.get(timeout=30)) is not None:
            yield request

    batch = pb.ClassifyStreamRequest(items=[pb.ClassifyItem(id="a", code=131026)])
    with grpc.insecure_channel(thread.target) as channel:
        stub = pb_grpc.ErrorCatalogServiceStub(channel)
        answers = stub.ClassifyStream(feed(), timeout=30)
        requests.put(batch)
        started_on = next(answers).catalog_version

        set_version(path, "2027.01.01")
        assert thread.call(reloader.reload("test")) is True
        assert version_of(stub).startswith("2027.01.01-")

        requests.put(batch)
        assert next(answers).catalog_version == started_on  # the old catalog, to the end
        requests.put(None)
        assert list(answers) == []
        # A stream opened after the swap answers from the new catalog.
        fresh = list(stub.ClassifyStream(iter([batch]), timeout=10))
        assert fresh[0].catalog_version.startswith("2027.01.01-")


# ---- the command line: SIGHUP, the watch, --overlay ----------------------------------


class Process:
    """`python -m whatsapp_errors.server` on a free port, stopped with SIGTERM."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "whatsapp_errors.server",
                "--port",
                str(self.port),
                "--log-format",
                "json",
                *args,
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_serving(self.port, timeout=15)
        except TimeoutError:
            self.popen.kill()
            raise AssertionError(f"server did not start: {self.popen.communicate()[1]}") from None
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = pb_grpc.ErrorCatalogServiceStub(self.channel)

    def stop(self) -> str:
        """Stops the server; returns its log."""
        self.channel.close()
        self.popen.send_signal(signal.SIGTERM)
        _, err = self.popen.communicate(timeout=20)
        assert self.popen.returncode == 0, err
        return err


def wait_for_version(stub: pb_grpc.ErrorCatalogServiceStub, prefix: str) -> str:
    deadline = time.monotonic() + 15
    while not (version := version_of(stub)).startswith(prefix):
        assert time.monotonic() < deadline, f"still {version}, wanted {prefix}"
        time.sleep(0.05)
    return version


def test_sighup_reloads_and_a_bad_file_is_logged_and_ignored(tmp_path: Path) -> None:
    path = catalog_copy(tmp_path, "2026.12.03")
    server = Process("--catalog", str(path))
    try:
        assert version_of(server.stub).startswith("2026.12.03-")
        set_version(path, "2026.12.24")
        server.popen.send_signal(signal.SIGHUP)
        new = wait_for_version(server.stub, "2026.12.24-")
        replace_atomically(
            path,
            path.read_text(encoding="utf-8").replace('actor = "BUSINESS"', 'actor = "NOBODY"', 1),
        )
        server.popen.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert version_of(server.stub) == new
    finally:
        log = server.stop()
    assert "catalog reloaded (SIGHUP)" in log
    assert "catalog reload rejected (SIGHUP)" in log and "NOBODY" in log


def test_file_watch_reloads_without_a_signal(tmp_path: Path) -> None:
    path = catalog_copy(tmp_path, "2026.12.03")
    server = Process("--catalog", str(path), "--watch-interval", "0.1")
    try:
        set_version(path, "2026.12.31")
        wait_for_version(server.stub, "2026.12.31-")
    finally:
        log = server.stop()
    assert "catalog reloaded (catalog file changed)" in log


def test_overlay_end_to_end(tmp_path: Path) -> None:
    overlay = tmp_path / "acme.toml"
    overlay.write_text(OVERLAY, encoding="utf-8")
    server = Process("--overlay", str(overlay))
    try:
        stub = server.stub
        own = stub.GetError(pb.GetErrorRequest(code=990001))
        assert own.error.source == pb.SOURCE_OVERLAY
        assert own.error.reason == "Acme gateway refused the message"
        assert "+acme-1-" in own.catalog_version
        # The overlay's listing replaces the embedded one for its code.
        replaced = stub.Classify(pb.ClassifyRequest(code=131026))
        [classification] = replaced.classifications
        assert classification.error_info.reason == "Undeliverable (Acme wording)"
        assert classification.error_info.source == pb.SOURCE_OVERLAY
        assert classification.match_kind == pb.MATCH_KIND_EXACT_CODE
        # A webhook carrying the overlay's code classifies against it.
        payload = b'{"errors":[{"code":990001,"title":"refused"}]}'
        [found] = stub.Classify(pb.ClassifyRequest(payload=payload)).classifications
        assert found.error_info.code == 990001
        # Embedded codes the overlay does not name are still there.
        assert stub.GetError(pb.GetErrorRequest(code=111001)).error.source != pb.SOURCE_OVERLAY
        # The overlay reloads on SIGHUP like the base catalog.
        overlay.write_text(OVERLAY.replace("acme-1", "acme-2"), encoding="utf-8")
        server.popen.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "+acme-2-" not in stub.GetError(pb.GetErrorRequest(code=990001)).catalog_version:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.stop()


def test_sighup_reaches_every_worker(tmp_path: Path) -> None:
    path = catalog_copy(tmp_path, "2026.12.03")
    metrics_port = free_port()
    server = Process("--catalog", str(path), "--workers", "2", "--metrics-port", str(metrics_port))
    try:
        # Worker i serves /metrics on metrics_port + i once it is up: wait for both.
        deadline = time.monotonic() + 15
        while not all(metrics_up(metrics_port + i) for i in range(2)):
            assert time.monotonic() < deadline, "the workers did not both start"
            time.sleep(0.05)
        time.sleep(0.3)  # from /metrics up to the SIGHUP handler: a few lines of serve()
        set_version(path, "2026.12.25")
        server.popen.send_signal(signal.SIGHUP)  # to the supervisor, which forwards it
        # Fresh connections land on either worker (SO_REUSEPORT): 8 in a row must be new.
        deadline = time.monotonic() + 15
        while not all(fresh_version(server.port).startswith("2026.12.25-") for _ in range(8)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        log = server.stop()
    assert log.count("catalog reloaded (SIGHUP)") == 2


def fresh_version(port: int) -> str:
    """The version a brand-new connection is answered with."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return version_of(pb_grpc.ErrorCatalogServiceStub(channel))


def metrics_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1):
            return True
    except OSError:
        return False


# ---- D10: an overlay must name its version and hold something ----------------------------


@pytest.mark.parametrize(
    "broken, says",
    [
        ("", "no `version"),
        ("# truncated mid-write\n", "no `version"),
        ('version = "acme-2"\n', "holds no entries"),
        (OVERLAY.replace('version = "acme-1"', ""), "no `version"),
    ],
    ids=["empty", "comment only", "version only", "entries without version"],
)
def test_d10_an_overlay_without_version_or_entries_is_refused_and_the_old_kept(
    tmp_path: Path, broken: str, says: str
) -> None:
    overlay = tmp_path / "acme.toml"
    overlay.write_text(OVERLAY, encoding="utf-8")
    server = Process("--overlay", str(overlay))
    try:
        before = server.stub.GetError(pb.GetErrorRequest(code=990001))
        assert "+acme-1-" in before.catalog_version
        replace_atomically(overlay, broken)
        server.popen.send_signal(signal.SIGHUP)
        time.sleep(1.0)  # a reload is a few ms; a refusal changes nothing to wait for
        after = server.stub.GetError(pb.GetErrorRequest(code=990001))
        assert after.catalog_version == before.catalog_version
        assert after.error.reason == "Acme gateway refused the message"
    finally:
        log = server.stop()
    assert "catalog reload rejected (SIGHUP)" in log
    rejected = next(line for line in log.splitlines() if "catalog reload rejected" in line)
    assert str(overlay) in rejected and says in rejected


def test_d10_the_server_will_not_start_on_an_empty_overlay(tmp_path: Path) -> None:
    overlay = tmp_path / "empty.toml"
    overlay.write_text("", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "whatsapp_errors.server",
            "--port",
            str(free_port()),
            "--overlay",
            str(overlay),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert str(overlay) in line and "no `version" in line
    assert "Traceback" not in done.stderr
