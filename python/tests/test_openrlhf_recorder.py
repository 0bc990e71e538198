"""The opt-in OpenRLHF hook (aha.openrlhf): every graded sample appended to an aha rollout
directory that ``aha analyse`` reads, with the step counted from the calls."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import aha.openrlhf as ho
from aha.rewards import make_openrlhf_reward

PROMPT = "<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n<|im_start|>assistant\n"


def lines(run: Path) -> list[dict]:
    out = []
    for f in sorted((run / "rollouts").glob("*.jsonl")):
        out += [json.loads(x) for x in f.read_text().splitlines()]
    return out


def test_without_the_env_the_plain_reward_is_used() -> None:
    assert ho.reward_func_from_env({}) is ho._plain_reward_func
    assert ho.reward_func_from_env({"AHA_ROLLOUT_DIR": ""}) is ho._plain_reward_func


def test_the_env_needs_samples_per_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="AHA_ROLLOUT_SAMPLES_PER_STEP"):
        ho.reward_func_from_env({"AHA_ROLLOUT_DIR": str(tmp_path / "r")})
    with pytest.raises(ValueError, match="not an integer"):
        ho.reward_func_from_env({"AHA_ROLLOUT_DIR": str(tmp_path / "r"),
                                 "AHA_ROLLOUT_SAMPLES_PER_STEP": "four"})
    with pytest.raises(ValueError, match=">= 1"):
        ho.reward_func_from_env({"AHA_ROLLOUT_DIR": str(tmp_path / "r"),
                                 "AHA_ROLLOUT_SAMPLES_PER_STEP": "0"})


def test_samples_are_recorded_with_counted_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    f = ho.reward_func_from_env({"AHA_ROLLOUT_DIR": str(run), "AHA_ROLLOUT_SAMPLES_PER_STEP": "2",
                                 "AHA_ROLLOUT_RUN": "grpo-test"})
    assert isinstance(f, ho.RolloutRecorder)
    f.inner = make_openrlhf_reward(as_tensors=False)
    answers = ["2", "3", "2", "Wait, let me recheck. 2"]
    for a in answers:  # one sample per call, as OpenRLHF's executor calls it
        out = f([PROMPT + "So \\boxed{" + a[-1] + "}.<|im_end|>"], [PROMPT], ["2"])
        assert out["rewards"] == [1.0 if a.endswith("2") else 0.0]
    # A caller that knows the step passes it.
    f([PROMPT + "\\boxed{2}<|im_end|>"], [PROMPT], ["2"], step=9)
    meta = json.loads((run / "run.json").read_text())
    assert (meta["run"], meta["engine"], meta["config"]) == ("grpo-test", "openrlhf", {"samples_per_step": 2})
    got = lines(run)
    assert [(x["step"], x["reward"], x["gold"]) for x in got] == [
        (1, 1.0, "2"), (1, 0.0, "2"), (2, 1.0, "2"), (2, 1.0, "2"), (9, 1.0, "2")]
    # The response is cut out of the query as it was graded: no prompt, no stop marker.
    assert got[0]["response"] == "So \\boxed{2}."
    assert got[0]["prompt"] == PROMPT
    assert all(x["schema_version"] == 1 for x in got)
    # One file per step and process (HOST-PID shard).
    names = sorted(p.name for p in (run / "rollouts").iterdir())
    assert len(names) == 3 and names[0].startswith("step-000001.") and names[0].endswith(".jsonl")


def test_concurrent_calls_keep_every_line_whole(tmp_path: Path) -> None:
    f = ho.RolloutRecorder(tmp_path / "run", 50, reward=make_openrlhf_reward(as_tensors=False), shard="t")
    long = "x" * 20000  # several write buffers per line: interleaving would break the JSON

    def work() -> None:
        for _ in range(25):
            f([PROMPT + long + " \\boxed{2}<|im_end|>"], [PROMPT], ["2"])

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = lines(tmp_path / "run")
    assert len(got) == 100
    assert sorted({x["step"] for x in got}) == [1, 2]
    assert sum(x["step"] == 1 for x in got) == 50
    assert all(x["reward"] == 1.0 for x in got)
