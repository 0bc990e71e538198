"""oat's buffer pickles (crates/analyse/tests/fixtures/oat, written with oat's own classes by
scripts/fixtures/oat_buffer.py) read by aha.oat without oat or torch, and converted to the same
rollout lines the Rust tests analyse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aha.oat import convert, samples

FIX = Path(__file__).resolve().parents[2] / "crates/analyse/tests/fixtures/oat"


def test_pickles_read_without_oat_or_torch() -> None:
    s = samples(FIX / "pickles/buffer_step00001.pkl")
    assert [x["step"] for x in s] == [1, 1, 1, 1]
    assert [x["gold"] for x in s] == ["42", "42", "5", "5"]
    assert [x["reward"] for x in s] == [1.0, 1.0, 0.0, 0.0]  # oat's MATHOracle, last dense reward
    assert [x["n_tokens"] for x in s] == [5, 10, 1, 3]
    assert s[1]["response"].endswith("Let me verify again: \\boxed{42}")


def test_conversion_matches_the_committed_run(tmp_path: Path) -> None:
    n = convert(sorted((FIX / "pickles").glob("*.pkl")), tmp_path / "run", run="oat-fixture")
    assert n == 8
    for name in ("step-000001.jsonl", "step-000002.jsonl"):
        got = [json.loads(x) for x in (tmp_path / "run/rollouts" / name).read_text().splitlines()]
        want = [json.loads(x) for x in (FIX / "run/rollouts" / name).read_text().splitlines()]
        assert got == want


def test_all_buffer_dump_numbers_steps_per_rank(tmp_path: Path) -> None:
    """oat's --dump_all_buffer layout ([deque of each rank], no steps, no golds), written with
    oat's own TransitionData: each rank's k-th sample is step k // samples_per_step."""
    pkl = FIX / "all_buffer/all_buffer.pkl"
    with pytest.raises(ValueError, match="samples_per_step"):
        samples(pkl)
    s = samples(pkl, samples_per_step=2)
    # rank 0 holds "6 * 7" (steps 0, 1), rank 1 holds "9 - 4" (steps 0, 1), two samples a step.
    assert [x["step"] for x in s] == [0, 0, 1, 1, 0, 0, 1, 1]
    assert [x["reward"] for x in s] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert [x["n_tokens"] for x in s] == [5, 10, 1, 10, 1, 3, 1, 5]
    assert all(x["gold"] is None for x in s)
    assert s[5]["response"] == "Subtracting gives five."
    n = convert([pkl], tmp_path / "run", samples_per_step=2)
    assert n == 8
    step0 = [json.loads(x) for x in (tmp_path / "run/rollouts/step-000000.jsonl").read_text().splitlines()]
    assert [(x["step"], x["reward"]) for x in step0] == [(0, 1.0), (0, 1.0), (0, 0.0), (0, 0.0)]
    assert all("gold" not in x for x in step0)
