"""What changed at Meta: a snapshot of Meta's codes and titles against the catalog.

`server/catalog/meta_codes.json` is the dated snapshot the catalog was last
checked against (codes, subcodes, titles, pages). When Meta's pages change,
write a newer snapshot in the same format and run

    python -m whatsapp_errors.server.catalog.drift NEW.json   (make catalog-drift SNAPSHOT=NEW.json)

to see the codes Meta added, the ones it dropped and the ones it retitled,
against the catalog as it is. Exit 0 when nothing differs, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whatsapp_errors.server.catalog import Catalog, load_catalog
from whatsapp_errors.v1 import error_catalog_pb2 as pb

SNAPSHOT = Path(__file__).with_name("meta_codes.json")
"""The snapshot the embedded catalog was checked against."""

Key = tuple[int, int]
"""(code, subcode); subcode 0 for a plain code."""


@dataclass(frozen=True, slots=True)
class Drift:
    """Codes a snapshot has and the catalog lacks, the reverse, and differing titles."""

    added: list[tuple[Key, str]]
    removed: list[tuple[Key, str]]
    retitled: list[tuple[Key, str, str]]

    @property
    def empty(self) -> bool:
        """Nothing differs."""
        return not (self.added or self.removed or self.retitled)


def read_snapshot(path: Path = SNAPSHOT) -> dict[Key, dict[str, Any]]:
    """The snapshot's codes by (code, subcode), ranges expanded to their codes."""
    document = json.loads(path.read_text(encoding="utf-8"))
    codes: dict[Key, dict[str, Any]] = {}
    for row in document["codes"]:
        codes[(int(row["code"]), int(row.get("subcode") or 0))] = row
    for row in document.get("ranges", []):
        for code in range(int(row["first"]), int(row["last"]) + 1):
            codes.setdefault((code, 0), {**row, "code": code})
    return codes


def meta_titles(catalog: Catalog) -> dict[Key, str]:
    """The catalog's Meta entries: (code, subcode) to title."""
    titles: dict[Key, str] = {}
    for entry in catalog.entries:
        if entry.source == pb.SOURCE_META and not entry.additional_listing:
            titles[(entry.code, 0)] = entry.reason
    for (code, subcode), entry in catalog.pairs.items():
        titles[(code, subcode)] = entry.reason
    return titles


def compare(snapshot: dict[Key, dict[str, Any]], catalog: Catalog) -> Drift:
    """The drift between a snapshot of Meta's codes and the catalog's Meta entries."""
    ours = meta_titles(catalog)
    listed = set(catalog.listings)
    added = [
        (key, row["title"])
        for key, row in sorted(snapshot.items())
        if key not in ours and not (key[1] == 0 and key[0] in listed)
    ]
    removed = [(key, title) for key, title in sorted(ours.items()) if key not in snapshot]
    retitled = [
        (key, ours[key], snapshot[key]["title"])
        for key in sorted(set(ours) & set(snapshot))
        if ours[key].strip() != str(snapshot[key]["title"]).strip()
    ]
    return Drift(added, removed, retitled)


def _name(key: Key) -> str:
    return f"{key[0]}/{key[1]}" if key[1] else str(key[0])


def main(argv: list[str] | None = None) -> int:
    """Prints the drift and exits 1 when there is any."""
    parser = argparse.ArgumentParser(
        prog="python -m whatsapp_errors.server.catalog.drift", description=__doc__
    )
    parser.add_argument("snapshot", type=Path, nargs="?", default=SNAPSHOT)
    parser.add_argument("--catalog", type=Path, default=None, help="default: the embedded one")
    args = parser.parse_args(argv)
    catalog = load_catalog(args.catalog) if args.catalog else load_catalog()
    drift = compare(read_snapshot(args.snapshot), catalog)
    for key, title in drift.added:
        print(f"added    {_name(key)}: {title}")
    for key, title in drift.removed:
        print(f"removed  {_name(key)}: {title}")
    for key, ours, theirs in drift.retitled:
        print(f"retitled {_name(key)}: {ours!r} -> {theirs!r}")
    if drift.empty:
        print(f"no drift: {args.snapshot.name} matches catalog {catalog.version}")
    return 0 if drift.empty else 1


if __name__ == "__main__":
    sys.exit(main())
