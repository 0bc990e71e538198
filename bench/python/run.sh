#!/usr/bin/env bash
# aha.verify_batch vs math-verify 0.9.0 on the same pairs, in one Python process (bench.py).
# Builds/installs the wheel into the cached venv used by scripts/test-python.sh, adds math-verify.
# Usage: bench/python/run.sh [--rounds N] [--repeat-tricky N]
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${AHA_PY_VENV:-$HOME/.cache/aha/venv-python}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('maturin') != '1.16.0')" 2>/dev/null ||
    "$PY" -m pip install --quiet "maturin==1.16.0"
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('math-verify') != '0.9.0')" 2>/dev/null ||
    "$PY" -m pip install --quiet "math-verify==0.9.0"
"$PY" -m pip install --quiet --force-reinstall --no-deps --no-build-isolation ./python
exec "$PY" bench/python/bench.py "$@"
