"""Node.js for the tests: examples/node's packages, installed once from the npm registry.

`npm ci` runs only when package-lock.json changed since the last install (a
stamp in node_modules), with its cache under .build/, so the suite installs
once per checkout. Where node or npm is missing, or the registry cannot be
reached, the tests that need them skip and say why; on CI (CI set) an install
that fails is a failure, because CI machines have npm and the registry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node"
CACHE = ROOT / ".build" / "npm-cache"
STAMP = EXAMPLE / "node_modules" / ".waerr-installed"


def node() -> str:
    """The node executable, or a skip."""
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed (Node.js 20+ runs examples/node)")
    return found


def installed() -> Path:
    """examples/node with its node_modules, or a skip saying why it could not be."""
    node()
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (it installs examples/node's packages)")
    lock = hashlib.sha256((EXAMPLE / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == lock:
        return EXAMPLE
    command = [npm, "ci", "--no-audit", "--no-fund", "--cache", str(CACHE)]
    result = subprocess.run(
        command, cwd=EXAMPLE, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        reason = f"npm ci in examples/node failed (no npm registry?): {result.stderr[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    STAMP.write_text(lock)
    return EXAMPLE
