"""oat: examples/oat/aha_oracle.py against oat's own oracle classes.

Asserted: `AhaOracle` is an oat `RewardOracleBase` and `PreferenceOracleBase` (oat's abstract
methods all implemented); on the same batch it gives the rewards of oat's own `MATHOracle`
(templates qwen_math and r1) and `CountdownOracle`, plus one info dict per sample with
`formatted` equal to MATHOracle's; oat's math-actor bookkeeping (`rewards.mean()`, the mean of
`info["formatted"]`, the reshape per prompt) and its evaluation call
(`compare(prompts, responses, references, return_probs=True)` then the reshape) work on what it
returns; a list reference grades as any-of; the HTTP mode (`url=`, aha serve-reward on
127.0.0.1) returns what the in-process mode does.
"""

from __future__ import annotations

import importlib.util
import json
import math

from common import ROOT, Checks, RewardServer, version

import numpy as np
import torch
from oat.oracles.base import PreferenceOracleBase, RewardOracleBase
from oat.oracles.countdown import CountdownOracle
from oat.oracles.math import MATHOracle

C = Checks(f"oat-llm {version('oat-llm')} (torch {torch.__version__}, Python 3.10)")

spec = importlib.util.spec_from_file_location("aha_oracle", ROOT / "examples" / "oat" / "aha_oracle.py")
assert spec is not None and spec.loader is not None
aha_oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aha_oracle)
AhaOracle = aha_oracle.AhaOracle

PROMPTS = ["What is 1 + 1?", "What is 7 - 4?"]
N = 3  # responses per prompt
RESPONSES = {
    "qwen_math": [
        "1 + 1 = 2, so \\boxed{2}", "I get \\boxed{3}", "I am not sure.",
        "7 - 4 = \\boxed{3}", "so \\boxed{3}.", "\\boxed{11}",
    ],
    "r1": [
        "<think> 1 + 1 = 2 </think> <answer> 2 </answer>", "<think> hmm </think> <answer> 3 </answer>",
        "<think> no idea </think>",
        "<think> 7 - 4 = 3 </think> <answer> 3 </answer>", "<answer>3</answer>", "<answer> 11 </answer>",
    ],
}
REFS = ["2", "3"]


def flat_refs() -> list[str]:
    return [r for r in REFS for _ in range(N)]


def flat_prompts() -> list[str]:
    return [p for p in PROMPTS for _ in range(N)]


