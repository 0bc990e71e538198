#!/usr/bin/env bash
# Builds the Python wheel (python/, module `aha`) in a cached venv, installs it and runs its pytest
# suite. Called at the end of scripts/test.sh; also runnable on its own.
#
# Env: AHA_PY_VENV (default ~/.cache/aha/venv-python), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${AHA_PY_VENV:-$HOME/.cache/aha/venv-python}"
PYTHON="${PYTHON:-python3}"
# Pinned test tooling; maturin must match python/pyproject.toml's build-system requirement.
MATURIN_VERSION="1.16.0"
PYTEST_VERSION="9.2.0"
# numpy: the tests feed numpy values the way verl/TRL hand over parquet columns.
NUMPY_VERSION="2.4.6"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating venv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# maturin's PEP 517 hooks call the `maturin` executable: it must be on PATH.
export PATH="$VENV/bin:$PATH"
installed() { "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null; }
if ! installed maturin "$MATURIN_VERSION" || ! installed pytest "$PYTEST_VERSION" ||
    ! installed numpy "$NUMPY_VERSION"; then
    echo "== installing maturin==$MATURIN_VERSION pytest==$PYTEST_VERSION numpy==$NUMPY_VERSION"
    "$PY" -m pip install --quiet "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" \
        "numpy==$NUMPY_VERSION"
fi

echo "== building and installing the aha wheel (release build)"
# The distribution was called `aha` before it became `aha-rl`: drop a stale install of the old
# name from a cached venv (both own the package directory aha/).
if "$PY" -c "import importlib.metadata as m; m.version('aha')" 2>/dev/null; then
    "$PY" -m pip uninstall --quiet --yes aha
fi
# No build isolation: the venv already holds the pinned maturin, so no download per run.
"$PY" -m pip install --quiet --force-reinstall --no-deps --no-build-isolation ./python

echo "== pytest python/tests"
# Run from outside the source tree so `import aha` resolves to the installed wheel.
set +e
(cd python/tests && "$PY" -m pytest -q -p no:cacheprovider .)
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests (exit 5); the Python suite is missing" >&2
    exit 1
elif [ "$rc" -ne 0 ]; then
    echo "error: Python tests failed (pytest exit $rc)" >&2
    exit "$rc"
fi
echo "== Python tests passed"
