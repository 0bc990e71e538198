#!/usr/bin/env bash
# Seconds per RL step: aha (`crates/train/examples/rl_step_bench.rs`) vs TRL 1.16 GRPOTrainer
# (PyTorch CPU), same model shapes, same batch, alternating in one run; prints each system's
# median s/step, the ratio TRL / aha, and peak RSS. Settings:
# random init, fp32 training (aha samples its rollouts on a Q8_0 copy of the policy, as `aha
# train` does; TRL on its fp32 weights), 1 prompt x 8 generations, every completion runs to the
# full length, lr 1e-6, beta 0, GRPO loss, one optimizer step per rollout batch, 2 threads each.
#
#   bench/train/run.sh                 # tiny Qwen2 (5 M) x 2 rounds, then the SmolLM2-135M shape
#   SHAPES=tiny ROUNDS=3 bench/train/run.sh
#
# Env: SHAPES (tiny smollm2; default both), ROUNDS (tiny model rounds, default 2), STEPS
# (measured steps, default 10; the SmolLM2 shape uses STEPS_SMOLLM2, default 5), WARMUP (2),
# KERNELS (aha's rollout path: auto, avx512-vnni, avx-vnni, avx2, portable, or f32 for rollouts
# on the f32 weights; default auto),
# MODEL (a GGUF file of the SmolLM2 shape: aha trains its real weights, dequantized, instead of
# a random init; TRL keeps the random init of the same shape), MICRO (aha's micro-batch size: the
# same update scored and back-propagated MICRO responses at a time; default 8, as `aha train`
# and TRL's per_device_train_batch_size: here the whole batch; 0 = all at once),
# TRL_GC (1: TRL's default, gradient checkpointing on; 0 turns it off), THREADS (2), OUT (JSONL of every run, default ~/.cache/aha/bench-train-results.jsonl, appended), AHA_BIN
# (a prebuilt rl_step_bench, skipping the cargo build), CPU (native, default: each side uses what
# this CPU has; avx2: both sides as on an AVX2-only CPU — TRL with ATEN_CPU_CAPABILITY=avx2,
# ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2; aha with its rollouts on the `avx2`
# packed path and candle's f32 matmul built without gemm's AVX-512 kernels, from a copy of this
# tree under ~/.cache/aha/src-gemm-avx2 whose Cargo.toml drops gemm's `x86-v4` feature).
set -euo pipefail
cd "$(dirname "$0")/../.."

SHAPES="${SHAPES:-tiny smollm2}"
ROUNDS="${ROUNDS:-2}"
STEPS="${STEPS:-10}"
STEPS_SMOLLM2="${STEPS_SMOLLM2:-5}"
WARMUP="${WARMUP:-2}"
THREADS="${THREADS:-2}"
CPU="${CPU:-native}"
case "$CPU" in
    native) KERNELS="${KERNELS:-auto}" ;;
    avx2) KERNELS="${KERNELS:-avx2}" ;;
    *) echo "run.sh: CPU must be native or avx2, not $CPU" >&2; exit 1 ;;
esac
OUT="${OUT:-$HOME/.cache/aha/bench-train-results.jsonl}"
VENV="${AHA_TRL_VENV:-$HOME/.cache/aha/venv-trl}"

# A venv that already imports TRL (e.g. AHA_TRL_VENV=~/.cache/aha/engines/trl-1.16.0 from
# scripts/engines-check.sh) is used as it is; otherwise setup-venv.sh builds the pinned one.
if ! "$VENV/bin/python" -c 'import torch, trl, transformers' 2>/dev/null; then
    ./bench/train/setup-venv.sh
fi
if [ -z "${AHA_BIN:-}" ] && [ "$CPU" = avx2 ]; then
    # gemm picks its microkernels at run time with no way to cap them, so the AVX2-only build is
    # a separate one: this tree (tracked and untracked files) copied, gemm's `x86-v4` removed.
    src="$HOME/.cache/aha/src-gemm-avx2"
    rm -rf "$src" && mkdir -p "$src"
    git ls-files -co --exclude-standard -z | tar --null -cf - -T - | tar -xf - -C "$src"
    grep -q 'features = \["x86-v4"\]' "$src/Cargo.toml" || { echo "run.sh: no gemm x86-v4 feature in Cargo.toml" >&2; exit 1; }
    sed -i 's/features = \["x86-v4"\]/features = []/' "$src/Cargo.toml"
    target="${CARGO_TARGET_DIR:-$PWD/target}"
    (cd "$src" && CARGO_TARGET_DIR="$target" cargo build --release -q -p aha-train --example rl_step_bench)
    AHA_BIN="$HOME/.cache/aha/rl_step_bench-gemm-avx2"
    cp "$target/release/examples/rl_step_bench" "$AHA_BIN.tmp" && mv "$AHA_BIN.tmp" "$AHA_BIN"
