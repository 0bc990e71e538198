#!/usr/bin/env bash
# Build (once, cached) the Python venv that runs TRL's GRPOTrainer on CPU for bench/train/run.sh.
#
#   bench/train/setup-venv.sh        # into ${AHA_TRL_VENV:-$HOME/.cache/aha/venv-trl}
#
# Every Linux x86_64 torch wheel on PyPI is a CUDA build: it runs on CPU but only imports with the
# NVIDIA runtime wheels present, so those are installed too (the versions torch 2.15.0's own
# metadata pins). triton and cuda-bindings are left out: not needed on CPU. The
# Hugging Face packages are installed with --no-deps so pip never re-resolves torch's CUDA pins.
# A `.complete` stamp makes reruns free.
set -euo pipefail

VENV="${AHA_TRL_VENV:-$HOME/.cache/aha/venv-trl}"
WHEELS="${AHA_TRL_WHEELS:-$HOME/.cache/aha/wheels-trl}"
PY="${PYTHON:-python3}"
log() { echo "setup-venv: $*" >&2; }

if [ -f "$VENV/.complete" ]; then
    exit 0
fi
mkdir -p "$WHEELS"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/pip" --disable-pip-version-check --quiet)

if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    if ! ls "$WHEELS"/torch-2.15.0-*.whl >/dev/null 2>&1; then
        log "downloading torch 2.15.0 (large)"
        "${PIP[@]}" download torch==2.15.0 --no-deps --only-binary :all: -d "$WHEELS"
    fi
    log "installing torch 2.15.0 and the NVIDIA runtime wheels it imports"
    "${PIP[@]}" install --no-deps "$WHEELS"/torch-2.15.0-*.whl
    "${PIP[@]}" install filelock 'typing-extensions>=4.13.0' 'setuptools>=77.0.3' 'sympy>=1.13.3' \
        'networkx>=2.5.1' jinja2 'fsspec>=0.8.5' numpy
    "${PIP[@]}" install \
        'cuda-toolkit[cublas,cudart,cufft,cufile,cupti,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.2.2' \
        nvidia-cudnn-cu13==9.26.0.51 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 \
        nvidia-nvshmem-cu13==3.7.2
fi

log "installing trl 1.16.0, transformers 5.24.0, accelerate 1.15.0, datasets 5.2.0"
"${PIP[@]}" install --no-deps trl==1.16.0 transformers==5.24.0 accelerate==1.15.0 datasets==5.2.0
# Their own requirements, minus torch (installed above).
"${PIP[@]}" install 'huggingface-hub' safetensors tokenizers regex pyyaml packaging tqdm psutil \
    pyarrow pandas dill xxhash multiprocess requests httpx typer
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import torch, transformers, trl, accelerate, datasets  # noqa: F401
print("torch", torch.__version__, "transformers", transformers.__version__, "trl", trl.__version__)
PY
touch "$VENV/.complete"
