"""The `waerr` console script, run for real in a subprocess against a real server.

Covers every subcommand, the exit codes (0 ok, 1 items not classified or
server unreachable, 2 usage), one-line errors without tracebacks, and
streaming a 50,000-line JSONL file in order with the summary on stderr.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format

from tests.conftest import ServerThread
from tests.support.processes import free_port
from whatsapp_errors.client import ErrorClient
from whatsapp_errors.server.app import ServerConfig
from whatsapp_errors.v1 import error_catalog_pb2 as pb

DATA = Path(__file__).parent / "data" / "cli"
SHAPES = [line for line in (DATA / "shapes.jsonl").read_bytes().splitlines() if line.strip()]
SHAPE_CODES = [[131047], [130429], [], [132001], [113001]]
"""What each line of shapes.jsonl classifies as, in order."""
TOKEN = "cli-test-token-93b2"
_SCRIPT = Path(sys.executable).with_name("waerr")
COMMAND = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-m", "whatsapp_errors.client.cli.commands"]
)


def waerr(
    *args: str,
    target: str | None,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Runs the console script; `target` None leaves --target out."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WAERR_")}
    full_env.update(env or {})
    command = [*COMMAND, *(("--target", target) if target else ()), *args]
    return subprocess.run(
        command,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed run: exactly one line, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_jsonl(path: Path, count: int) -> None:
    """`count` lines cycling through shapes.jsonl."""
    with path.open("wb") as out:
        for i in range(count):
            out.write(SHAPES[i % len(SHAPES)] + b"\n")


# ---- lookups -----------------------------------------------------------------------


def test_lookup_prints_a_table(server: ServerThread) -> None:
    result = waerr("lookup", "131047", "132001", target=server.target)
    assert result.returncode == 0, result.stderr
    table, provenance = result.stdout.split("\n\n")
    header, first, second = table.splitlines()
    assert header.split()[:4] == ["CODE", "CATEGORY", "WHAT", "TO"]
    assert first.startswith("131047") and "business_account" in first
    assert "resend_as_template" in first and "Re-engagement message" in first
    assert second.startswith("132001") and "fix_template" in second
    basis, source = provenance.splitlines()[:2]  # what the decision rests on, and where from
    assert basis.startswith("131047: The provider's document")
    assert source.startswith("  source: provider document") and "2026-" in source


def test_lookup_shows_a_meta_entrys_page_and_a_retired_code(server: ServerThread) -> None:
    result = waerr("lookup", "1006", target=server.target)
    assert result.returncode == 0, result.stderr
    source = result.stdout.splitlines()[-1]
    assert source.startswith("  source: https://developers.facebook.com/")
    assert "retired" in source


def test_lookup_json_and_options_after_the_command(server: ServerThread) -> None:
    result = waerr("lookup", "131047", "--json", "--target", server.target, target=None)
    assert result.returncode == 0, result.stderr
    response = json_format.Parse(result.stdout, pb.BatchGetErrorsResponse())
    assert [e.code for e in response.errors] == [131047]


def test_lookup_unknown_code_exits_1_and_still_shows_the_known(server: ServerThread) -> None:
    result = waerr("lookup", "131047", "999", target=server.target)
    assert result.returncode == 1
    assert "131047" in result.stdout
    assert "no catalog entry for code 999" in one_line_error(result)


def test_list_search_and_categories(server: ServerThread) -> None:
    quota = waerr("list", "--category", "quota", target=server.target)
    assert quota.returncode == 0, quota.stderr
    rows = quota.stdout.splitlines()[1:-1]
    assert len(rows) == 6 and all(row.split()[1] == "quota" for row in rows)
    assert quota.stdout.splitlines()[-1].startswith("6 entries (catalog ")
    search = waerr("search", "rate", "limit", target=server.target)
    assert search.returncode == 0 and "130429" in search.stdout
    categories = waerr("categories", target=server.target)
    assert categories.returncode == 0
    assert len(categories.stdout.splitlines()) == 12  # header + 11 categories
    assert "Rate Limit Errors" in categories.stdout


def test_target_from_the_environment(server: ServerThread) -> None:
    result = waerr("categories", "--json", target=None, env={"WAERR_TARGET": server.target})
    assert result.returncode == 0, result.stderr
    assert len(orjson.loads(result.stdout)["categories"]) == 11


# ---- classify one --------------------------------------------------------------------


def test_classify_a_file_stdin_code_and_text(server: ServerThread) -> None:
    from_file = waerr("classify", str(DATA / "webhook.json"), target=server.target)
    assert from_file.returncode == 0, from_file.stderr
    assert "131047" in from_file.stdout and "130429" in from_file.stdout
    assert "retry_after 1m" in from_file.stdout
    piped = waerr("classify", "-", "--json", target=server.target, stdin=SHAPES[3])
    assert piped.returncode == 0, piped.stderr
    response = json_format.Parse(piped.stdout, pb.ClassifyResponse())
    assert response.classifications[0].error_info.code == 132001
    code = waerr("classify", "--code", "131047", target=server.target)
    assert code.returncode == 0 and "Re-engagement message" in code.stdout
    text = waerr("classify", "--text", "cURL error 28: timed out", target=server.target)
    assert text.returncode == 0 and "113001" in text.stdout


def test_classify_nothing_to_report(server: ServerThread) -> None:
    result = waerr("classify", "-", target=server.target, stdin=SHAPES[2])
    assert result.returncode == 0
    assert result.stdout.startswith("no errors in the input")


def test_classify_unreadable_payload_exits_1_with_the_reason(server: ServerThread) -> None:
    result = waerr("classify", "-", target=server.target, stdin=b'{"error": ')
    assert result.returncode == 1
    line = one_line_error(result)
    assert line.startswith("waerr: could not classify the input: INVALID_ARGUMENT")
    assert "not valid JSON" in line


# ---- usage and connection errors -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "required: COMMAND"),
        (("list", "--category", "nope"), "unknown category 'nope'; choose from authorization"),
        (("classify",), "exactly one of FILE"),
        (("classify", "--code", "1", "--text", "x"), "not allowed with argument --code"),
        (("classify", "--stream", "--code", "1"), "needs a FILE"),
        (("classify", "/no/such/file.json"), "cannot read /no/such/file.json"),
        (("lookup", "-5"), "error codes are not negative"),
        (("lookup", "abc"), "not an error code"),
        (("--target", "nohost", "categories"), "not host:port"),
        (("--timeout", "0", "categories"), "must be more than 0"),
        (("--tls-ca", "/no/ca.pem", "categories"), "cannot read TLS CA file /no/ca.pem"),
    ],
)
def test_usage_errors_exit_2_in_one_line(args: tuple[str, ...], says: str) -> None:
    result = waerr(*args, target=None)
    assert result.returncode == 2, result
    assert says in one_line_error(result)


def test_unreachable_server_exits_1_in_one_line() -> None:
    target = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = waerr("lookup", "131047", target=target)
    assert result.returncode == 1
    assert one_line_error(result).startswith(f"waerr: cannot reach {target}: UNAVAILABLE")
    assert time.monotonic() - started < 15
    stream = waerr("classify", "--stream", "-", target=target, stdin=SHAPES[0] + b"\n")
    assert stream.returncode == 1
    assert "UNAVAILABLE" in stream.stderr and "Traceback" not in stream.stderr


@pytest.fixture(scope="module")
def token_server() -> Iterator[ServerThread]:
    thread = ServerThread(ServerConfig(token=TOKEN)).start()
    yield thread
    thread.stop(grace=0.5)


def test_token_from_a_file_or_the_environment(token_server: ServerThread, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    target = token_server.target
    assert waerr("--token-file", str(token_file), "categories", target=target).returncode == 0
    assert waerr("categories", target=target, env={"WAERR_TOKEN": TOKEN}).returncode == 0
    refused = waerr("categories", target=target)
    assert refused.returncode == 1
    assert "UNAUTHENTICATED" in one_line_error(refused)


# ---- streams -------------------------------------------------------------------------


def test_stream_50k_lines_in_order_with_a_summary(server: ServerThread, tmp_path: Path) -> None:
    source, out = tmp_path / "webhooks.jsonl", tmp_path / "results.jsonl"
    count = 50_000
    write_jsonl(source, count)
    started = time.monotonic()
    result = waerr("classify", "--stream", str(source), "--out", str(out), target=server.target)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    lines = out.read_bytes().splitlines()
    assert len(lines) == count
    for number, line in enumerate(lines, 1):
        data = orjson.loads(line)
        assert data["id"] == str(number)
        assert data["status"]["code"] == 0
        codes = [int(c["error_info"]["code"]) for c in data["classifications"]]
        assert codes == SHAPE_CODES[(number - 1) % len(SHAPES)]
    assert "items/s" not in result.stderr and "\r" not in result.stderr  # no bar when piped
    summary = result.stderr.splitlines()
    assert summary[0].startswith("50000 items: 50000 classified, 0 could not be classified")
    assert "10000 without errors; 40000 errors" in summary[0]
    assert "CATEGORY          ERRORS" in summary and "rate_limit        10000" in summary
    assert "WHAT TO DO          ERRORS" in summary and "fix_template        10000" in summary
    assert elapsed < 20, f"50k lines took {elapsed:.1f}s"


def test_stream_results_read_back_as_the_clients_messages(
    server: ServerThread, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    write_jsonl(source, len(SHAPES))
    result = waerr("classify", "--stream", str(source), target=server.target)
    assert result.returncode == 0, result.stderr
    with ErrorClient(server.target) as errors:
        expected = list(
            errors.classify_stream(
                pb.ClassifyItem(id=str(i + 1), payload=s) for i, s in enumerate(SHAPES)
            )
        )
    parsed = [json_format.Parse(line, pb.ClassifyResult()) for line in result.stdout.splitlines()]
    assert parsed == expected


def test_stream_with_bad_lines_exits_1_and_loses_nothing(
    server: ServerThread, tmp_path: Path
) -> None:
    source = tmp_path / "mixed.jsonl"
    lines = [
        SHAPES[0],
        b"{not json",
        SHAPES[1],
        b"",
        b"[1, 2]",
        SHAPES[4],
        b'{"error": {"code": true}}',
    ]
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = waerr("classify", "--stream", str(source), target=server.target)
    assert result.returncode == 1
    results = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in results] == ["1", "2", "3", "5", "6", "7"]  # line 4 is blank
    status = {r["id"]: r["status"]["code"] for r in results}
    assert status == {"1": 0, "2": 3, "3": 0, "5": 3, "6": 0, "7": 3}
    assert all(r["status"]["message"] for r in results if r["status"]["code"])
    assert "6 items: 3 classified, 3 could not be classified" in result.stderr


def test_stream_from_stdin_to_stdout(server: ServerThread) -> None:
    stdin = b"\n".join(SHAPES * 20) + b"\n"
    result = waerr(
        "classify", "--stream", "-", "--batch-size", "7", target=server.target, stdin=stdin
    )
    assert result.returncode == 0, result.stderr
    ids = [orjson.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == [str(i) for i in range(1, 101)]


def test_progress_bar_on_a_terminal(server: ServerThread, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_jsonl(source, 5000)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    command = [*COMMAND, "--target", server.target, "classify", "--stream", str(source)]
    command += ["--out", str(tmp_path / "out.jsonl")]
    with subprocess.Popen(command, stderr=follower, stdout=subprocess.DEVNULL) as process:
        os.close(follower)
        seen = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, "no output from waerr"
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=30) == 0
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert "items/s" in text and "5.00k/5.00k" in text  # tqdm: rate and total (ETA source)
    assert "5000 items: 5000 classified" in text


# ---- summarize ----------------------------------------------------------------------------


def test_summarize_prints_counts(server: ServerThread, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_jsonl(source, 500)
    result = waerr("summarize", str(source), target=server.target)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ITEMS", "INVALID", "WITHOUT", "ERRORS", "ERRORS", "RETRYABLE"]
    assert lines[1].split() == ["500", "0", "100", "400", "200"]
    assert any(line.split() == ["template", "100"] for line in lines)
    as_json = waerr("summarize", "-", "--json", target=server.target, stdin=b"{bad\n" + SHAPES[0])
    assert as_json.returncode == 1  # an item could not be read
    summary = json_format.Parse(as_json.stdout, pb.SummarizeErrorsResponse())
    assert (summary.total_items, summary.invalid_items) == (2, 1)


def test_version_is_the_installed_package_version() -> None:
    from whatsapp_errors.client import version

    result = waerr("--version", target=None)
    assert result.returncode == 0
    assert result.stdout.strip() == f"waerr {version()}"
    assert version() != "unknown"
