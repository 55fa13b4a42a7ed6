"""`waerr classify --stream` and `waerr summarize`: JSONL files of payloads, one per line.

Each non-blank line is one raw payload, sent as bytes without parsing it
here (the server reads it exactly as a webhook arrived) and identified by
its line number, so results map back to input lines even when lines are
skipped. Results are written as they arrive, in input order; memory stays
bounded by the client's window of batches in flight, however long the file.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs shipped

from whatsapp_errors.client.cli.tables import ResultLines, enum_label, table
from whatsapp_errors.client.retry import should_retry
from whatsapp_errors.client.sync_client import ErrorClient
from whatsapp_errors.v1 import error_catalog_pb2 as pb

_COUNT_CHUNK = 1 << 20


def read_items(lines: BinaryIO) -> Iterator[pb.ClassifyItem]:
    """One item per non-blank line, id = the line number (1-based)."""
    for number, line in enumerate(lines, 1):
        body = line.strip()
        if body:
            yield pb.ClassifyItem(id=str(number), payload=body)


def count_lines(path: Path) -> int | None:
    """Lines of a regular file, for the progress bar's ETA; None for pipes."""
    if not path.is_file():
        return None
    count = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(_COUNT_CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")  # a last line without a newline counts too


class Tally:
    """What the stream found, for the summary printed at the end."""

    def __init__(self) -> None:
        self.items = 0
        self.failed = 0
        self.without_errors = 0
        self.errors = 0
        self.retryable = 0
        self.by_category: Counter[str] = Counter()
        self.by_action: Counter[str] = Counter()

    def add(self, result: pb.ClassifyResult) -> None:
        """Counts one result."""
        self.items += 1
        if result.status.code != 0:
            self.failed += 1
            return
        if not result.classifications:
            self.without_errors += 1
        for c in result.classifications:
            info = c.error_info
            self.errors += 1
            self.retryable += should_retry(c)
            self.by_category[enum_label(pb.Category, info.category)] += 1
            self.by_action[enum_label(pb.RetryStrategy, info.retry_strategy)] += 1

    def report(self) -> str:
        """Totals, then errors by category and by what to do."""
        lines = [
            f"{self.items} items: {self.items - self.failed} classified, "
            f"{self.failed} could not be classified (non-OK status in their result line), "
            f"{self.without_errors} without errors; {self.errors} errors, "
            f"{self.retryable} retryable"
        ]
        if self.by_category:
            lines += ["", table(["CATEGORY", "ERRORS"], self.by_category.most_common())]
            lines += ["", table(["WHAT TO DO", "ERRORS"], self.by_action.most_common())]
        return "\n".join(lines)


def classify_file(
    client: ErrorClient,
    source: BinaryIO,
    out: BinaryIO,
    *,
    total: int | None,
    progress: bool,
    batch_size: int,
    window: int,
) -> Tally:
    """Streams every line of `source` and writes one JSON result line per item to `out`.

    Raises StreamError when the stream fails for good; what was answered
    before that is already written.
    """
    tally = Tally()
    lines = ResultLines()
    with tqdm(
        total=total,
        unit=" items",
        unit_scale=True,
        file=sys.stderr,
        disable=not progress,
        mininterval=0.25,
        smoothing=0.1,
        dynamic_ncols=True,
    ) as bar:
        results = client.classify_stream(read_items(source), batch_size=batch_size, window=window)
        try:
            for result in results:
                out.write(lines.line(result))
                tally.add(result)
                bar.update(1)
        finally:
            out.flush()
    return tally
