#!/usr/bin/env bash
# Contract checks against the real RL engines: installs pinned TRL, verl, OpenRLHF and oat from
# PyPI, each into its own cached venv (their pins conflict: verl wants transformers < 5.11,
# OpenRLHF == 5.15, oat == 4.51 on Python < 3.11), installs the aha wheel built from this tree, and
# drives aha through each engine's own code (scripts/engines/*.py). Not part of scripts/test.sh:
# it downloads ~4 GB once (torch from PyPI ships its CUDA libraries; a CPU runs it) and takes
# minutes. Results are recorded in docs/results/engines-check.md.
#
# Usage: scripts/engines-check.sh [quick] [trl] [verl] [openrlhf] [oat]    (default: all five)
#   quick: the torch-free part (OpenRLHF's argument parser on our example's flags, verl's Hydra
#   config on our reward keys; two engine wheels and hydra-core, ~10 s once cached). scripts/test.sh
#   runs it.
# Env: AHA_ENGINES_DIR (default ~/.cache/aha/engines), PYTHON311 / PYTHON310 (interpreters; oat
#      0.2.x requires Python < 3.11), CARGO_TARGET_DIR (default ~/.cache/aha/target),
#      AHA_WHEEL / AHA_BIN (a prebuilt aha wheel / aha binary instead of building them here).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# ---- pins ---------------------------------------------------------------------------------------
TRL_VERSION=1.16.0
VERL_VERSION=0.9.1
OPENRLHF_VERSION=0.11.2
OAT_VERSION=0.2.4
TORCH_VERSION=2.9.1          # one torch for all four venvs: uv hard-links it from its cache
UV_VERSION=0.13.9
MATURIN_VERSION=1.16.0       # as scripts/test-python.sh and python/pyproject.toml
# Anything not pinned below resolves as PyPI stood on this day, so a rerun installs the same set.
EXCLUDE_NEWER=2026-12-02

DIR="${AHA_ENGINES_DIR:-$HOME/.cache/aha/engines}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aha/target}"
# No engine code may reach a model hub or a tracker: everything the checks use is built locally.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled
export TOKENIZERS_PARALLELISM=false PYTHONDONTWRITEBYTECODE=1 CUDA_VISIBLE_DEVICES=""

find_python() { # $1 = minor version ("3.11"); prints an interpreter path or nothing
    local v=$1 c
    for c in "python$v" "$HOME/.pyenv/versions/$v"*/bin/python "/usr/bin/python$v" "/usr/local/bin/python$v"; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$v'.split('.'))))" 2>/dev/null; then
            command -v "$c"
            return
        fi
    done
}
PYTHON311="${PYTHON311:-$(find_python 3.11)}"
PYTHON310="${PYTHON310:-$(find_python 3.10)}"

