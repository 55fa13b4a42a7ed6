"""Big request buffers go back to the OS when freed (glibc's mmap threshold, fixed).

glibc serves an allocation of at least M_MMAP_THRESHOLD bytes (128 KiB) with
its own mmap and unmaps it on free, but it raises the threshold to the size
of every mmapped block it frees, up to 32 MiB. After the first 8 MiB message
the server accepts, the next ones come from the heap instead, and the heap
keeps the pages they leave: under the soak's hostile load (7 MB queries,
8 MiB of stream items, 600,000-object Structs) RSS drifted from ~118 to ~136
MiB over 120 s with glibc's in-use bytes flat and its free bytes growing.
Setting the threshold once turns that adjustment off (mallopt(3)): the same
soak then holds ~100-110 MiB instead of ~120-136 (bench/README.md).

An operator's MALLOC_MMAP_THRESHOLD_ is left as it is; other C libraries
(musl, macOS) have no such adjustment and are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_MMAP_THRESHOLD = -3
"""mallopt's parameter number (glibc malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's own starting value: only the upward drift is turned off."""


def fix_mmap_threshold() -> bool:
    """Pins glibc's mmap threshold; True if this call set it."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
