"""Every test in tests/bench/ tests the benchmark tools, not the product: marked `bench`.

CI runs them; a developer's quick loop skips them with `pytest -m "not bench"`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the items collected from this folder."""
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.bench)
