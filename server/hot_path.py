"""The ClassifyStream hot path, compiled with mypyc where it was built, pure Python otherwise.

A stream item's cost is mostly the interpreter running the webhook reader,
the classifier's dispatch and the answer's framing; compiled by mypyc
(setup.py, at install) the same source costs less per item (the figures:
bench/README.md, "The compiled hot path"). Compiled classes are native:
no weak references to them, no attributes they do not declare
(server/rpc/listing.py keys its cache on the classifier's MessageCache for
that reason); decide.py stays interpreted, as it ran slower compiled.
The compiled modules are built in place beside their `.py` files, and the
import system prefers them; `WAERR_PURE_PYTHON=1` in the environment, or a
build that did not complete, makes the server import the `.py` sources
instead, with the same answers (tests/test_hot_path.py runs the fast-path
suite both ways). `describe()` says which one runs, for the start-up log
and the benchmark's results.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_LOGGER = logging.getLogger(__name__)

PACKAGE = "whatsapp_errors.server"
SOURCES = (
    "classify/typed_error.py",
    "classify/webhook_reader.py",
    "classify/classifier.py",
    "rpc/wire.py",
    "rpc/batch.py",
)
"""What setup.py compiles (paths in server/), all in one group: every one compiled, or none."""
MODULES = tuple(f"{PACKAGE}.{source[:-3].replace('/', '.')}" for source in SOURCES)
GROUP_NAME = f"{PACKAGE}.hotpath"
"""setup.py's mypyc group_name."""
GROUP = f"{GROUP_NAME}__mypyc"
"""The shared library mypyc builds for the group."""
PURE_VARIABLE = "WAERR_PURE_PYTHON"
COMPILE_VARIABLE = "WAERR_COMPILE"
"""Read by setup.py at build: off skips the compile."""
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
DIGEST = "hot_path.sha256"
"""Beside this module: `sources_digest` of what was compiled, written by setup.py."""


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Finds the hot-path modules as their `.py` files, ahead of any compiled copy."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path or ():
            source = Path(entry, f"{leaf}.py")
            if source.is_file():
                return importlib.util.spec_from_file_location(fullname, source)
        return None


def choose(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Before any hot-path import: the `.py` sources when asked, or when the build is unusable.

    A compiled module whose group library is missing or does not load
    would fail at import, and one built from other sources than those
    beside it (edited since, no rebuild) would run code that is no longer
    there; the sources always load.
    """
    if switch(environ.get(PURE_VARIABLE), default=False):
        _prefer_sources()
        return
    if importlib.util.find_spec(GROUP) is None:
        _prefer_sources()  # never built (WAERR_COMPILE=0, no compiler): nothing compiled loads
        return
    package = Path(__file__).parent
    try:
        built = (package / DIGEST).read_text(encoding="ascii").strip()
    except OSError:
        built = ""
    if built != sources_digest(package):  # edited since the build: run what is written
        _LOGGER.warning(
            "compiled hot path built from other sources than %s: running the sources "
            "(rebuild: make install)",
            ", ".join(SOURCES),
        )
        _prefer_sources()
        return
    try:
        importlib.import_module(GROUP)
    except ImportError as exc:
        _LOGGER.warning("compiled hot path unusable (%s): running the Python sources", exc)
        _prefer_sources()


def switch(value: str | None, default: bool) -> bool:
    """An on/off variable: `default` unless it says the opposite (1/true/yes/on, 0/false/no/off).

    Stdlib only, like this whole module: setup.py loads it before the
    package is installed, so it cannot use server/ops/env_flags.py.
    """
    word = (value or "").strip().lower()
    return word not in _OFF if default else word in _ON


def sources_digest(package: Path) -> str:
    """SHA-256 over the SOURCES under `package` (server/), as setup.py records it at build."""
    digest = hashlib.sha256()
    for source in SOURCES:
        digest.update(source.encode())
        digest.update(b"\0")
        try:
            digest.update((package / source).read_bytes())
        except OSError:
            digest.update(b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def _prefer_sources() -> None:
    if not any(isinstance(finder, _SourceFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())


def compiled() -> bool:
    """Whether the hot path imported here is mypyc's build (imports the modules)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    files = [getattr(importlib.import_module(name), "__file__", "") or "" for name in MODULES]
    return all(file.endswith(suffixes) for file in files)


def describe() -> str:
    """ "compiled (mypyc)" or "pure Python", for logs and benchmark results."""
    return "compiled (mypyc)" if compiled() else "pure Python"
