"""The compiled hot path: built where a compiler is, the same answers as its sources.

server/hot_path.py chooses at import between mypyc's build of the stream's
hot path and the `.py` sources; these tests run the real interpreter in
subprocesses, so each sees the choice a fresh server makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whatsapp_errors.server import hot_path

ROOT = Path(__file__).resolve().parent.parent
DESCRIBE = "from whatsapp_errors.server import hot_path; print(hot_path.describe())"
CAN_COMPILE = shutil.which("cc") is not None or shutil.which("gcc") is not None
SUITES = [
    "tests/test_fastpath.py",
    "tests/test_readers.py",
    "tests/test_bad_input.py",
    "tests/test_wire.py",
    "tests/test_classify_stream.py",
    "tests/test_budgets.py",
    "tests/test_properties.py",
]
"""The suites that exercise the hot path's modules: the readers, the framing, the batches."""


def _python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(not CAN_COMPILE, reason="no C compiler: the install is pure Python")
def test_an_install_with_a_compiler_serves_the_compiled_hot_path() -> None:
    assert _python(DESCRIBE, WAERR_PURE_PYTHON="") == "compiled (mypyc)"
    files = _python(
        "import importlib\nfrom whatsapp_errors.server import hot_path\n"
        "print('\\n'.join(importlib.import_module(m).__file__ for m in hot_path.MODULES))"
    ).splitlines()
    assert [Path(f).name.split(".")[0] for f in files] == [Path(s).stem for s in hot_path.SOURCES]
    assert all(f.endswith(".so") for f in files)


def test_waerr_pure_python_runs_the_sources() -> None:
    code = (
        "import importlib\nfrom whatsapp_errors.server import hot_path\n"
        "print(hot_path.describe())\n"
        "print(*(importlib.import_module(m).__file__ for m in hot_path.MODULES))"
    )
    described, files = _python(code, WAERR_PURE_PYTHON="1").splitlines()
    assert described == "pure Python"
    assert all(f.endswith(".py") for f in files.split())


def test_the_hot_path_suites_pass_on_the_sources_too() -> None:
    """The default run tests the build; this one the sources, so neither drifts alone."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *SUITES],
        cwd=ROOT,
        env={**os.environ, "WAERR_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]


def test_a_source_edited_after_the_build_changes_the_digest(tmp_path: Path) -> None:
    """An edit without a rebuild must not be silently ignored: the build's digest stops matching."""
    package = tmp_path / "server"
    for source in hot_path.SOURCES:
        (package / source).parent.mkdir(parents=True, exist_ok=True)
        (package / source).write_text(f"# {source}\n", encoding="utf-8")
    built = hot_path.sources_digest(package)
    assert hot_path.sources_digest(package) == built
    with (package / hot_path.SOURCES[-1]).open("a", encoding="utf-8") as edited:
        edited.write("x = 1\n")
    assert hot_path.sources_digest(package) != built
    (package / hot_path.SOURCES[-1]).write_text(f"# {hot_path.SOURCES[-1]}\n", encoding="utf-8")
    assert hot_path.sources_digest(package) == built
    (package / hot_path.SOURCES[0]).unlink()
    assert hot_path.sources_digest(package) != built


@pytest.mark.skipif(not CAN_COMPILE, reason="no C compiler: the install is pure Python")
def test_the_recorded_digest_is_that_of_the_sources_here() -> None:
    """`make install` rebuilt after the last edit (else the sources run, with a warning)."""
    package = ROOT / "server"
    recorded = (package / hot_path.DIGEST).read_text(encoding="ascii").strip()
    assert recorded == hot_path.sources_digest(package), "stale build: run `make install`"