fi
if [ -z "${AHA_BIN:-}" ]; then
    cargo build --release -q -p aha-train --example rl_step_bench
    AHA_BIN="${CARGO_TARGET_DIR:-target}/release/examples/rl_step_bench"
fi
TRL_ENV=()
if [ "$CPU" = avx2 ]; then
    TRL_ENV=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2)
fi

# name|arch|layers|hidden|intermediate|heads|kv_heads|vocab|completion tokens|prompt tokens
declare -A SHAPE=(
    [tiny]="qwen2 4 256 704 4 2 8192 128 16"
    [smollm2]="llama 30 576 1536 9 3 49152 192 64"
)

run_one() { # system shape steps
    local system="$1" name="$2" steps="$3" arch layers hidden inter heads kv vocab len plen line
    read -r arch layers hidden inter heads kv vocab len plen <<<"${SHAPE[$name]}"
    local args=(--arch "$arch" --layers "$layers" --hidden "$hidden" --intermediate "$inter"
        --heads "$heads" --kv-heads "$kv" --vocab "$vocab" --completion-len "$len"
        --prompt-len "$plen" --group 8 --warmup "$WARMUP" --steps "$steps")
    if [ "$system" = aha ]; then
        if [ "$KERNELS" = f32 ]; then
            args+=(--quantized-rollouts 0)
        else
            args+=(--quantized-rollouts 1 --kernels "$KERNELS")
        fi
        if [ -n "${MODEL:-}" ] && [ "$name" = smollm2 ]; then args+=(--model "$MODEL"); fi
        args+=(--micro "${MICRO:-8}")
        line="$(RAYON_NUM_THREADS="$THREADS" "$AHA_BIN" "${args[@]}" 2>"/tmp/rl_bench_$system.log" | tail -n1)"
    else
        if [ "${TRL_GC:-1}" = 0 ]; then args+=(--no-gradient-checkpointing); fi
        line="$(env "${TRL_ENV[@]}" OMP_NUM_THREADS="$THREADS" "$VENV/bin/python" bench/train/trl_grpo_bench.py \
            "${args[@]}" --threads "$THREADS" 2>"/tmp/rl_bench_$system.log" | tail -n1)"
    fi
    [ -n "$line" ] || { echo "run.sh: $system failed, see /tmp/rl_bench_$system.log" >&2; exit 1; }
    echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["shape"]=sys.argv[1]; d["cpu"]=sys.argv[2]; print(json.dumps(d))' "$name" "$CPU" >>"$OUT"
    echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  %-4s %-8s %6.1f M params  median %7.3f s/step  peak RSS %.2f GiB" % (d["system"], sys.argv[1], d["params"] / 1e6, d["median_step_s"], d["peak_rss_kib"] / 1048576))' "$name"
}

echo "bench/train: $(date -u +%FT%TZ), CPU $CPU, aha kernels $KERNELS, micro-batch ${MICRO:-8}, threads $THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)"
START_LINE=$(( $( [ -f "$OUT" ] && wc -l <"$OUT" || echo 0 ) + 1 ))
for name in $SHAPES; do
    if [ "$name" = tiny ]; then rounds="$ROUNDS"; steps="$STEPS"; else rounds=1; steps="$STEPS_SMOLLM2"; fi
    for r in $(seq 1 "$rounds"); do
        echo "== $name, round $r (TRL, then aha)"
        run_one trl "$name" "$steps"
        run_one aha "$name" "$steps"
    done
done

# Medians over every measured step of this invocation, and the ratio.
tail -n +"$START_LINE" "$OUT" | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
for shape in dict.fromkeys(r["shape"] for r in rows):
    med = {}
    for system in ("trl", "aha"):
        steps = [s for r in rows if r["shape"] == shape and r["system"] == system for s in r["step_s"]]
        rss = max(r["peak_rss_kib"] for r in rows if r["shape"] == shape and r["system"] == system)
        med[system] = statistics.median(steps)
        print(f"{shape:8} {system}: median {med[system]:.3f} s/step over {len(steps)} steps, peak RSS {rss/1048576:.2f} GiB")
    print("%-8s TRL / aha = %.2fx" % (shape, med["trl"] / med["aha"]))
'
