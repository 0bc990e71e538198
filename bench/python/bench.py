"""aha.verify_batch vs math-verify on the same (response, gold) pairs, in one process.

Pairs: MATH500 (gold = `answer`, response = the reference `solution`, whose last \\boxed{} holds
the answer; read from ../shared/data or $AHA_SHARED_DATA when present) and the tricky list
shipped here (tricky.jsonl, hand-labelled expected verdicts).

math-verify harness as in docs/baselines.md: gold wrapped as `$gold$`, response parsed as is,
`verify(parse(gold), parse(response))`, main thread (its signal timeouts need it). Runs
alternate between the two graders; the machine is shared and noisy, so compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import aha

HERE = pathlib.Path(__file__).resolve().parent


def load_pairs(repeat_tricky: int) -> dict[str, tuple[list[str], list[str], list[bool | None]]]:
    sets: dict[str, tuple[list[str], list[str], list[bool | None]]] = {}
    data = pathlib.Path(os.environ.get("AHA_SHARED_DATA", HERE.parent.parent.parent / "shared" / "data"))
    math500 = data / "benchmarks" / "math500.jsonl"
    if math500.is_file():
        rows = [json.loads(line) for line in math500.read_text().splitlines() if line.strip()]
        sets["math500"] = ([r["solution"] for r in rows], [r["answer"] for r in rows], [True] * len(rows))
    else:
        print(f"note: {math500} not found; MATH500 pairs skipped", file=sys.stderr)
    rows = [json.loads(line) for line in (HERE / "tricky.jsonl").read_text().splitlines() if line.strip()]
    rows = rows * repeat_tricky
    sets["tricky"] = ([r["response"] for r in rows], [r["gold"] for r in rows], [r["expected"] for r in rows])
    return sets


def run_math_verify(responses: list[str], golds: list[str]) -> tuple[float, list[bool]]:
    from math_verify import parse, verify

    out = []
    t0 = time.perf_counter()
    for r, g in zip(responses, golds):
        try:
            out.append(bool(verify(parse(f"${g}$"), parse(r))))
        except Exception:  # math-verify raises on some inputs; count as not verified
            out.append(False)
    return time.perf_counter() - t0, out


def run_aha_batch(responses: list[str], golds: list[str], threads: int | None) -> tuple[float, list[bool]]:
    t0 = time.perf_counter()
    vs = aha.verify_batch(responses, golds, num_threads=threads)
    return time.perf_counter() - t0, [v.correct for v in vs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per grader")
    ap.add_argument("--repeat-tricky", type=int, default=10, help="copies of the tricky list")
    args = ap.parse_args()

    import math_verify  # noqa: F401  (fail early with a clear ImportError)
    from importlib.metadata import version

    print(f"aha {aha.__version__}, math-verify {version('math-verify')}, CPUs: {os.cpu_count()}")
    results = {}
    for name, (responses, golds, expected) in load_pairs(args.repeat_tricky).items():
        n = len(responses)
        t_mv, t_a1, t_an = [], [], []
        for _ in range(args.rounds):
            dt, mv = run_math_verify(responses, golds)
            t_mv.append(dt)
            dt, a1 = run_aha_batch(responses, golds, 1)
            t_a1.append(dt)
            dt, an = run_aha_batch(responses, golds, None)
            t_an.append(dt)
        mv_rate = n / statistics.median(t_mv)
        a1_rate = n / statistics.median(t_a1)
        an_rate = n / statistics.median(t_an)
        agree = sum(x == y for x, y in zip(mv, an))
        labelled = [(e, m, a) for e, m, a in zip(expected, mv, an) if e is not None]
        mv_ok = sum(e == m for e, m, _ in labelled)
        a_ok = sum(e == a for e, _, a in labelled)
        print(f"\n== {name}: {n} pairs, median of {args.rounds} alternating rounds")
        print(f"math-verify (1 thread)     : {mv_rate:10.0f} pairs/s")
        print(f"aha.verify_batch (1 thread): {a1_rate:10.0f} pairs/s   ratio {a1_rate / mv_rate:7.1f}x")
        print(f"aha.verify_batch (all CPUs): {an_rate:10.0f} pairs/s   ratio {an_rate / mv_rate:7.1f}x")
        print(f"verdicts agree on {agree}/{n}; match expected: math-verify {mv_ok}/{len(labelled)}, aha {a_ok}/{len(labelled)}")
        if name == "tricky":
            uniq = len(labelled) // max(args.repeat_tricky, 1)
            rows = [json.loads(x) for x in (HERE / "tricky.jsonl").read_text().splitlines() if x.strip()]
            for i in range(uniq):
                e, m, a = labelled[i]
                if m != e or a != e:
                    print(f"   {rows[i]['note']:<40} expected {e!s:<5} math-verify {m!s:<5} aha {a!s:<5}")
        results[name] = {"pairs": n, "math_verify_per_s": mv_rate, "aha_1t_per_s": a1_rate, "aha_per_s": an_rate}
    print("\n" + json.dumps({"schema_version": 1, "results": results}))


if __name__ == "__main__":
    main()
