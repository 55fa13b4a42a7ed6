"""Reads the provider's webhook error-code document, independently of the server.

The catalog test compares what the running server returns with what this
parser finds in the document itself, so the two can never drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEED_COPY = Path(__file__).resolve().parent.parent / "data" / "provider_webhook_error_codes.txt"
"""The copy of the provider's document committed with the tests."""
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_34d6df7edb851b98.txt"
"""Where the workspace keeps the original, beside the repository (when present)."""
SEED_PATH = SEED_COPY

NO_ACTION = "—"
_CODE_LINE = re.compile(r"^(\d+)(?:–(\d+))?$")
_TABLE_HEADER = ("Error Code", "Reason", "Description", "Recommended Action")


@dataclass(frozen=True)
class SeedCategory:
    """One category heading with its description."""

    display_name: str
    description: str


@dataclass(frozen=True)
class SeedRecord:
    """One record of the document, exactly as written."""

    code_text: str
    first_code: int
    last_code: int
    category: str
    reason: str
    description: str
    recommended_action: str

    @property
    def codes(self) -> range:
        """Every code the record covers (a range record covers several)."""
        return range(self.first_code, self.last_code + 1)


def parse_seed(text: str) -> tuple[list[SeedCategory], list[SeedRecord]]:
    """Splits the document into its categories and its four-line records."""
    lines = [line.strip() for line in text.splitlines()]
    categories: list[SeedCategory] = []
    records: list[SeedRecord] = []
    i = 0
    current: str | None = None
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.endswith("Errors") and nxt.startswith("Description: "):
            current = line
            categories.append(SeedCategory(line, nxt.removeprefix("Description: ")))
            i += 2
            if tuple(lines[i : i + 4]) == _TABLE_HEADER:
                i += 4
            continue
        match = _CODE_LINE.match(line)
        if current is not None and match:
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) else first
            reason, description, action = lines[i + 1 : i + 4]
            records.append(SeedRecord(line, first, last, current, reason, description, action))
            i += 4
            continue
        i += 1
    return categories, records


def load_seed(path: Path = SEED_PATH) -> tuple[list[SeedCategory], list[SeedRecord]]:
    """Parses the document at `path`."""
    return parse_seed(path.read_text(encoding="utf-8"))
