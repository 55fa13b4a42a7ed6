"""bench.probes.versus: today's server beside an earlier commit's, both answered and checked."""

from __future__ import annotations

import subprocess

import pytest

from bench import procs
from bench.probes import versus

BEFORE_IMPORT_ROOT = "b22077afb3c2134af08bbda1412f13984ca78680"
"""The last commit with `server/` and the `whatsapp` stubs as top-level packages."""


def _worktrees() -> str:
    return subprocess.run(
        ["git", "worktree", "list"], cwd=procs.ROOT, check=True, capture_output=True, text=True
    ).stdout


def _has(commit: str) -> bool:
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=procs.ROOT, capture_output=True
    )
    return found.returncode == 0


def test_head_against_itself_runs_both_legs_and_leaves_no_worktree() -> None:
    before = _worktrees()
    result = versus.measure("HEAD", pairs=1, slice_s=0.3, bodies=2000)
    assert result["ref"] == result["head"]
    assert result["a_items_per_s"] > 0 and result["b_items_per_s"] > 0
    assert result["a_server_us_per_item"] > 0 and result["b_server_us_per_item"] > 0
    assert len(result["ratios"]) == 1
    assert "today / earlier: median" in versus.report(result)
    assert _worktrees() == before


@pytest.mark.skipif(not _has(BEFORE_IMPORT_ROOT), reason="needs the full git history")
def test_a_commit_before_the_import_root_serves_from_its_own_layout() -> None:
    result = versus.measure(BEFORE_IMPORT_ROOT, pairs=1, slice_s=0.3, bodies=2000)
    assert result["legs"][1] == f"service@{BEFORE_IMPORT_ROOT[:12]}"
    assert result["b_items_per_s"] > 0


def test_an_unknown_revision_is_refused_before_anything_starts() -> None:
    with pytest.raises(subprocess.CalledProcessError):
        versus.measure("no-such-revision", pairs=1, slice_s=0.3, bodies=2000)
