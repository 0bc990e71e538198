"""Writes a synthetic verl rollout dump (`{step}.jsonl` files as verl's `_write_generations`
writes them) for the throughput check of `aha analyse` (docs/results/analyse-throughput.md).
Not committed; nothing reads the network.

    python3 scripts/synth-verl-run.py OUT_DIR [--steps 500] [--samples 1024] [--chars 12000]

Responses are ~`--chars` characters of maths-like prose (~3,000 tokens at 4 characters per
token) with reflection keywords, intermediate and final `\\boxed{}` answers, so grading,
keyword counting and SSR all do real work; response length dips then grows over the steps and
reflections grow with it, as in the study.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

FILLER = [
    "We compute the sum of the first terms and simplify the expression step by step. ",
    "Substituting x = 3 into the equation gives 2x + 5 = 11, which is consistent. ",
    "The area of the triangle is one half of the base times the height, so we multiply. ",
    "Factoring the quadratic, we get (x - 2)(x + 7) = 0, hence two roots. ",
    "Since the sequence is arithmetic with common difference 4, the n-th term follows. ",
    "Let us denote the unknown by y and write the second condition as an equation. ",
]
REFLECT = ["Wait, let me recheck the arithmetic. ", "Let me double-check this. ",
           "Hmm, I should reconsider the second case. ", "Let me verify again. "]


def response(rng: random.Random, chars: int, refl: int, gold: int, correct: bool) -> str:
    parts, n = [], 0
    answer = gold if correct else gold + rng.randint(1, 9)
    reflections_at = sorted(rng.sample(range(max(chars // 400, refl + 1)), refl))
    i = 0
    while n < chars:
        if reflections_at and i == reflections_at[0]:
            reflections_at.pop(0)
            parts.append(f"So far the answer is \\boxed{{{gold + rng.randint(0, 2)}}}. ")
            parts.append(rng.choice(REFLECT))
        s = rng.choice(FILLER)
        parts.append(s)
        n += len(s)
        i += 1
    parts.append(f"Therefore the final answer is \\boxed{{{answer}}}.")
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--chars", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    prompt = "<|im_start|>user\nSolve the problem and put the answer in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"
    total = 0
    for step in range(1, a.steps + 1):
        t = step / a.steps
        # length dips to 60% by 30% of the run, then grows to 130%
        scale = 1.0 - 1.33 * t if t < 0.3 else 0.6 + (t - 0.3) / 0.7 * 0.7
        acc = 0.2 + 0.5 * t
        lines = []
        for _ in range(a.samples):
            gold = rng.randint(10, 999)
            correct = rng.random() < acc
            chars = int(a.chars * scale * rng.uniform(0.7, 1.3))
            refl = rng.choice([0, 0, 1, 2, 3]) + int(3 * scale)
            out_text = response(rng, chars, refl, gold, correct)
            lines.append(json.dumps({"input": prompt, "output": out_text, "gts": str(gold),
                                     "score": 1.0 if correct else 0.0, "step": step, "acc": correct},
                                    ensure_ascii=False) + "\n")
        data = "".join(lines)
        (out / f"{step}.jsonl").write_text(data)
        total += len(data)
        if step % 25 == 0:
            print(f"step {step}: {total / 1e9:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
