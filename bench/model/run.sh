#!/usr/bin/env bash
# aha's decoder vs llama.cpp on the same GGUF files, same threads, same run.
#
#   bench/model/run.sh            # SmolLM2 + Gemma-3-270M; add TRAIN=0 to skip the training step
#
# Measures, per model: prompt tok/s (128-token prompt) and decode tok/s (64 tokens), single
# stream, for aha (quantized path) and llama.cpp (llama-bench); aha's aggregate decode tok/s with
# 8 and 32 sequences sampled together; and (SmolLM2) seconds per GRPO update through
# `aha_train::Trainer::learn`, batch 8 x 256 tokens, f32 weights (score with gradients, loss,
# backward, grad clip, AdamW), whole batch and with micro-batches of 2 (MICRO), with peak RSS.
# aha runs once per CPU path in KERNELS (comma-separated, default `auto`: the fastest this CPU
# runs; e.g. KERNELS=avx512-vnni,avx2,portable forces each path on one machine), engine
# "aha-<path>", and once with candle's own quantized kernels (engine "aha-candle", the state
# before the packed kernel); CANDLE=0 skips that run. On a busy machine use THREADS=1: spinning thread pools (llama.cpp's and
# candle's) collapse when cores are oversubscribed, and aha's decode_tok_per_cpu_s (tokens per
# second of main-thread CPU time) is then the contention-proof figure for batched/single.
# When llama.cpp's AVX2 build exists (`LLAMA_CPU=avx2 bench/llamacpp/build.sh`, directory
# AHA_LLAMACPP_AVX2_DIR, default ~/.cache/aha/llama.cpp-avx2) it runs too, engine
# "llama.cpp-avx2", and aha's 256-bit and portable paths are also compared with it: the peer an
# AVX2-only CPU would run, where the default build uses AVX-512 on a CPU that has it.
# Prints ratios; writes every figure as JSON lines to $OUT (default target/bench-model.jsonl).
# Timings on a shared machine are noisy: both engines run back to back in the same invocation.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MODELS="${AHA_MODELS_DIR:-$HOME/.cache/aha/models}"
LLAMA_DIR="${AHA_LLAMACPP_DIR:-$HOME/.cache/aha/llama.cpp}"
THREADS="${THREADS:-2}"
REPS="${AHA_BENCH_REPS:-3}"
TRAIN="${TRAIN:-1}"
CANDLE="${CANDLE:-1}"
KERNELS="${KERNELS:-auto}"
MICRO="${MICRO:-2}"
OUT="${OUT:-$ROOT/target/bench-model.jsonl}"

log() { echo "bench-model: $*" >&2; }
die() { log "error: $*"; exit 1; }

LLAMA_BENCH="$LLAMA_DIR/bin/llama-bench"
[ -x "$LLAMA_BENCH" ] || LLAMA_BENCH="$LLAMA_DIR/build/bin/llama-bench"
[ -x "$LLAMA_BENCH" ] || die "llama-bench not found under $LLAMA_DIR (run bench/llamacpp/build.sh)"
LLAMA_AVX2_BENCH="${AHA_LLAMACPP_AVX2_DIR:-$HOME/.cache/aha/llama.cpp-avx2}/bin/llama-bench"
PEERS=("llama.cpp=$LLAMA_BENCH")
if [ -x "$LLAMA_AVX2_BENCH" ]; then
    PEERS+=("llama.cpp-avx2=$LLAMA_AVX2_BENCH")
else
    log "no llama.cpp AVX2 build at $LLAMA_AVX2_BENCH (LLAMA_CPU=avx2 bench/llamacpp/build.sh); comparing with the native build only"
fi
command -v python3 >/dev/null || die "python3 is needed to summarise the JSON"

log "building the aha bench (aha-model is optimised in every profile)"
(cd "$ROOT" && cargo build -q -p aha-model --example bench)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
AHA_BENCH="$TARGET/debug/examples/bench"
if [ "$TRAIN" = 1 ]; then
    log "building the update bench (release: the trainer's own loops run there too)"
    (cd "$ROOT" && cargo build -q --release -p aha-train --example update_bench)
fi
UPDATE_BENCH="$TARGET/release/examples/update_bench"

mkdir -p "$(dirname "$OUT")"
: > "$OUT"
# candle sizes its pools from RAYON_NUM_THREADS: the same thread count as llama.cpp's -t.
export RAYON_NUM_THREADS="$THREADS" AHA_BENCH_REPS="$REPS"

