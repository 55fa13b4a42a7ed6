"""The runnable examples of a Markdown file: fenced blocks marked for tests/test_docs.py.

The convention (HTML comments, invisible when rendered), on the last non-blank
line before a ```console or ```python fence:

    <!-- doctest -->                      run it and compare the output shown
    <!-- doctest: no-compare REASON -->   run it; the output is not compared (timings, ...)
    <!-- doctest: skip REASON -->         not run (needs Docker, certificates, a cluster, ...)

A ```console block holds commands (`$ ` lines; a command goes on over the
next lines while bash finds it unfinished: a trailing `\\`, an open quote)
each followed by its output; they run in one shell, so `export`, `cd` and
`echo $?` work as in a terminal. A command shown without output is run but
its output is not compared. A ```python block is run as a script; its output
is the ```console block right after it when that block has no `$ ` line.
Once a file marks one block, every console and python block in it must be
marked, so none escapes by being forgotten.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*doctest(?::\s*(no-compare|skip)\b\s*(.*?))?\s*-->\s*$")
_KINDS = ("console", "python")


@dataclass
class Command:
    """One `$ ` command of a console block and the output shown under it."""

    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A fenced console or python block and what its marker asks."""

    path: Path
    line: int
    kind: str
    body: list[str]
    mode: str | None
    """"run", "no-compare", "skip", or None when unmarked."""
    reason: str = ""
    expected: list[str] | None = None
    """For a python block: the output block after it, if any."""

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.line}"

    def commands(self) -> list[Command]:
        """The commands of a console block; a command goes on while bash finds it unfinished."""
        found: list[Command] = []
        open_command = False
        for offset, text in enumerate(self.body, start=self.line + 1):
            if open_command:
                found[-1].text += "\n" + text
            elif text.startswith("$ "):
                found.append(Command(offset, text[2:]))
            elif found:
                found[-1].expected.append(text)
            open_command = bool(found) and not found[-1].expected and _unfinished(found[-1].text)
        return found


def _unfinished(command: str) -> bool:
    """Whether bash needs more lines: a trailing backslash, an open quote or bracket."""
    if command.endswith("\\"):
        return True
    check = subprocess.run(["bash", "-n", "-c", command], capture_output=True, check=False)
    return check.returncode != 0 and (
        b"unexpected EOF" in check.stderr or b"unexpected end of file" in check.stderr
    )


def blocks(path: Path) -> list[Block]:
    """Every console and python block of `path`, output-only blocks joined to their snippet."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    previous = ""
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        kind, body = fence.group(1), lines[i + 1 : end]
        marker = _MARKER.match(previous)
        output_only = kind == "console" and not any(line.startswith("$ ") for line in body)
        if output_only and found and found[-1].kind == "python" and found[-1].expected is None:
            if found[-1].line == _last_fence_end(lines, i):
                found[-1].expected = body
        elif kind in _KINDS:
            mode = None
            if marker:
                mode = marker.group(1) or "run"
            reason = marker.group(2) or "" if marker else ""
            found.append(Block(path, i + 1, kind, body, mode, reason.strip()))
        previous = ""
        i = end + 1
    return found


def _last_fence_end(lines: list[str], start: int) -> int:
    """The 1-based line of the fence that opened the block ending just before `start`."""
    j = start - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not lines[j].startswith("```"):
        return -1
    k = j - 1
    while k >= 0 and not lines[k].startswith("```"):
        k -= 1
    return k + 1


def marked(path: Path) -> bool:
    """Whether the file uses the convention at all."""
    return any(_MARKER.match(line.strip()) for line in path.read_text("utf-8").splitlines())


_CATALOG_VERSION = re.compile(r"\d{4}\.\d{2}\.\d{2}-[0-9a-f]{12}")


def normalized(lines: list[str]) -> list[str]:
    """Lines as compared: catalog versions masked, trailing spaces and blank lines dropped."""
    out = [_CATALOG_VERSION.sub("<catalog>", line).rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` is what the docs show; a shown line starting with `…` stands for any."""
    expected, actual = normalized(expected), normalized(actual)
    if not expected:
        return not actual
    head = expected[0]
    if head.startswith("…"):
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0] == head and matches(expected[1:], actual[1:])
