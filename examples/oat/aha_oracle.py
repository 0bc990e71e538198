"""An oat oracle that grades with aha (checked with oat-llm 0.2.4: scripts/engines-check.sh).

`AhaOracle` is an oat `RewardOracleBase` + `PreferenceOracleBase`, a drop-in for the
`MATHOracle` of oat's `oat/experiment/run_math_rl.py` (and for its Countdown oracle):

* `get_reward(inputs, responses, references)` → `(rewards, infos)`: a float tensor with
  `correct_reward` / `incorrect_reward` per response (Countdown: TinyZero's 1 / 0.1 / 0), and one
  info dict per response with `formatted`, `verdict` and `extracted` — oat's math actor logs
  `actor/formatted` as the mean of `info["formatted"]` over these dicts. `formatted`: an answer
  was found; with `template="r1"`, as in oat, only a response in the strict R1 format
  (`… </think> <answer> … </answer>`, the prompt having pre-filled `<think>` or not) is formatted,
  and only a formatted response can be correct.
* `compare(inputs, candidates_A, candidates_B)` grades `candidates_A` against `candidates_B`
  taken as the references and returns the rewards (a numpy array) as win probabilities, as oat's
  own `MATHOracle.compare` does: that is how oat's evaluation calls a math oracle
  (`compare(prompts, responses, references, return_probs=True)`).

Grading runs in process with the `aha` wheel (no process pool, no signals: thread-safe, all
cores, GIL released), or, with `url=`, in `aha serve-reward` over `POST /v1/verify` (then the
server's `--template` decides where the answer is read).

Use it in your copy of oat's math recipe, in the actor's `init`:

    from aha_oracle import AhaOracle
    self.oracle = AhaOracle(template=args.prompt_template,
                            correct_reward=args.correct_reward,
                            incorrect_reward=args.incorrect_reward)
    # or AhaOracle(url="http://RM_HOST:5000") to grade in aha serve-reward

References are what oat's dataset gives: a math answer string (a solution with `\\boxed{}` works:
its last box is used), a list of accepted answers, or for `task="countdown"` TinyZero's
`{"target": N, "numbers"|"nums": [...]}` (a dict or its JSON text).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any, List, Optional, Tuple

import numpy as np
import torch
from oat.oracles.base import PreferenceOracleBase, RewardOracleBase

# Where the answer is read, per oat prompt template (`--prompt_template`): the R1 template asks
# for <answer>...</answer>, the others for \boxed{}.
TEMPLATE_OPTIONS = {
    "r1": {"boxed": False, "answer_tag": True, "answer_is": False},
    "qwen_math": {"boxed": True, "answer_tag": False, "answer_is": False},
    "qwen3": {"boxed": True, "answer_tag": False, "answer_is": False},
    "r1_distill_qwen": {"boxed": True, "answer_tag": False, "answer_is": False},
    "no": {"boxed": True, "answer_tag": False, "answer_is": False},
}


class AhaOracle(RewardOracleBase, PreferenceOracleBase):
    def __init__(
        self,
        template: str = "qwen_math",
        correct_reward: float = 1.0,
        incorrect_reward: float = 0.0,
        task: str = "math",
        url: Optional[str] = None,
        timeout_s: float = 60.0,
        **options: Any,
    ) -> None:
        super().__init__()
        if task not in ("math", "countdown"):
            raise ValueError(f"task must be 'math' or 'countdown', got {task!r}")
        if template not in TEMPLATE_OPTIONS:
            raise ValueError(f"unknown template {template!r}; known: {sorted(TEMPLATE_OPTIONS)}")
        self.task = task
        self.correct_reward = correct_reward
        self.incorrect_reward = incorrect_reward
        self.options = {**TEMPLATE_OPTIONS[template], **options} if task == "math" else dict(options)
        self.r1_format = template == "r1" and task == "math"
        self.url = url.rstrip("/") + "/v1/verify" if url else None
        self.timeout_s = timeout_s

    def _grade(self, inputs: List[str], responses: List[str], references: List[Any]) -> List[dict]:
        """One result per response: {correct, reward, formatted, verdict, extracted, r1_format}."""
        if not (len(inputs) == len(responses) == len(references)):
            raise ValueError(
                f"inputs/responses/references differ in length: {len(inputs)}/{len(responses)}/{len(references)}"
            )
        # oat's R1 prompt ends with "Assistant: <think>": the response then starts inside it.
        prefilled = [p.rstrip().endswith("<think>") for p in inputs]
        if self.url is None:
            import aha

            verdicts = aha.verify_batch(list(responses), list(references), task=self.task, **self.options)
            return [
                {
                    "correct": v.correct,
                    "reward": v.reward,
                    "formatted": v.formatted,
                    "verdict": v.verdict,
                    "extracted": v.extracted,
                    "r1_format": aha.r1_format_ok(r, p),
                }
                for v, r, p in zip(verdicts, responses, prefilled)
            ]
        items = [
            {"response": r, "gold": g, "task": self.task, "prefilled_think": p}
            for r, g, p in zip(responses, references, prefilled)
        ]
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"items": items}).encode(),
            headers={"Content-Type": "application/json"},
        )
        # Errors (4xx naming the field, 5xx) raise: a broken reward must not look like a zero.
        with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
            results = json.load(resp)["results"]
        return [
            {
                "correct": r["correct"],
                "reward": r["reward"],
                "formatted": r["formatted"],
                "verdict": r["verdict"],
                "extracted": (r["extracted"] or {}).get("text"),
                "r1_format": r["r1_format"],
            }
            for r in results
        ]

    def get_reward(
        self,
        inputs: List[str],
        responses: List[str],
        references: List[Any],
        batch_size: int = 4,
    ) -> Tuple[torch.Tensor, List[dict]]:
        del batch_size
        graded = self._grade(inputs, responses, references)
        if self.r1_format:
            for g in graded:
                g["formatted"] = g["r1_format"]
                g["correct"] = g["correct"] and g["r1_format"]
        if self.task == "countdown":
            rewards = [g["reward"] for g in graded]  # TinyZero's 1 / 0.1 / 0
        else:
            rewards = [self.correct_reward if g["correct"] else self.incorrect_reward for g in graded]
        infos = [
            {"formatted": bool(g["formatted"]), "verdict": g["verdict"], "extracted": g["extracted"]}
            for g in graded
        ]
        return torch.tensor(rewards, dtype=torch.float32), infos

    def compare(
        self,
        inputs: List[str],
        candidates_A: List[str],
        candidates_B: List[Any],
        batch_size: int = 4,
        return_probs: bool = False,
        disable_tqdm: bool = False,
    ) -> Tuple[np.ndarray, List[dict]]:
        del batch_size, return_probs, disable_tqdm
        rewards, infos = self.get_reward(inputs, candidates_A, candidates_B)
        return rewards.numpy(), infos
