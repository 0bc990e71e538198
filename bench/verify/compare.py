#!/usr/bin/env python3
"""Runs math-verify and `aha verify` on the same pair list, alternating, and reports throughput,
the ratio, and the verdicts that disagree with the hand-labelled expectations.

usage: compare.py PAIRS.jsonl AHA_BIN VENV_PYTHON [--rounds N] [--hang-timeout S] [--aha-flag F ...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_mathverify(pairs_path, n, python, hang_timeout, workdir):
    """Returns (results per pair or None for a hang, seconds spent on non-hung pairs, hangs)."""
    out_path = os.path.join(workdir, "mv_out.jsonl")
    open(out_path, "w").close()
    results = [None] * n
    start = 0
    hangs = []
    while start < n:
        proc = subprocess.Popen([python, os.path.join(HERE, "mathverify_harness.py"), pairs_path, out_path, str(start)],
                                stderr=subprocess.DEVNULL)
        seen = start
        last_progress = time.monotonic()
        while True:
            done = proc.poll() is not None
            with open(out_path) as f:
                lines = [json.loads(l) for l in f if l.strip()]
            for r in lines:
                results[r["i"]] = r
            cur = max([r["i"] for r in lines], default=start - 1) + 1
            if cur > seen:
                seen = cur
                last_progress = time.monotonic()
            if done:
                start = max(seen, start)
                if start < n and results[start] is None:
                    # The harness died on this pair (crash): count it as a failure, go on.
                    hangs.append(start)
                    start += 1
                break
            # The first pair after a (re)start includes the import time, so allow extra time.
            limit = hang_timeout + (20 if seen == start else 0)
            if time.monotonic() - last_progress > limit:
                proc.kill()
                proc.wait()
                hangs.append(seen)
                start = seen + 1
                break
            time.sleep(0.05)
    secs = sum(r["s"] for r in results if r is not None)
    return results, secs, hangs


def run_aha(pairs, aha, workdir, repeat, flags=()):
    """Runs `aha verify` once per mode on the list repeated `repeat` times (to amortise process
    start); returns (verdict per pair, wall seconds per copy of the list)."""
    verdicts = [None] * len(pairs)
    total = 0.0
    for mode, extra in (("answer", ["--answer-only"]), ("response", [])):
        idx = [i for i, p in enumerate(pairs) if p["mode"] == mode]
        if not idx:
            continue
        inp = os.path.join(workdir, f"aha_{mode}.jsonl")
        with open(inp, "w") as f:
            for _ in range(repeat):
                for i in idx:
                    f.write(json.dumps({"response": pairs[i]["pred"], "gold": pairs[i]["gold"]}) + "\n")
        t = time.perf_counter()
        out = subprocess.run([aha, "verify", "--input", inp] + extra + list(flags), capture_output=True, text=True)
        total += time.perf_counter() - t
        recs = [json.loads(l) for l in out.stdout.splitlines()]
        for i, r in zip(idx, recs):
            verdicts[i] = r.get("verdict", "error")
    return verdicts, total / repeat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("aha")
    ap.add_argument("python")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hang-timeout", type=float, default=10.0)
    ap.add_argument("--show", type=int, default=15)
    ap.add_argument("--aha-repeat", type=int, default=10, help="copies of the list fed to aha per run")
    ap.add_argument("--aha-flag", action="append", default=[], help="extra flag for `aha verify` (repeatable)")
    a = ap.parse_args()
    pairs = [json.loads(l) for l in open(a.pairs)]
    n = len(pairs)
    with tempfile.TemporaryDirectory() as wd:
        mv_rates, aha_rates = [], []
        for rnd in range(a.rounds):
            mv, mv_secs, hangs = run_mathverify(a.pairs, n, a.python, a.hang_timeout, wd)
            ok_pairs = n - len(hangs)
            mv_rates.append(ok_pairs / mv_secs if mv_secs else float("nan"))
            av, aha_secs = run_aha(pairs, a.aha, wd, a.aha_repeat, a.aha_flag)
            aha_rates.append(n / aha_secs)
            print(f"round {rnd + 1}: math-verify {mv_rates[-1]:9.1f} pairs/s ({ok_pairs} pairs in {mv_secs:.2f} s, "
                  f"{len(hangs)} hung > {a.hang_timeout:.0f} s)   aha {aha_rates[-1]:9.1f} pairs/s ({n} pairs in "
                  f"{aha_secs:.4f} s wall per copy, list fed {a.aha_repeat}x incl. process start)   ratio {aha_rates[-1] / mv_rates[-1]:.0f}x", flush=True)
    best_mv, best_aha = max(mv_rates), max(aha_rates)
    mode = " ".join(a.aha_flag) or "default"
    print(f"\n{os.path.basename(a.pairs)} (aha {mode}): {n} pairs; best math-verify {best_mv:.1f}/s, best aha {best_aha:.1f}/s, "
          f"ratio {best_aha / best_mv:.0f}x (best of {a.rounds} rounds each)")

    def wrong(got_correct, p):
        return got_correct != (p["expected"] == "correct")

    mv_wrong = [i for i in range(n) if mv[i] is None or wrong(mv[i]["ok"], pairs[i])]
    aha_wrong = [i for i in range(n) if wrong(av[i] == "correct", pairs[i])]
    print(f"wrong vs expected: math-verify {len(mv_wrong)} (incl. {len(hangs)} hangs), aha {len(aha_wrong)}")
    for name, lst, got in (("math-verify", mv_wrong, lambda i: "hang" if mv[i] is None else str(mv[i]["ok"])),
                           ("aha", aha_wrong, lambda i: av[i])):
        if lst:
            print(f"\n{name} disagreements (first {a.show}):")
        for i in lst[:a.show]:
            p = pairs[i]
            pred = p["pred"] if len(p["pred"]) < 80 else p["pred"][:40] + " … " + p["pred"][-35:]
            print(f"  [{p['source']}] gold={p['gold']!r} pred={pred!r} expected={p['expected']} got={got(i)}")


if __name__ == "__main__":
    main()
