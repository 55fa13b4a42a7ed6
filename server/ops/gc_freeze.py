"""Keeps the cyclic garbage collector off the objects the server lives on.

After start-up the process holds tens of thousands of GC-tracked objects that
live as long as it does: the catalog, its cached messages, gRPC and protobuf
descriptors. Every full (generation 2) collection walks all of them, a stall
of every call in flight. `settle()` collects what is garbage now and moves
the survivors to the permanent generation (`gc.freeze`), so a full
collection walks only what was created since (bench/README.md has the
figures). A catalog reload calls it again, which first unfreezes, so the old
catalog is freed like any other garbage.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whatsapp_errors.server.classify.classifier import Classifier

_LOGGER = logging.getLogger(__name__)


def settle() -> int:
    """Collects garbage, then freezes what survives; returns the number of frozen objects."""
    began = time.perf_counter()
    gc.unfreeze()  # a reload: what the last settle froze may be garbage now
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    _LOGGER.debug(
        "froze %d long-lived objects in %.1f ms", frozen, (time.perf_counter() - began) * 1e3
    )
    return frozen


def settle_after_reload(_classifier: Classifier) -> None:
    """A ClassifierHolder listener: the old catalog is released, the new one frozen."""
    settle()
