"""Freed big buffers leave the heap: glibc's mmap threshold stays fixed (ops/malloc_tuning.py).

The soak's RSS drift under hostile big requests was glibc raising its mmap
threshold after each big free, so later big buffers came from the heap and
their pages stayed. Each case runs in a fresh interpreter: the threshold is
process-wide and one-way.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

_PROBE = """
import ctypes, sys
from whatsapp_errors.server.ops import malloc_tuning

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fix":
    print("set", malloc_tuning.fix_mmap_threshold())
libc.free(libc.malloc(8 << 20))  # an 8 MiB message, freed: glibc alone raises its threshold
block = libc.malloc(4 << 20)
print("mmapped", libc.mallinfo2().hblkhd >= 4 << 20)
"""


def _probe(mode: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    return subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_a_big_block_after_a_big_free_is_mmapped_so_its_pages_go_back() -> None:
    assert _probe("fix").split() == ["set", "True", "mmapped", "True"]


def test_without_the_fix_glibc_puts_it_on_the_heap() -> None:
    """The control: what the fix is for (if glibc changes this, the fix may go)."""
    assert _probe("plain").split() == ["mmapped", "False"]


def test_an_operators_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from whatsapp_errors.server.ops import malloc_tuning

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert malloc_tuning.fix_mmap_threshold() is False
