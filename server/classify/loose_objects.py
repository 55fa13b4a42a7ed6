"""Parses an object literal as backends log it: a Python dict repr or a Node.js dump.

`logger.error("send failed: %s", response.json())` writes
`{'error': {'code': 131047, 'is_transient': False}}`, and Node's
`console.log(err.response.data)` writes `{ error: { code: 131047, type:
'OAuthException' } }` (deeper levels elided as `[Object]`). Neither is JSON.
This reads both: single or double quoted strings, bare keys, `True`/`None`/
`null`/`undefined`, `=>` (Ruby), trailing commas, and `[Object]`-style
placeholders (kept as strings).

One left-to-right pass with bounded lookahead per token, depth capped at
MAX_DEPTH and the span capped at MAX_SPAN characters, so the work is linear
in the text and bounded whatever the text holds.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 64
MAX_SPAN = 256 * 1024
"""Characters one literal may span; past that the parse gives up."""

_SPACE = re.compile(r"[\s]*")
_NUMBER = re.compile(r"-?\d{1,400}(?:\.\d{1,400})?(?:[eE][+-]?\d{1,4})?")
_WORD = re.compile(r"[A-Za-z_$][\w$.\-]{0,200}")
_PLACEHOLDER = re.compile(
    r"\[(?:Object|Array|Function|Circular|Getter|Setter|class)[^\]\[]{0,200}\]"
)
_WORDS: dict[str, Any] = {
    "True": True,
    "true": True,
    "False": False,
    "false": False,
    "None": None,
    "null": None,
    "nil": None,
    "undefined": None,
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}


class _FailError(Exception):
    """The text at hand is not an object literal."""


def parse_loose_object(text: str, start: int) -> dict[str, Any] | None:
    """The object literal opening at `text[start]` (a `{`), or None when it is not one."""
    parser = _Parser(text, start)
    try:
        value = parser.value(0)
    except (_FailError, IndexError):
        return None
    return value if isinstance(value, dict) else None


class _Parser:
    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.at = start
        self.end = min(len(text), start + MAX_SPAN)

    def skip(self) -> str:
        match = _SPACE.match(self.text, self.at, self.end)
        self.at = match.end() if match else self.at
        if self.at >= self.end:
            raise _FailError
        return self.text[self.at]

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _FailError
        char = self.skip()
        if char == "{":
            return self.object(depth)
        if char == "[":
            placeholder = _PLACEHOLDER.match(self.text, self.at, self.end)
            if placeholder:
                self.at = placeholder.end()
                return placeholder.group()
            return self.array(depth)
        if char in "'\"":
            return self.string(char)
        number = _NUMBER.match(self.text, self.at, self.end)
        if number:
            self.at = number.end()
            token = number.group()
            return float(token) if "." in token or "e" in token.lower() else int(token)
        word = _WORD.match(self.text, self.at, self.end)
        if word:
            self.at = word.end()
            if self.at < self.end and self.text[self.at] == "(":
                raise _FailError  # a constructor call such as datetime(...): not a literal
            return _WORDS.get(word.group(), word.group())
        raise _FailError

    def object(self, depth: int) -> dict[str, Any]:
        self.at += 1
        out: dict[str, Any] = {}
        while True:
            char = self.skip()
            if char == "}":
                self.at += 1
                return out
            key = self.key()
            char = self.skip()
            if self.text.startswith("=>", self.at):
                self.at += 2
            elif char in ":=":
                self.at += 1
            else:
                raise _FailError
            out[key] = self.value(depth + 1)
            char = self.skip()
            if char == ",":
                self.at += 1
            elif char != "}":
                raise _FailError

    def key(self) -> str:
        char = self.text[self.at]
        if char in "'\"":
            return self.string(char)
        if char == ":":  # a Ruby symbol key, :code => 1
            self.at += 1
        match = _WORD.match(self.text, self.at, self.end) or _NUMBER.match(
            self.text, self.at, self.end
        )
        if not match:
            raise _FailError
        self.at = match.end()
        return match.group()

    def array(self, depth: int) -> list[Any]:
        self.at += 1
        out: list[Any] = []
        while True:
            char = self.skip()
            if char == "]":
                self.at += 1
                return out
            out.append(self.value(depth + 1))
            char = self.skip()
            if char == ",":
                self.at += 1
            elif char != "]":
                raise _FailError

    def string(self, quote: str) -> str:
        """A quoted string; escapes decoded; found with str.find (C speed)."""
        text, at = self.text, self.at + 1
        parts: list[str] = []
        close = text.find(quote, at, self.end)
        while True:  # `close` is searched again only once `at` passes it: linear
            if close < 0:
                raise _FailError
            slash = text.find("\\", at, close)
            if slash < 0:
                parts.append(text[at:close])
                self.at = close + 1
                return "".join(parts)
            parts.append(text[at:slash])
            escaped = text[slash + 1]
            at = slash + 2
            if escaped == "u" and slash + 6 <= self.end:
                try:
                    parts.append(chr(int(text[slash + 2 : slash + 6], 16)))
                    at = slash + 6
                except ValueError:
                    parts.append("u")
            else:
                parts.append(_ESCAPES.get(escaped, escaped))
            if at > close:
                close = text.find(quote, at, self.end)
