#!/usr/bin/env bash
# aha probe against a real third-party OpenAI-compatible server: llama.cpp's llama-server, built
# from the same llama.cpp source as the other llama.cpp benchmarks (bench/llamacpp/build.sh).
#
#   bench/llamacpp/build.sh llama-server     # once (~5 min on 2 cores with the libraries built)
#   bench/llama-server/run.sh                 # SmolLM2-135M-Instruct; MODEL=gemma-3-270m-q4_k_m.gguf
#
# Starts llama-server on 127.0.0.1 only, then (bench/llama-server/check.py):
#   1. checks the server's answers on /v1/completions and /v1/chat/completions for the fields
#      aha's probe sends or may send: greedy determinism, max_tokens, stop strings (stripped,
#      list form), seed reproducibility, top_p, n > 1, log-probs (one per token, finite, sorted
#      top-k, top-1 = greedy choice), and whether vLLM's `stop_token_ids` is honoured (INFO);
#   2. runs `aha probe --server` (templates r1 -> /v1/completions with the `</answer>` stop, chat
#      -> /v1/chat/completions; temperatures 0 and 0.8; n samples; seeded) twice and with another
#      seed, and `aha probe --model` on the same GGUF, and checks sample counts, the stop string,
#      token budgets, seed reproducibility, and that summary.json has the embedded run's schema.
# Prints PASS/FAIL per check and the wall times; exits 1 on any FAIL. Results go to $OUT.
#
# Env: MODEL (file in $AHA_MODELS_DIR), PORT (default 18431), THREADS (2), SLOTS (llama-server
# --parallel, 2: the largest `n` it accepts), CONCURRENCY (aha probe --concurrency, 1), SERVER_ARGS
# (extra llama-server flags; default "--no-cache-prompt --top-k 0 --min-p 0": reproducible reruns,
# plain temperature + nucleus sampling; see docs/results/llama-server-probe.md), LIMIT (questions,
# 3), N (samples at T>0, 2), MAX_TOKENS (96), AHA (the aha binary; default: built with
# `cargo build --release -p aha`), OUT (default target/bench-llama-server).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MODELS="${AHA_MODELS_DIR:-$HOME/.cache/aha/models}"
LLAMA_DIR="${AHA_LLAMACPP_DIR:-$HOME/.cache/aha/llama.cpp}"
MODEL="${MODEL:-SmolLM2-135M-Instruct.Q4_1.gguf}"
PORT="${PORT:-18431}"
THREADS="${THREADS:-2}"
SLOTS="${SLOTS:-2}"
CONCURRENCY="${CONCURRENCY:-1}"
SERVER_ARGS="${SERVER_ARGS---no-cache-prompt --top-k 0 --min-p 0}"
LIMIT="${LIMIT:-3}"
N="${N:-2}"
MAX_TOKENS="${MAX_TOKENS:-96}"
OUT="${OUT:-$ROOT/target/bench-llama-server}"
NAME="${MODEL%.gguf}"

log() { echo "bench-llama-server: $*" >&2; }
die() { log "error: $*"; exit 1; }

SERVER="$LLAMA_DIR/bin/llama-server"
[ -x "$SERVER" ] || die "$SERVER not found (run bench/llamacpp/build.sh llama-server)"
[ -f "$MODELS/$MODEL" ] || die "$MODELS/$MODEL not found (run scripts/fetch-models.sh)"
command -v python3 >/dev/null || die "python3 is needed"

if [ -z "${AHA:-}" ]; then
    log "building aha (release)"
    (cd "$ROOT" && cargo build -q --release -p aha)
    AHA="${CARGO_TARGET_DIR:-$ROOT/target}/release/aha"
fi
[ -x "$AHA" ] || die "aha binary $AHA not found"
# The embedded probe's thread pool gets the same thread count as llama-server's -t. On a machine
# whose cores are busy with other work use THREADS=1: spinning thread pools (llama.cpp's and
# candle's) collapse when cores are oversubscribed.
export RAYON_NUM_THREADS="$THREADS"

rm -rf "$OUT" && mkdir -p "$OUT"
{
    echo "llama-server: $("$SERVER" --version 2>&1 | tr '\n' ' ')"
    cat "$LLAMA_DIR/bin/VERSION" 2>/dev/null || true
    echo "aha: $("$AHA" --version) ($AHA; this tree at $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "model: $MODEL ($(cut -c1-16 "$MODELS/$MODEL.sha256" 2>/dev/null || echo 'no sha256'))"
} | tee "$OUT/versions.txt" >&2

# --jinja: the GGUF's own chat template for /v1/chat/completions. No web UI, loopback only.
log "starting llama-server on 127.0.0.1:$PORT (-t $THREADS, --parallel $SLOTS $SERVER_ARGS)"
start=$(date +%s%N)
"$SERVER" -m "$MODELS/$MODEL" --host 127.0.0.1 --port "$PORT" -t "$THREADS" \
    --parallel "$SLOTS" -c $((2048 * SLOTS)) --jinja --alias "$NAME" --no-webui $SERVER_ARGS \
    > "$OUT/llama-server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$OUT/llama-server.log" >&2; die "llama-server exited"; }
    sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || die "llama-server not healthy after 60 s"
log "llama-server ready in $(( ($(date +%s%N) - start) / 1000000 )) ms"

set +e
python3 "$ROOT/bench/llama-server/check.py" --base "http://127.0.0.1:$PORT/v1" \
    --model-name "$NAME" --aha "$AHA" --gguf "$MODELS/$MODEL" --out "$OUT" \
    --limit "$LIMIT" -n "$N" --max-tokens "$MAX_TOKENS" --concurrency "$CONCURRENCY" --slots "$SLOTS" | tee "$OUT/checks.txt"
rc=${PIPESTATUS[0]}
set -e
log "results in $OUT (checks.txt, result.json, probe-*/)"
exit "$rc"
