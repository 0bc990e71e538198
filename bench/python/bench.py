"""aha.verify_batch vs math-verify on the same (response, gold) pairs, in one process.

Pairs: MATH500 (gold = `answer`, response = the reference `solution`, whose last \\boxed{} holds
the answer; read from the repo's data/ or $AHA_SHARED_DATA) and the tricky list
shipped here (tricky.jsonl, hand-labelled expected verdicts).

math-verify harness (the usual way papers call it): gold wrapped as `$gold$`, response parsed as is,
`verify(parse(gold), parse(response))`, main thread (its signal timeouts need it); plus the same
in a thread pool with timeouts off (the only setting that works off the main thread). aha is
timed single-threaded and on all CPUs. Runs alternate between the graders; the machine is shared
and noisy, so compare ratios.
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
    data = pathlib.Path(os.environ.get("AHA_SHARED_DATA", HERE.parent.parent / "data"))
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


def run_math_verify_threads(responses: list[str], golds: list[str]) -> tuple[float, list[bool]]:
    """math-verify in a thread pool (one worker per CPU). Its signal timeouts only work in the
    main thread, so they must be off here (`parsing_timeout=None`, `timeout_seconds=None`): the
    setting TRL/verl use in workers, with no protection against hangs."""
    from concurrent.futures import ThreadPoolExecutor

    from math_verify import parse, verify

    def one(pair: tuple[str, str]) -> bool:
        r, g = pair
        try:
            gold = parse(f"${g}$", parsing_timeout=None)
            return bool(verify(gold, parse(r, parsing_timeout=None), timeout_seconds=None))
        except Exception:
            return False

    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as ex:
        out = list(ex.map(one, zip(responses, golds)))
    return time.perf_counter() - t0, out


def run_aha_batch(
    responses: list[str], golds: list[str], threads: int | None, copies: int
) -> tuple[float, list[bool]]:
    """Seconds per pass over the pairs; the pairs are graded `copies` times in one batch so the
    timed span is long enough to measure (a single pass takes milliseconds)."""
    rs, gs = responses * copies, golds * copies
    t0 = time.perf_counter()
    vs = aha.verify_batch(rs, gs, num_threads=threads)
    return (time.perf_counter() - t0) / copies, [v.correct for v in vs[: len(responses)]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per grader")
    ap.add_argument("--repeat-tricky", type=int, default=10, help="copies of the tricky list")
    ap.add_argument("--aha-copies", type=int, default=50, help="passes per aha batch (timing)")
    ap.add_argument("--out", type=pathlib.Path, help="append the result record to this JSONL file")
    args = ap.parse_args()

    import math_verify  # noqa: F401  (fail early with a clear ImportError)
    from importlib.metadata import version

    print(f"aha {aha.__version__}, math-verify {version('math-verify')}, CPUs: {os.cpu_count()}")
    results = {}
    for name, (responses, golds, expected) in load_pairs(args.repeat_tricky).items():
        n = len(responses)
        t_mv, t_mvt, t_a1, t_an = [], [], [], []
        for _ in range(args.rounds):
            dt, mv = run_math_verify(responses, golds)
            t_mv.append(dt)
            dt, mvt = run_math_verify_threads(responses, golds)
            t_mvt.append(dt)
            dt, a1 = run_aha_batch(responses, golds, 1, args.aha_copies)
            t_a1.append(dt)
            dt, an = run_aha_batch(responses, golds, None, args.aha_copies)
            t_an.append(dt)
        mv_rate = n / statistics.median(t_mv)
        mvt_rate = n / statistics.median(t_mvt)
        a1_rate = n / statistics.median(t_a1)
        an_rate = n / statistics.median(t_an)
        agree = sum(x == y for x, y in zip(mv, an))
        labelled = [(e, m, a) for e, m, a in zip(expected, mv, an) if e is not None]
        mv_ok = sum(e == m for e, m, _ in labelled)
        a_ok = sum(e == a for e, _, a in labelled)
        print(f"\n== {name}: {n} pairs, median of {args.rounds} alternating rounds")
        print(f"math-verify (1 thread)     : {mv_rate:10.0f} pairs/s")
        print(f"math-verify (thread pool)  : {mvt_rate:10.0f} pairs/s   (timeouts off; agrees with main-thread run on {sum(a == b for a, b in zip(mv, mvt))}/{n})")
        print(f"aha.verify_batch (1 thread): {a1_rate:10.0f} pairs/s   ratio {a1_rate / mv_rate:7.1f}x")
        print(f"aha.verify_batch (all CPUs): {an_rate:10.0f} pairs/s   ratio {an_rate / mv_rate:7.1f}x (vs thread pool {an_rate / mvt_rate:.1f}x)")
        print(f"verdicts agree on {agree}/{n}; match expected: math-verify {mv_ok}/{len(labelled)}, aha {a_ok}/{len(labelled)}")
        if name == "tricky":
            uniq = len(labelled) // max(args.repeat_tricky, 1)
            rows = [json.loads(x) for x in (HERE / "tricky.jsonl").read_text().splitlines() if x.strip()]
            for i in range(uniq):
                e, m, a = labelled[i]
                if m != e or a != e:
                    print(f"   {rows[i]['note']:<40} expected {e!s:<5} math-verify {m!s:<5} aha {a!s:<5}")
        results[name] = {
            "pairs": n,
            "math_verify_per_s": mv_rate,
            "math_verify_threads_per_s": mvt_rate,
            "aha_1t_per_s": a1_rate,
            "aha_per_s": an_rate,
        }
    record = {
        "schema_version": 1,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "results": results,
    }
    print("\n" + json.dumps(record))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
