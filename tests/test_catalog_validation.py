"""A broken catalog file stops start-up with a message naming the file, line and entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, CatalogError, load_catalog

GOOD = EMBEDDED_CATALOG.read_text(encoding="utf-8")
API_PERMISSION = 'reason = "API Permission"'
"""A line inside the 111002 entry, which the duplicate test renumbers to 111001."""


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the catalog")


def _header_before(text: str, needle: str) -> int:
    """The line of the [[errors]] header that owns the line containing `needle`."""
    lines = text.splitlines()
    at = _line_of(text, needle) - 1
    while not lines[at].startswith("[[errors]]"):
        at -= 1
    return at + 1


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_the_embedded_catalog_loads() -> None:
    catalog = load_catalog()
    assert len(catalog.listings) >= 68
    assert catalog.version.startswith("2026.")


def test_duplicate_code_names_both_lines(tmp_path: Path) -> None:
    path, text = _broken(tmp_path, "code = 111002", "code = 111001")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    second = _header_before(text, API_PERMISSION)
    assert f"{path}:{second}:" in message
    assert "111001" in message
    assert f"line {_header_before(text, 'code = 111001')}" in message


def test_unknown_category_is_named(tmp_path: Path) -> None:
    path, text = _broken(
        tmp_path,
        'code = 131047\ncategory = "BUSINESS_ACCOUNT"',
        'code = 131047\ncategory = "BILLING"',
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert f":{_header_before(text, 'code = 131047')}:" in message
    assert "131047" in message and "'BILLING'" in message and "RATE_LIMIT" in message


def test_missing_field_is_named(tmp_path: Path) -> None:
    path, text = _broken(tmp_path, 'reason = "Template Paused"\n', "")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert "missing field(s) reason" in message
    assert f":{_header_before(text, 'code = 132015')}:" in message
    assert "132015" in message


def test_bad_range_is_named(tmp_path: Path) -> None:
    path, _ = _broken(tmp_path, 'range = "115001–115005"', 'range = "115005–115001"')
    with pytest.raises(CatalogError, match="range"):
        load_catalog(path)


def test_retry_after_needs_a_delay(tmp_path: Path) -> None:
    path, _ = _broken(tmp_path, "retry_after_seconds = 259200\n", "")  # 133016 (RETRY_AFTER)
    with pytest.raises(CatalogError, match="RETRY_AFTER needs `retry_after_seconds`"):
        load_catalog(path)


def test_invalid_toml_reports_its_line(tmp_path: Path) -> None:
    path, text = _broken(tmp_path, "code = 117003", "code = = 117003")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert f"line {_line_of(text, 'code = = 117003')}" in str(caught.value)


def test_server_refuses_to_start_on_a_broken_catalog(tmp_path: Path) -> None:
    path, text = _broken(tmp_path, "code = 111002", "code = 111001")
    result = subprocess.run(
        [sys.executable, "-m", "whatsapp_errors.server", "--port", "0", "--catalog", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid catalog" in result.stderr
    assert f"{path}:{_header_before(text, API_PERMISSION)}:" in result.stderr
