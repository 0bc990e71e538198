#!/usr/bin/env python3
"""Builds the benchmark pair lists (JSONL: gold, pred, mode, expected, source).

golden.jsonl   every case of crates/verify/tests/golden/*.jsonl graded with the default options
               (hand-labelled expected verdicts)
lenient.jsonl  the golden cases labelled for lenient extraction alone (`"options": {"lenient":
               true}`), plus MATH500 solutions with their `\boxed{X}` replaced by `X` (the way an
               instruct model without a box prompt answers): against their own reference
               (correct) and against the next problem's different integer answer (incorrect)
math500.jsonl  from MATH500: reference vs its solution's last box (correct), reference vs the full
               solution text as a response (correct), reference vs another problem's different
               integer answer (incorrect), reference vs itself with its last digit changed
               (incorrect: near misses).
"""
import glob
import json
import os
import re
import sys


def last_boxed(s):
    """Contents of the last brace-matched \\boxed{...} (or \\fbox{...}), else None."""
    i = max(s.rfind("\\boxed"), s.rfind("\\fbox"))
    if i < 0:
        return None
    j = s.find("{", i)
    if j < 0:
        return None
    depth = 0
    k = j
    while k < len(s):
        c = s[k]
        if c == "\\":
            k += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return s[j + 1:k]
        k += 1
    return None


def main():
    repo, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    keys = ("gold", "pred", "mode", "expected", "source")
    lenient = []
    with open(os.path.join(out, "golden.jsonl"), "w") as f:
        n = 0
        for path in sorted(glob.glob(os.path.join(repo, "crates/verify/tests/golden/*.jsonl"))):
            for line in open(path):
                if line.strip():
                    c = json.loads(line)
                    opts = c.get("options")
                    if opts == {"lenient": True}:
                        lenient.append({k: c[k] for k in keys})
                    if opts:
                        continue
                    f.write(json.dumps({k: c[k] for k in keys}) + "\n")
                    n += 1
    print(f"golden.jsonl: {n} pairs")
    rows = [json.loads(l) for l in open(os.path.join(data, "benchmarks/math500.jsonl"))]
    pairs = []
    for r in rows:
        box = last_boxed(r["solution"])
        src = "MATH500 " + r["unique_id"]
        if box is not None:
            pairs.append({"gold": r["answer"], "pred": box, "mode": "answer", "expected": "correct", "source": src + " solution box"})
        pairs.append({"gold": r["answer"], "pred": r["solution"], "mode": "response", "expected": "correct", "source": src + " full solution"})
    ints = [r for r in rows if r["answer"].lstrip("-").isdigit()]
    for a, b in zip(ints, ints[1:] + ints[:1]):
        if int(a["answer"]) != int(b["answer"]):
            pairs.append({"gold": a["answer"], "pred": b["answer"], "mode": "answer", "expected": "incorrect",
                          "source": "MATH500 " + a["unique_id"] + " vs " + b["unique_id"]})
    # Near misses: the last digit of the reference changed (d -> d+1 mod 10) must be rejected.
    for r in rows:
        a = r["answer"]
        idx = [i for i, c in enumerate(a) if c.isdigit()]
        # Skip a digit in a unit's exponent (`864 \\mbox{ inches}^2`): units are ignored.
        if idx and not re.search(r"\\(mbox|text)\{[^}]*\}\^\{?$", a[:idx[-1]]):
            i = idx[-1]
            b = a[:i] + str((int(a[i]) + 1) % 10) + a[i + 1:]
            pairs.append({"gold": a, "pred": b, "mode": "answer", "expected": "incorrect",
                          "source": "MATH500 " + r["unique_id"] + " last digit changed"})
    with open(os.path.join(out, "math500.jsonl"), "w") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    print(f"math500.jsonl: {len(pairs)} pairs")
    # Lenient: the solution without its box (`\boxed{X}` -> `X`), as an instruct model writes.
    unboxed = []
    for r in rows:
        s = r["solution"]
        i = max(s.rfind("\\boxed{"), -1)
        box = last_boxed(s)
        if i < 0 or box is None or "\\boxed" in s[:i]:
            continue
        text = s[:i] + box + s[i + len("\\boxed{") + len(box) + 1:]
        unboxed.append((r, text))
    for r, text in unboxed:
        lenient.append({"gold": r["answer"], "pred": text, "mode": "response", "expected": "correct",
                        "source": "MATH500 " + r["unique_id"] + " unboxed solution"})
    for (a, text), (b, _) in zip(unboxed, unboxed[1:] + unboxed[:1]):
        if a["answer"].lstrip("-").isdigit() and b["answer"].lstrip("-").isdigit() and int(a["answer"]) != int(b["answer"]):
            lenient.append({"gold": b["answer"], "pred": text, "mode": "response", "expected": "incorrect",
                            "source": "MATH500 " + a["unique_id"] + " unboxed solution vs " + b["unique_id"]})
    with open(os.path.join(out, "lenient.jsonl"), "w") as f:
        for p in lenient:
            f.write(json.dumps(p) + "\n")
    print(f"lenient.jsonl: {len(lenient)} pairs")


if __name__ == "__main__":
    main()
