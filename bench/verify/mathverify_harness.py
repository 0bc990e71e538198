#!/usr/bin/env python3
"""math-verify side of the benchmark (run inside the math-verify venv, main thread).

Harness (the usual way papers call math-verify): gold wrapped as `$gold$`; a bare answer wrapped in
`\\boxed{}`, a full response parsed as is; `verify(parse(gold), parse(pred))` with defaults.
Appends one line per pair ({"i", "ok", "s"}) and flushes, so the driver can detect a hang.
"""
import json
import sys
import time

from math_verify import parse, verify


def main():
    pairs_path, out_path, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pairs = [json.loads(l) for l in open(pairs_path)]
    with open(out_path, "a") as out:
        for i in range(start, len(pairs)):
            p = pairs[i]
            gold = "$" + p["gold"] + "$"
            pred = p["pred"] if p["mode"] == "response" else "\\boxed{" + p["pred"] + "}"
            t = time.perf_counter()
            try:
                ok = bool(verify(parse(gold), parse(pred)))
            except BaseException:  # math-verify's TimeoutException is a BaseException
                ok = False
            out.write(json.dumps({"i": i, "ok": ok, "s": time.perf_counter() - t}) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
