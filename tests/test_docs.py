"""Every marked README and docs example runs as written, against a real server on port 0.

tests/support/doc_blocks.py says how a block is marked. Commands run with bash
from the checkout's top (examples/ also linked there, so `examples/webhook.json`
and a bare `webhook.json` both work, and files a command writes are thrown
away), with .venv/bin first on PATH, WAERR_TARGET set, and `localhost:50051` /
`127.0.0.1:50051` (and `--port 50051`, as `python -m whatsapp_errors.server.healthcheck` takes
it) pointing at the test's server. stdout and stderr are compared together, as
a terminal shows them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.support.doc_blocks import Block, blocks, marked, matches

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SAMPLE = ROOT / "tests" / "data" / "docs_sample.md"
ADDRESSES = ("localhost:50051", "127.0.0.1:50051")
PORT_FLAG = "--port 50051"


def _cases(paths: list[Path]) -> list[Block]:
    return [b for path in paths if path.exists() and marked(path) for b in blocks(path)]


def checkout(tmp_path: Path) -> Path:
    """The checkout as a user has it, plus examples/ at the top, in a folder thrown away after.

    Every top-level entry is a symlink, so `.venv/bin/python`, `make`, `examples/webhook.json`
    and a bare `webhook.json` all work, and what a command writes lands here, not in the tree.
    """
    farm = tmp_path / "checkout"
    farm.mkdir()
    for entry in (*ROOT.iterdir(), *(ROOT / "examples").iterdir()):
        if entry.name not in (".git", "node_modules") and not (farm / entry.name).exists():
            (farm / entry.name).symlink_to(entry)
    return farm


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return checkout(tmp_path)


def _environ(server: ServerThread) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAERR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["WAERR_TARGET"] = server.target
    env["COLUMNS"] = "200"
    return env


def _pointed(text: str, server: ServerThread) -> str:
    for address in ADDRESSES:
        text = text.replace(address, server.target)
    return text.replace(PORT_FLAG, f"--port {server.port}")


_SEPARATOR = "\x1e"


def _outputs(
    block: Block, server: ServerThread, workdir: Path
) -> list[tuple[int, list[str] | None, str]]:
    """(line, shown output, actual output) for each command or the snippet of `block`."""
    env = _environ(server)
    if block.kind == "python":
        snippet = workdir / "snippet.py"
        snippet.write_text(_pointed("\n".join(block.body), server))
        result = _run([sys.executable, str(snippet)], workdir, env)
        return [(block.line, block.expected, result)]
    commands = block.commands()
    # One shell for the block, as in a terminal; a separator after each command keeps its $?.
    script = "".join(
        f"{_pointed(c.text, server)}\n__rc=$?; printf '\\n{_SEPARATOR}\\n'; (exit $__rc)\n"
        for c in commands
    )
    parts = _run(["bash", "-c", script], workdir, env).split(f"\n{_SEPARATOR}\n")
    return [(c.line, c.expected or None, out) for c, out in zip(commands, parts, strict=False)]


def _run(command: list[str], workdir: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout


def run_block(block: Block, server: ServerThread, workdir: Path) -> None:
    """Runs one marked block and fails with the difference when its output is not the shown one."""
    for line, expected, actual in _outputs(block, server, workdir):
        where = f"{block.path.name}:{line}"
        assert "Traceback" not in actual, f"{where}\n{actual}"
        assert "command not found" not in actual, f"{where}\n{actual}"
        if block.mode == "run" and expected is not None:
            assert matches(expected, actual.splitlines()), (
                f"{where}: output differs\n--- shown\n"
                + "\n".join(expected)
                + "\n--- got\n"
                + actual
            )


@pytest.mark.parametrize("block", _cases(DOCS), ids=lambda b: b.name)
def test_documented_example_runs_as_written(
    block: Block, server: ServerThread, workdir: Path
) -> None:
    if block.mode == "skip":
        pytest.skip(f"marked not to run: {block.reason}")
    run_block(block, server, workdir)


@pytest.mark.parametrize(
    "path", [p for p in DOCS if p.exists() and marked(p)], ids=lambda p: p.name
)
def test_every_example_of_a_marked_file_is_marked(path: Path) -> None:
    unmarked = [b.name for b in blocks(path) if b.mode is None]
    assert not unmarked, f"mark these blocks (<!-- doctest -->, or skip with a reason): {unmarked}"


def test_the_machinery_on_a_sample(server: ServerThread, workdir: Path) -> None:
    """The parser and runner on tests/data/docs_sample.md: a pass, a wildcard, a snippet, a skip."""
    sample = blocks(SAMPLE)
    assert [(b.kind, b.mode) for b in sample] == [
        ("console", "run"),
        ("python", "run"),
        ("console", "skip"),
        ("console", "no-compare"),
    ]
    assert sample[1].expected == ["131047 False", "130429 True"]
    assert sample[2].reason == "needs Docker"
    for block in sample:
        if block.mode != "skip":
            run_block(block, server, workdir)
    wrong = Block(SAMPLE, 1, "console", ["$ waerr lookup 131047", "nothing like this"], "run")
    with pytest.raises(AssertionError, match="output differs"):
        run_block(wrong, server, workdir)
