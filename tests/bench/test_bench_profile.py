"""py-spy's collapsed stacks become the top frames the stream profile prints."""

from __future__ import annotations

import pytest

from bench.probes.profile_stream import top_frames

_MAIN = "main (server/__main__.py:1);run (asyncio/runners.py:1)"
_ANSWER = "answer (server/rpc/batch.py:9)"
_READ = "read (server/classify/webhook_reader.py:5)"
RAW = "\n".join(
    (
        f"{_MAIN};{_ANSWER} 6",
        f"{_MAIN};{_ANSWER};{_READ} 3",
        "main (server/__main__.py:1);poll (threading.py:1) 1",
        "not a stack line",
    )
)


def test_own_and_total_shares_of_all_samples() -> None:
    tops = top_frames(RAW)
    assert tops["samples"] == [("samples", 10.0)]
    own = dict(tops["own"])
    assert own[_ANSWER] == pytest.approx(60.0)
    assert own[_READ] == pytest.approx(30.0)
    assert own["poll (threading.py:1)"] == pytest.approx(10.0)
    total = dict(tops["total"])  # the service's frames only, __main__ left out
    assert total == pytest.approx({_ANSWER: 90.0, _READ: 30.0})


def test_top_keeps_the_largest() -> None:
    assert [frame for frame, _ in top_frames(RAW, count=1)["own"]] == [_ANSWER]
