"""Lines written below Python's logging (grpc's C core) as JSON log objects.

grpc's C core writes its own lines (`W1203 17:03:55.530773 25425 log.cc:110]
...`) straight to file descriptor 2, and so do a crashing thread's traceback
and a C extension's warnings. With `--log-format json` a log collector
expects one JSON object per line, so fd 2 becomes a pipe: a thread reads it
and re-emits each line through the logging handler, as logger `grpc.core`
(with the C core's level, file and line) or `stderr` (anything else).
Python's own handler writes to the original stderr, kept as a duplicate
descriptor, so nothing it writes loops back into the pipe.

Forked workers inherit the pipe; the thread lives in the parent, which
outlives them. At exit the original descriptor is put back and the thread
drains what is left, so a last line is not lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
from typing import TextIO

CORE_LOGGER = "grpc.core"
OTHER_LOGGER = "stderr"
_CORE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ ([^\]\s]+)\] ?(.*)$")
_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
_DRAIN_SECONDS = 2.0
_console: TextIO | None = None


def console() -> TextIO:
    """Where text for a person goes: the original stderr once fd 2 is routed, else sys.stderr."""
    return _console if _console is not None else sys.stderr


def route() -> TextIO:
    """Makes fd 2 a pipe read into JSON log lines; returns the original stderr for the handler."""
    global _console
    if _console is not None:
        return _console
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    _console = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="replace")
    reader = threading.Thread(target=_relay, args=(read_end,), name="native-stderr", daemon=True)
    reader.start()
    atexit.register(_restore, original, reader)
    return _console


def _relay(read_end: int) -> None:
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            text = line.rstrip("\n")
            if text:
                emit(text)


def emit(text: str) -> None:
    """One line from fd 2 as a log record: the C core's level and place when it is one of its."""
    match = _CORE_LINE.match(text)
    if match:
        level, place, message = match.groups()
        logging.getLogger(CORE_LOGGER).log(_LEVELS[level], message, extra={"source": place})
    else:
        logging.getLogger(OTHER_LOGGER).warning(text)


def _restore(original: int, reader: threading.Thread) -> None:
    """Puts the original stderr back on fd 2 (the pipe's last writer here) and drains the pipe."""
    sys.stderr.flush()
    os.dup2(original, 2)
    reader.join(_DRAIN_SECONDS)
