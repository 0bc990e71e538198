#!/usr/bin/env bash
# Throughput and accuracy of `aha verify` against HF math-verify 0.9.0 on the same pair lists,
# in one run (alternating rounds). Needs network access to PyPI the first time (the venv is cached
# in ~/.cache/aha/venv-mathverify) and the repo's data/ (or AHA_SHARED_DATA) for the MATH500 list.
#
# Default mode (the RL-reward defaults) on the golden set and the MATH500 set, then lenient mode
# (`aha verify --lenient`, for evaluating instruct models) on the lenient golden cases and MATH500
# solutions without their box. math-verify runs with its defaults in both (its extraction is
# already lenient). Each block prints the throughput ratio and the wrong-verdict counts of both.
#
#   bench/verify/run.sh            # 2 rounds each
#   ROUNDS=3 bench/verify/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
HERE="$ROOT/bench/verify"
DATA=${AHA_SHARED_DATA:-$ROOT/data}
VENV=${AHA_MATHVERIFY_VENV:-$HOME/.cache/aha/venv-mathverify}
ROUNDS=${ROUNDS:-2}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import math_verify' 2>/dev/null; then
  echo "== creating math-verify venv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet math-verify==0.9.0
fi
"$VENV/bin/python" -c 'import importlib.metadata as m; print("math-verify", m.version("math-verify"), "sympy", m.version("sympy"))'

echo "== building aha (release)"
cargo build --release -p aha --quiet
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
AHA="$TARGET_DIR/release/aha"

PAIRS=$(mktemp -d)
trap 'rm -rf "$PAIRS"' EXIT
python3 "$HERE/make_pairs.py" "$ROOT" "$DATA" "$PAIRS"

echo "== golden pairs"
python3 "$HERE/compare.py" "$PAIRS/golden.jsonl" "$AHA" "$VENV/bin/python" --rounds "$ROUNDS"
if [ -s "$PAIRS/math500.jsonl" ]; then
  echo
  echo "== MATH500 pairs"
  python3 "$HERE/compare.py" "$PAIRS/math500.jsonl" "$AHA" "$VENV/bin/python" --rounds "$ROUNDS"
fi
if [ -s "$PAIRS/lenient.jsonl" ]; then
  echo
  echo "== lenient: golden lenient cases + MATH500 unboxed solutions (aha verify --lenient)"
  python3 "$HERE/compare.py" "$PAIRS/lenient.jsonl" "$AHA" "$VENV/bin/python" --rounds "$ROUNDS" --aha-flag=--lenient
fi
