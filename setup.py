"""Compiles the ClassifyStream hot path with mypyc at install; pure Python when it cannot.

Everything else about the package is in pyproject.toml. server/hot_path.py
lists the modules and chooses at run time between the build and the
sources; this file builds them as one mypyc group whose shared library lives
inside the package, and records the digest of what it compiled, so a source
edited after the build runs as written. The modules are typed for mypyc from
their own annotations (no mypy config; imports it cannot see are Any), so an
isolated build compiles the same code as the dev venv. Each extension is
optional: without a C compiler the install goes on, pure Python, and so
does WAERR_COMPILE=0.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup

SERVER = Path(__file__).parent / "server"


def _hot_path() -> ModuleType:
    """server/hot_path.py on its own (stdlib only): the package is not installed yet."""
    spec = importlib.util.spec_from_file_location("_hot_path", SERVER / "hot_path.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hot_path_extensions() -> list[Extension]:
    """The mypyc extensions, or none when compiling is switched off."""
    hot_path = _hot_path()
    if not hot_path.switch(os.environ.get(hot_path.COMPILE_VARIABLE), default=True):
        return []
    from mypyc.build import mypycify

    (SERVER / hot_path.DIGEST).write_text(hot_path.sources_digest(SERVER) + "\n")
    options = ["--config-file=", "--explicit-package-bases", "--ignore-missing-imports"]
    extensions: list[Extension] = mypycify(
        [*(f"whatsapp_errors/server/{source}" for source in hot_path.SOURCES), *options],
        group_name=hot_path.GROUP_NAME,
    )
    for extension in extensions:
        extension.optional = True  # a failed compile warns; the sources run
    return extensions


setup(ext_modules=hot_path_extensions())
