#!/usr/bin/env python3
"""Tokenizer speed and agreement, aha vs llama.cpp, on the same text in the same run.

    bench/llamacpp/build.sh && scripts/fetch-models.sh
    cargo build --release -p aha-tokenizer --example tokenize
    python3 bench/llamacpp/bench_tokenize.py [--reps 5]

Text: MATH-500 problems + solutions from the shared data (or any file via --text), as one string.
Both sides are separate processes that load the tokenizer from the GGUF and encode the text
without BOS. Reported per model (medians over --reps runs, runs alternate between the peers):
- load: the process run on a one-word text (process start + GGUF metadata + tokenizer build);
- encode: full-text run minus the one-word run, and the resulting MB/s;
- whether the id lists are identical.
Prints a JSON line per model (schema_version 1) after the table.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LLAMACPP = Path(os.environ.get("AHA_LLAMACPP_DIR", Path.home() / ".cache/aha/llama.cpp"))
MODELS = Path(os.environ.get("AHA_MODELS_DIR", Path.home() / ".cache/aha/models"))
SHARED = Path(os.environ.get("AHA_SHARED_DATA", ROOT.parent / "shared/data"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
MODEL_FILES = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]


def run(cmd: list[str], stdin: bytes | None = None) -> tuple[float, list[int]]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {res.stderr.decode(errors='replace')[-2000:]}")
    lines = res.stdout.decode().strip().splitlines()
    return dt, json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--text", type=Path, help="text file (default: MATH-500 from the shared data)")
    args = ap.parse_args()

    if args.text:
        text = args.text.read_text()
    else:
        rows = [json.loads(l) for l in open(SHARED / "benchmarks/math500.jsonl")]
        text = "\n\n".join(r["problem"] + "\n\n" + r["solution"] for r in rows)
    aha = TARGET / "release/examples/tokenize"
    lc = LLAMACPP / "bin/llama-tokenize"
    for p, hint in [(aha, "cargo build --release -p aha-tokenizer --example tokenize"), (lc, "bench/llamacpp/build.sh")]:
        if not p.exists():
            sys.exit(f"{p} missing: {hint}")

    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.txt"
        full.write_text(text)
        tiny = Path(tmp) / "tiny.txt"
        tiny.write_text("Hello")
        print(f"text: {len(text.encode())} bytes; {args.reps} reps; medians")
        print(f"{'model':34} {'peer':10} {'load s':>8} {'encode s':>9} {'MB/s':>7} {'ids':>8}")
        for mf in MODEL_FILES:
            model = MODELS / mf
            if not model.exists():
                sys.exit(f"{model} missing: scripts/fetch-models.sh")
            lc_cmd = [str(lc), "-m", str(model), "--stdin", "--no-escape", "--ids", "--no-bos", "--log-disable"]
            times = {"aha": ([], []), "llama.cpp": ([], [])}
            ids = {}
            for _ in range(args.reps):
                for peer in ["aha", "llama.cpp"]:
                    for which, path in [(0, tiny), (1, full)]:
                        if peer == "aha":
                            dt, got = run([str(aha), str(model), "@" + str(path)])
                        else:
                            dt, got = run(lc_cmd, path.read_bytes())
                        times[peer][which].append(dt)
                        if which == 1:
                            ids[peer] = got
            same = ids["aha"] == ids["llama.cpp"]
            result = {"schema_version": 1, "model": mf, "bytes": len(text.encode()), "reps": args.reps, "ids_identical": same}
            for peer, (t_tiny, t_full) in times.items():
                load = statistics.median(t_tiny)
                enc = max(statistics.median(t_full) - load, 1e-9)
                mbs = len(text.encode()) / enc / 1e6
                print(f"{mf:34} {peer:10} {load:8.3f} {enc:9.3f} {mbs:7.2f} {len(ids[peer]):8}")
                result[peer] = {"load_s": round(load, 4), "encode_s": round(enc, 4), "mb_per_s": round(mbs, 3), "n_ids": len(ids[peer])}
            result["encode_speed_ratio_aha_over_llamacpp"] = round(result["llama.cpp"]["encode_s"] / result["aha"]["encode_s"], 3)
            print(f"{'':34} ids identical: {same}; aha encode speed = {result['encode_speed_ratio_aha_over_llamacpp']}x llama.cpp")
            print(json.dumps(result))


if __name__ == "__main__":
    main()