def main() -> None:
    C.check(issubclass(AhaOracle, RewardOracleBase) and issubclass(AhaOracle, PreferenceOracleBase),
            "AhaOracle subclasses oat's RewardOracleBase and PreferenceOracleBase")
    for template, responses in RESPONSES.items():
        ours = AhaOracle(template=template, correct_reward=1.0, incorrect_reward=0.0)
        theirs = MATHOracle(template=template, verifier_version="fast", correct_reward=1.0, incorrect_reward=0.0)
        try:
            r_ours, i_ours = ours.get_reward(flat_prompts(), responses, flat_refs())
            r_theirs, i_theirs = theirs.get_reward(flat_prompts(), responses, flat_refs())
            C.check(isinstance(r_ours, torch.Tensor) and r_ours.dtype.is_floating_point,
                    f"{template}: rewards are a float tensor")
            C.equal(r_ours.tolist(), r_theirs.tolist(), f"{template}: rewards (oat's MATHOracle gives the same)")
            C.equal(len(i_ours), len(responses), f"{template}: one info dict per sample")
            C.equal([i["formatted"] for i in i_ours], [i["formatted"] for i in i_theirs],
                    f"{template}: info['formatted'] (as MATHOracle's)")
            # oat's ZeroMathActor.step bookkeeping on the oracle's output.
            formatted = float(np.mean([i["formatted"] for i in i_ours]))
            C.check(not math.isnan(formatted), f"{template}: actor/formatted = {formatted:.3f} (not NaN)")
            C.equal(r_ours.reshape(len(PROMPTS), -1).shape, (len(PROMPTS), N), f"{template}: rewards reshape per prompt")
            C.check(abs(r_ours.mean().item() - r_theirs.mean().item()) < 1e-9, f"{template}: actor/rewards mean")
            # oat's evaluation: compare(prompts * n, responses, references * n, return_probs=True).
            eval_prompts = PROMPTS * N
            eval_responses = [responses[p * N + j] for j in range(N) for p in range(len(PROMPTS))]
            eval_refs = REFS * N
            kw = {"batch_size": 4, "return_probs": True, "disable_tqdm": True}
            w_ours, _ = ours.compare(eval_prompts, eval_responses, eval_refs, **kw)
            w_theirs, _ = theirs.compare(eval_prompts, eval_responses, eval_refs, **kw)
            C.check(isinstance(w_ours, np.ndarray), f"{template}: compare returns a numpy array")
            C.equal(w_ours.reshape(N, len(PROMPTS)).transpose(1, 0).tolist(),
                    w_theirs.reshape(N, len(PROMPTS)).transpose(1, 0).tolist(),
                    f"{template}: compare as oat's evaluation calls it (MATHOracle gives the same)")
        finally:
            theirs.mp_pool.terminate()

    # oat's R1 prompt pre-fills "<think>": the response starts inside the thinking part.
    r1_prompt = ["User: What is 7 - 4?\nAssistant: <think>"] * 2
    r1_resp = [" 7 - 4 = 3 </think> <answer> 3 </answer>", " hmm <answer> 3 </answer>"]
    theirs = MATHOracle(template="r1", verifier_version="fast", correct_reward=1.0, incorrect_reward=0.0)
    try:
        a = AhaOracle(template="r1").get_reward(r1_prompt, r1_resp, ["3", "3"])
        b = theirs.get_reward(r1_prompt, r1_resp, ["3", "3"])
        C.equal(a[0].tolist(), b[0].tolist(), "r1 with <think> pre-filled by the prompt: rewards (as MATHOracle's)")
        C.equal([i["formatted"] for i in a[1]], [i["formatted"] for i in b[1]], "r1 pre-filled: info['formatted'] (as MATHOracle's)")
    finally:
        theirs.mp_pool.terminate()

    ours = AhaOracle()
    r, _ = ours.get_reward(["Solve x^2 = 4."] * 2, ["\\boxed{-2}", "\\boxed{4}"], [["2", "-2"], ["2", "-2"]])
    C.equal(r.tolist(), [1.0, 0.0], "a list reference is any-of")
    r, _ = AhaOracle(correct_reward=1.0, incorrect_reward=-1.0).get_reward(["q"] * 2, ["\\boxed{2}", "\\boxed{5}"], ["2", "2"])
    C.equal(r.tolist(), [1.0, -1.0], "correct_reward / incorrect_reward as oat's MATHOracle takes them")

    cd_refs = [json.dumps({"target": 9, "numbers": [1, 2, 3]})] * 3
    cd_resp = ["<answer>(1 + 2) * 3</answer>", "<answer>1 + 2 + 3</answer>", "no equation"]
    r_ours, i_ours = AhaOracle(task="countdown").get_reward(["q"] * 3, cd_resp, cd_refs)
    r_theirs, _ = CountdownOracle().get_reward(["q"] * 3, cd_resp, cd_refs)
    C.equal([round(x, 6) for x in r_ours.tolist()], [round(x, 6) for x in r_theirs.tolist()],
            "countdown: rewards (oat's CountdownOracle gives the same)")
    C.equal(len(i_ours), 3, "countdown: one info dict per sample")

    with RewardServer("--task", "math", "--template", "qwen-math") as server:
        local = AhaOracle(template="qwen_math")
        remote = AhaOracle(url=server.url)
        a = local.get_reward(flat_prompts(), RESPONSES["qwen_math"], flat_refs())
        b = remote.get_reward(flat_prompts(), RESPONSES["qwen_math"], flat_refs())
        C.equal(b[0].tolist(), a[0].tolist(), "HTTP mode: rewards as in process")
        C.equal(b[1], a[1], "HTTP mode: info dicts as in process")
    with RewardServer("--task", "math", "--template", "r1") as server:
        a = AhaOracle(template="r1").get_reward(flat_prompts(), RESPONSES["r1"], flat_refs())
        b = AhaOracle(template="r1", url=server.url).get_reward(flat_prompts(), RESPONSES["r1"], flat_refs())
        C.equal(b[0].tolist(), a[0].tolist(), "HTTP mode, --template r1: rewards as in process")
        C.equal(b[1], a[1], "HTTP mode, --template r1: info dicts as in process")
    C.close()


if __name__ == "__main__":
    main()
