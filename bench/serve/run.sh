#!/usr/bin/env bash
# Load test of `aha serve-reward` on loopback, against the peer users run today (FastAPI +
# uvicorn + math-verify, bench/serve/peer_mathverify.py), same requests, same run.
#
# Prints requests/s, samples/s and p50/p90/p99 latency for single-sample requests (what
# OpenRLHF >= 0.9.1 sends) and 64-sample batches; appends JSON lines to bench/out/serve/results.jsonl.
# Bounded in time: each measurement runs DURATION seconds (default 10) after a 1 s warm-up.
#
#   bench/serve/run.sh              # aha and the peer
#   PEER=0 bench/serve/run.sh       # aha only (no Python needed)
#
# The machine is shared: compare aha and the peer from the same run, not across runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
PEER=${PEER:-1}
OUT=bench/out/serve
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)

echo "== building (release)"
cargo build --release -p aha --bin aha
cargo build --release -p aha-reward-server --example loadgen
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
AHA="$TARGET_DIR/release/aha"
LOADGEN="$TARGET_DIR/release/examples/loadgen"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() { # URL
  for _ in $(seq 1 200); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]+'/healthz', timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2; return 1
}

run_load() { # LABEL URL
  "$LOADGEN" --run-id "$RUN_ID" --label "$1" --url "$2" --batch 1 --connections 32 --duration-s "$DURATION" --out "$RESULTS"
  "$LOADGEN" --run-id "$RUN_ID" --label "$1" --url "$2" --batch 64 --connections 8 --duration-s "$DURATION" --out "$RESULTS"
}

echo "== aha serve-reward (2 workers)"
"$AHA" serve-reward --addr 127.0.0.1:0 --workers 2 > "$OUT/aha.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^listening on ' "$OUT/aha.log" && break; sleep 0.1; done
AHA_URL=$(sed -n 's/^listening on //p' "$OUT/aha.log")
wait_for "$AHA_URL"
run_load aha "$AHA_URL"

if [ "$PEER" = "1" ]; then
  VENV=.venv-serve-bench
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV (math-verify 0.9.0, fastapi 0.165.0, uvicorn 0.54.0)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q math-verify==0.9.0 fastapi==0.165.0 uvicorn==0.54.0
  fi
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "== peer: FastAPI + uvicorn + math-verify (1 process)"
  "$VENV/bin/python" bench/serve/peer_mathverify.py "$PORT" > "$OUT/peer.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$PORT"
  run_load peer "http://127.0.0.1:$PORT"
fi

if [ "$PEER" = "1" ]; then
  echo "== aha / peer (run $RUN_ID)"
  python3 - "$RESULTS" "$RUN_ID" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = {(r["label"], r["batch"]): r for r in rows if r.get("run_id") == sys.argv[2]}
for batch in (1, 64):
    a, p = rows.get(("aha", batch)), rows.get(("peer", batch))
    if a and p:
        print(f"batch={batch:<3} samples/s x{a['samples_per_s'] / p['samples_per_s']:.0f}   "
              f"p99 {a['p99_ms']:.2f} ms vs {p['p99_ms']:.2f} ms")
PY
fi

echo "== graceful stop (SIGTERM)"
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" && echo "aha stopped cleanly"
