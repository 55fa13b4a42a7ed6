"""heap.settle: start-up objects leave the collector's full passes; garbage does not survive."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, load_catalog
from whatsapp_errors.server.classify.classifier import Classifier
from whatsapp_errors.server.ops import gc_freeze as heap


@pytest.fixture(autouse=True)
def _unfreeze_after() -> Iterator[None]:
    yield
    gc.unfreeze()


class _Node:
    """A GC-tracked object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: object = self


def test_settle_freezes_what_is_alive() -> None:
    classifier = Classifier(load_catalog(EMBEDDED_CATALOG))
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() > 1000
    assert gc.is_tracked(classifier.catalog.listings)
    listings = classifier.catalog.listings
    assert not any(obj is listings for obj in gc.get_objects(generation=2))


def test_settle_collects_cyclic_garbage_before_freezing() -> None:
    node = _Node()
    alive = weakref.ref(node)
    del node
    assert alive() is not None  # a cycle: only the collector frees it
    heap.settle()
    assert alive() is None


def test_a_second_settle_releases_garbage_that_the_first_froze() -> None:
    node = _Node()
    alive = weakref.ref(node)
    heap.settle()  # frozen while still referenced
    del node  # now cyclic garbage inside the frozen generation
    gc.collect()
    assert alive() is not None  # frozen objects are never collected...
    heap.settle()  # ...until a reload settles again
    assert alive() is None