for file in SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-q4_k_m.gguf; do
    model="$MODELS/$file"
    if [ ! -f "$model" ]; then log "skipping $file (not in $MODELS; run scripts/fetch-models.sh)"; continue; fi
    for peer in "${PEERS[@]}"; do
        engine="${peer%%=*}" bin="${peer#*=}"
        log "$file: $engine (llama-bench -p 128 -n 64 -t $THREADS -r $REPS)"
        "$bin" -m "$model" -p 128 -n 64 -t "$THREADS" -r "$REPS" -o jsonl 2>/dev/null |
            python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    metric = "prompt_tok_s" if r["n_gen"] == 0 else "decode_tok_s"
    print(json.dumps({"schema_version": 1, "engine": sys.argv[2], "model": sys.argv[1],
                      "metric": metric, "batch": 1, "value": round(r["avg_ts"], 2),
                      "stddev": round(r["stddev_ts"], 2), "threads": r["n_threads"]}))
' "$file" "$engine" >> "$OUT"
    done
    IFS=, read -r -a runs <<< "$KERNELS"
    if [ "$CANDLE" = 1 ]; then runs+=("candle"); fi
    for kernels in "${runs[@]}"; do
        log "$file: aha --kernels $kernels"
        "$AHA_BENCH" "$model" --kernels "$kernels" |
            python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    engine = "aha-" + r["kernels"]
    r.update({"schema_version": 1, "engine": engine, "threads": int(sys.argv[1])})
    print(json.dumps(r))
' "$THREADS" >> "$OUT"
    done
    if [ "$TRAIN" = 1 ] && [[ "$file" == SmolLM2* ]]; then
        for micro in 0 "$MICRO"; do
            log "$file: GRPO update, micro-batch $micro (0 = whole batch), $REPS steps + 1 warm-up"
            "$UPDATE_BENCH" "$model" --micro "$micro" --steps $((REPS + 1)) |
                python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    r.update({"schema_version": 1, "engine": "aha", "threads": int(sys.argv[1])})
    print(json.dumps(r))
' "$THREADS" >> "$OUT"
        done
    fi
done

python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(engine, model, metric, batch=1):
    for r in rows:
        if (r["engine"], r["model"], r["metric"], r.get("batch")) == (engine, model, metric, batch):
            return r["value"]
for model in sorted({r["model"] for r in rows}):
    print(f"\n== {model}")
    engines = sorted({r["engine"] for r in rows if r["engine"].startswith("aha-")})
    for engine in engines:
        # aha's 256-bit and portable paths also against llama.cpp's AVX2 build, when it ran.
        peers = ["llama.cpp"]
        if engine in ("aha-avx2", "aha-avx-vnni", "aha-portable", "aha-candle"):
            peers.append("llama.cpp-avx2")
        for metric in ("prompt_tok_s", "decode_tok_s"):
            for peer in peers:
                a, l = get(engine, model, metric), get(peer, model, metric)
                if a and l:
                    print(f"{metric:14s} single stream: {engine:16s} {a:8.1f}  {peer:14s} "
                          f"{l:8.1f}  ratio {a / l:5.2f}x")
        for metric in ("decode_tok_s", "decode_tok_per_cpu_s"):
            one = get(engine, model, metric)
            for b in (8, 32):
                v = get(engine, model, metric, b)
                if v and one:
                    print(f"{metric:20s} batch {b:2d}: {engine:16s} {v:8.1f}  = {v / one:5.2f}x "
                          "its single stream")
    for micro in sorted({r.get("micro_batch") for r in rows
                         if r["model"] == model and r["metric"] == "train_step_s"}):
        steps = [r for r in rows if r["model"] == model and r["metric"] == "train_step_s"
                 and r.get("micro_batch") == micro and r["step"] > 0]  # step 0 warms up
        if steps:
            secs = sorted(r["value"] for r in steps)
            print(f"GRPO update {steps[0]['batch']}x{steps[0]['tokens']}, micro-batch "
                  f"{micro or 'off'}: median {secs[len(secs) // 2]:.2f} s/step over "
                  f"{len(secs)} steps, peak RSS {max(r['peak_rss_mib'] for r in steps):.0f} MiB")
PY
log "figures in $OUT"
