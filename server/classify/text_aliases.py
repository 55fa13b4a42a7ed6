r"""Alias rules: texts that name a failure without using the catalog's wording.

`read ECONNRESET`, `SSL handshake error`, `429 Too Many Requests`: each
rule maps alternatives on the normalised text to a catalog code; an
alternative is a sequence of steps that must occur in that order, a step
any one of its phrases. `words(...)` phrases stand as whole words (regex
`\b...\b`), `inside(...)` phrases may touch other letters. Matching is
str.find plus a look at the neighbouring characters, and each step
resumes where the last one ended, so one rule reads the text once: a
pattern such as `\bssl\b.*\berror\b` instead rescans the rest of the
text for every "ssl" in it (quadratic). The matcher
(server/classify/text_match.py) tries these after its reason rules.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str
    whole_word: bool


_Step = tuple[_Phrase, ...]
"""Any one of these phrases."""


def words(*phrases: str) -> _Step:
    r"""Phrases that must stand as whole words, as `\bphrase\b` in a regex."""
    return tuple(_Phrase(phrase, True) for phrase in phrases)


def inside(*phrases: str) -> _Step:
    """Phrases that may sit inside longer words."""
    return tuple(_Phrase(phrase, False) for phrase in phrases)


ALIASES: tuple[tuple[int, tuple[tuple[_Step, ...], ...]], ...] = (
    (114005, ((words("econnreset"),), (inside("connection reset by peer"),))),
    (113001, ((words("operation timed out", "connection timed out", "etimedout"),),)),
    (113003, ((words("ssl"), words("error", "handshake")), (words("tls handshake"),))),
    (113004, ((words("failed to connect", "connection refused", "econnrefused"),),)),
    (116002, ((words("429", "too many requests"),),)),
    (114001, ((words("502", "bad gateway"),),)),
    (131047, ((words("more than 24 hours", "re-engagement"),),)),
)


def _is_word_char(char: str) -> bool:
    r"""What regex `\w` matches in a str pattern: letters and digits of any script, `_`."""
    return char.isalnum() or char == "_"


def _find_phrase(text: str, phrase: _Phrase, start: int) -> int:
    """End of the first occurrence of `phrase` at or after `start`, or -1.

    Each retry starts one past the last hit, so all retries together read
    the text once.
    """
    needle = phrase.text
    at = text.find(needle, start)
    while at >= 0:
        end = at + len(needle)
        if not phrase.whole_word or (
            (at == 0 or not _is_word_char(text[at - 1]))
            and (end == len(text) or not _is_word_char(text[end]))
        ):
            return end
        at = text.find(needle, at + 1)
    return -1


def _find_step(text: str, step: _Step, start: int) -> int:
    """End of the earliest occurrence of any phrase of `step` at or after `start`, or -1."""
    ends = [end for phrase in step if (end := _find_phrase(text, phrase, start)) >= 0]
    return min(ends) if ends else -1


def alias_matches(text: str, alternatives: tuple[tuple[_Step, ...], ...]) -> bool:
    """True when every step of one alternative occurs in `text`, in order.

    The earliest end of a step leaves the most text for the next one, so
    taking it is never wrong and no step is tried twice.
    """
    for steps in alternatives:
        at = 0
        for step in steps:
            at = _find_step(text, step, at)
            if at < 0:
                break
        else:
            return True
    return False
