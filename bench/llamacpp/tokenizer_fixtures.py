#!/usr/bin/env python3
"""Reference token ids from llama.cpp's `llama-tokenize`, for aha-tokenizer's exact-id tests.

    bench/llamacpp/build.sh && scripts/fetch-models.sh
    python3 bench/llamacpp/tokenizer_fixtures.py

Reads the test strings from crates/tokenizer/tests/fixtures/strings.json and writes one JSONL
file per model next to it (`<model>.ids.jsonl`): per string the ids with special-token parsing
(llama-tokenize's default) and without (`--no-parse-special`), never adding BOS. Text goes in
through stdin with `--no-escape`, so the bytes are exactly the string's UTF-8.

It also writes `<model>.corpus.jsonl`: for every row of shared data sets (MATH-500 problem +
solution, GSM8K question + answer), the id count and the first 16 hex digits of the sha256 of the ids (little-endian u32),
so the Rust test can check ~300k ids per model without committing them. The rows are tokenized
in one llama-tokenize call, joined by an end-of-turn control token, which splits the text into
independent fragments exactly as between two calls.
"""

import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates/tokenizer/tests/fixtures"
LLAMACPP = Path(os.environ.get("AHA_LLAMACPP_DIR", Path.home() / ".cache/aha/llama.cpp"))
MODELS = Path(os.environ.get("AHA_MODELS_DIR", Path.home() / ".cache/aha/models"))
SHARED = Path(os.environ.get("AHA_SHARED_DATA", ROOT.parent / "shared/data"))
# model name -> (GGUF file, a control token that separates corpus rows)
TARGETS = {
    "smollm2": ("SmolLM2-135M-Instruct.Q4_1.gguf", "<|im_end|>"),
    "gemma3": ("gemma-3-270m-q4_k_m.gguf", "<end_of_turn>"),
}
# data set -> (file under shared/data, the two fields joined by a blank line)
CORPORA = {
    "math500": ("benchmarks/math500.jsonl", "problem", "solution"),
    "gsm8k": ("benchmarks/gsm8k.jsonl", "question", "answer"),
}


def corpus_rows():
    for name, (file, a, b) in CORPORA.items():
        with open(SHARED / file) as f:
            for i, line in enumerate(f):
                row = json.loads(line)
                yield name, i, row[a] + "\n\n" + row[b]


def ids_sha256(ids: list[int]) -> str:
    """First 16 hex digits of the sha256 of the ids as little-endian u32s (64 bits: plenty)."""
    return hashlib.sha256(struct.pack(f"<{len(ids)}I", *ids)).hexdigest()[:16]


def tokenize(binary: Path, model: Path, text: str, parse_special: bool) -> list[int]:
    cmd = [str(binary), "-m", str(model), "--stdin", "--no-escape", "--ids", "--no-bos", "--log-disable"]
    if not parse_special:
        cmd.append("--no-parse-special")
    res = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=False)
    if res.returncode != 0:
        sys.exit(f"llama-tokenize failed ({res.returncode}) on {text!r}: {res.stderr.decode(errors='replace')[-2000:]}")
    out = res.stdout.decode().strip().splitlines()
    # The id list is the last line: "[1, 2, 3]".
    return json.loads(out[-1]) if out else []


def main() -> None:
    binary = LLAMACPP / "bin/llama-tokenize"
    if not binary.exists():
        sys.exit(f"{binary} missing: run bench/llamacpp/build.sh")
    version_file = LLAMACPP / "bin/VERSION"
    commit = version_file.read_text().strip() if version_file.exists() else "unknown"
    strings = json.loads((FIXTURES / "strings.json").read_text())
    rows = list(corpus_rows())
    for name, (file, sep) in TARGETS.items():
        model = MODELS / file
        if not model.exists():
            sys.exit(f"{model} missing: run scripts/fetch-models.sh")
        out = FIXTURES / f"{name}.ids.jsonl"
        with open(out.with_suffix(".tmp"), "w") as f:
            for text in strings:
                row = {
                    "schema_version": 1,
                    "model": file,
                    "llama_cpp": commit,
                    "text": text,
                    "ids": tokenize(binary, model, text, True),
                    "ids_no_parse_special": tokenize(binary, model, text, False),
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(out.with_suffix(".tmp"), out)
        print(f"wrote {out} ({len(strings)} strings)")

        sep_ids = tokenize(binary, model, sep, True)
        assert len(sep_ids) == 1, f"{sep} is not one token in {file}"
        if any(sep in text for _, _, text in rows):
            sys.exit(f"a corpus row contains the separator {sep}")
        all_ids = tokenize(binary, model, sep.join(text for _, _, text in rows), True)
        parts, cur = [], []
        for t in all_ids:
            if t == sep_ids[0]:
                parts.append(cur)
                cur = []
            else:
                cur.append(t)
        parts.append(cur)
        assert len(parts) == len(rows), (len(parts), len(rows))
        out = FIXTURES / f"{name}.corpus.jsonl"
        with open(out.with_suffix(".tmp"), "w") as f:
            for (data, i, _), ids in zip(rows, parts):
                f.write(json.dumps({"schema_version": 1, "data": data, "row": i, "n_ids": len(ids), "sha256_16": ids_sha256(ids)}) + "\n")
        os.replace(out.with_suffix(".tmp"), out)
        print(f"wrote {out} ({len(rows)} rows, {len(all_ids) - len(rows) + 1} ids)")


if __name__ == "__main__":
    main()
