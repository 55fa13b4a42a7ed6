"""Writes the large example inputs the docs use, which are too big to commit.

    python examples/make_data.py          (or `make example-data`)

examples/webhooks-100k.jsonl: 100,000 payloads cycling through
examples/webhooks.jsonl, with a broken line (`{oops`) at 0-based lines 17,
40000 and 99998, so a stream shows results, summaries and unreadable items at
a size where throughput and memory can be seen. Deterministic: the same
bytes every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LINES = 100_000
BROKEN = frozenset({17, 40_000, 99_998})


def write(path: Path, lines: int = LINES, broken: frozenset[int] = BROKEN) -> Path:
    """Writes `lines` payloads to `path`; the `broken` line numbers (0-based) hold `{oops`."""
    shapes = [line for line in (HERE / "webhooks.jsonl").read_bytes().splitlines() if line.strip()]
    with path.open("wb") as out:
        for i in range(lines):
            out.write((b"{oops" if i in broken else shapes[i % len(shapes)]) + b"\n")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "webhooks-100k.jsonl"
    print(write(target))