ENGINES=("$@")
[ ${#ENGINES[@]} -eq 0 ] && ENGINES=(quick trl verl openrlhf oat)
NEED_AHA=0
for e in "${ENGINES[@]}"; do [ "$e" = quick ] || NEED_AHA=1; done

mkdir -p "$DIR"
UV="$DIR/uv-$UV_VERSION/bin/uv"
if [ ! -x "$UV" ]; then
    echo "== installing uv==$UV_VERSION into $DIR/uv-$UV_VERSION"
    "${PYTHON311:-python3}" -m venv "$DIR/uv-$UV_VERSION"
    "$DIR/uv-$UV_VERSION/bin/pip" install --quiet "uv==$UV_VERSION"
fi
export UV_SYSTEM_CERTS=1 UV_EXCLUDE_NEWER="$EXCLUDE_NEWER" UV_NO_PROGRESS=1

# ---- the aha wheel (abi3: one file for 3.10 and 3.11) and the aha binary ------------------------
# Built from this tree (AHA_WHEEL / AHA_BIN: use prebuilt ones instead).
if [ $NEED_AHA = 1 ] && [ -z "${AHA_WHEEL:-}" ]; then
    BUILD_VENV="${AHA_PY_VENV:-$HOME/.cache/aha/venv-python}"
    if [ ! -x "$BUILD_VENV/bin/maturin" ] ||
        [ "$("$BUILD_VENV/bin/maturin" --version | awk '{print $2}')" != "$MATURIN_VERSION" ]; then
        [ -x "$BUILD_VENV/bin/python" ] || "${PYTHON311:-python3}" -m venv "$BUILD_VENV"
        "$BUILD_VENV/bin/python" -m pip install --quiet "maturin==$MATURIN_VERSION"
    fi
    rm -rf "$DIR/wheel"
    echo "== building the aha wheel (maturin $MATURIN_VERSION, release)"
    "$BUILD_VENV/bin/maturin" build --quiet --release -m python/Cargo.toml -o "$DIR/wheel"
    AHA_WHEEL=$(ls "$DIR"/wheel/*.whl)
fi
if [ $NEED_AHA = 1 ] && [ -z "${AHA_BIN:-}" ]; then
    echo "== building the aha binary (for aha serve-reward)"
    cargo build --quiet --release --bin aha
    AHA_BIN="$CARGO_TARGET_DIR/release/aha"
fi
WHEEL=${AHA_WHEEL:-}
export AHA_BIN="${AHA_BIN:-}" AHA_ROOT="$ROOT"
[ $NEED_AHA = 0 ] || echo "== aha wheel $WHEEL, binary $AHA_BIN"

# ---- one venv per engine ------------------------------------------------------------------------
# venv NAME PYTHON -- requirements... [-- no-deps requirements...]
# Recreates the venv when its requirement list changes (a stamp file holds it).
venv() {
    local name=$1 py=$2
    shift 2
    local path="$DIR/$name" stamp
    stamp="$*|$EXCLUDE_NEWER|$TORCH_VERSION"
    if [ ! -f "$path/.aha-stamp" ] || [ "$(cat "$path/.aha-stamp")" != "$stamp" ]; then
        [ -n "$py" ] || { echo "error: no interpreter for $name" >&2; return 1; }
        echo "== creating $path"
        rm -rf "$path"
        "$UV" venv --quiet --python "$py" "$path"
        local deps=() nodeps=() into=deps a
        for a in "$@"; do
            if [ "$a" = "--" ]; then into=nodeps; continue; fi
            if [ $into = deps ]; then deps+=("$a"); else nodeps+=("$a"); fi
        done
        "$UV" pip install --quiet --python "$path/bin/python" "${deps[@]}"
        if [ ${#nodeps[@]} -gt 0 ]; then
            "$UV" pip install --quiet --python "$path/bin/python" --no-deps "${nodeps[@]}"
        fi
        echo "$stamp" >"$path/.aha-stamp"
    fi
    if [ -n "$WHEEL" ]; then
        # Before it was `aha-rl` the distribution was called `aha`: drop such an install first.
        if "$path/bin/python" -c "import importlib.metadata as m; m.version('aha')" 2>/dev/null; then
            "$UV" pip uninstall --quiet --python "$path/bin/python" aha
        fi
        "$UV" pip install --quiet --python "$path/bin/python" --reinstall --no-deps "$WHEEL"
    fi
}

declare -A RESULT SECONDS_TAKEN
run_engine() {
    local engine=$1 py=$2 start rc
    start=$(date +%s)
    echo "== $engine: scripts/engines/${engine}_check.py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
    set +e
    "$py" "scripts/engines/${engine}_check.py"
    rc=$?
    set -e
    SECONDS_TAKEN[$engine]=$(($(date +%s) - start))
    if [ $rc -eq 0 ]; then RESULT[$engine]=pass; else RESULT[$engine]="FAIL (exit $rc)"; fi
}

for engine in "${ENGINES[@]}"; do
    case $engine in
    quick)
        # No torch, no aha wheel: the engines' own parser/config code only.
        WHEEL_SAVED=$WHEEL
        WHEEL=""
        venv "quick-openrlhf-$OPENRLHF_VERSION-verl-$VERL_VERSION" "$PYTHON311" \
            "hydra-core==1.3.8" "omegaconf==2.3.1" -- "openrlhf==$OPENRLHF_VERSION" "verl==$VERL_VERSION"
        WHEEL=$WHEEL_SAVED
        run_engine quick "$DIR/quick-openrlhf-$OPENRLHF_VERSION-verl-$VERL_VERSION/bin/python"
        ;;
    trl)
        # TRL's full dependency set installs from PyPI as is.
        venv "trl-$TRL_VERSION" "$PYTHON311" "trl==$TRL_VERSION" "torch==$TORCH_VERSION" \
            "transformers==5.15.0"
        run_engine trl "$DIR/trl-$TRL_VERSION/bin/python"
        ;;
    verl)
        # verl's core requirements install as they are (its GPU extras are not needed for reward
        # managers, DataProto and the Hydra config).
        venv "verl-$VERL_VERSION" "$PYTHON311" "verl==$VERL_VERSION" "torch==$TORCH_VERSION" \
            "transformers==5.10.4"
        run_engine verl "$DIR/verl-$VERL_VERSION/bin/python"
        ;;
    openrlhf)
        # OpenRLHF requires flash-attn and deepspeed, which build only against CUDA: the package
        # goes in without its dependencies, plus those of the code driven here (the agent
        # executor, the argument parser, openrlhf.utils), at OpenRLHF's own pins.
        venv "openrlhf-$OPENRLHF_VERSION" "$PYTHON311" "torch==$TORCH_VERSION" \
            "transformers==5.15.0" aiohttp datasets sympy pylatexenc -- "openrlhf==$OPENRLHF_VERSION"
        run_engine openrlhf "$DIR/openrlhf-$OPENRLHF_VERSION/bin/python"
        ;;
    oat)
        # oat-llm pins vllm 0.8.4 and flash-attn (CUDA builds): the package goes in without its
        # dependencies, plus those its oracle modules import, at oat's pins where it has them.
        venv "oat-$OAT_VERSION" "$PYTHON310" "torch==$TORCH_VERSION" "numpy==1.26.4" \
            "pylatexenc==2.10" "math-verify[antlr4_13_2]" dm-tree httpx msgspec openai scipy \
            regex sympy -- "oat-llm==$OAT_VERSION"
        run_engine oat "$DIR/oat-$OAT_VERSION/bin/python"
        ;;
    *)
        echo "error: unknown engine $engine (quick, trl, verl, openrlhf, oat)" >&2
        exit 2
        ;;
    esac
done

echo "== summary"
failed=0
for engine in "${ENGINES[@]}"; do
    printf '%-9s %-14s %ss\n' "$engine" "${RESULT[$engine]}" "${SECONDS_TAKEN[$engine]}"
    [ "${RESULT[$engine]}" = pass ] || failed=1
done
exit $failed
