#!/usr/bin/env bash
# Coverage-guided fuzzing of aha's input boundaries (fuzz/, cargo-fuzz + libFuzzer).
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   scripts/fuzz.sh TARGET [SECS]   # one target (`all` for every target)
#   scripts/fuzz.sh --list
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); the tokenizer targets
# need the test GGUFs (scripts/fetch-models.sh, or AHA_MODELS_DIR). Seed corpora are built from
# the golden files each run; corpora, crashes and the build live under ~/.cache/aha/fuzz (and
# ~/.cache/aha/fuzz-target), outside the tree. A crash is saved there as
# artifacts/TARGET/crash-*; reproduce it with `scripts/fuzz.sh repro TARGET FILE`.
#
# Environment: AHA_FUZZ_DIR (default ~/.cache/aha/fuzz), AHA_FUZZ_JOBS (parallel jobs per
# target, default 1), AHA_FUZZ_RSS_MB (default 2048), AHA_FUZZ_TIMEOUT_S (per input, default 10).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
work="${AHA_FUZZ_DIR:-$HOME/.cache/aha/fuzz}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_FUZZ:-$HOME/.cache/aha/fuzz-target}"
export AHA_FUZZ_SCRATCH="$work/scratch"
mkdir -p "$work/scratch"

targets=(grade_math gold_json countdown r1_format reflect tokenizer_bpe tokenizer_spm data_load
         gguf_header reward_wire report_load)

if [[ "${1:-}" == "--list" ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 1; }

build() { cargo +nightly fuzz build -s none "$@" >&2; }

# seed TARGET DIR: writes the seed inputs of TARGET into DIR.
seed() {
  python3 - "$1" "$2" "$root" <<'PY'
import glob, hashlib, json, os, sys
target, out, root = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
def put(data):
    if isinstance(data, str):
        data = data.encode()
    open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb").write(data)
def golden():
    for path in sorted(glob.glob(f"{root}/crates/verify/tests/golden/*.jsonl")):
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if line:
                yield json.loads(line)
def s(x):
    return x if isinstance(x, str) else json.dumps(x)
if target == "grade_math":
    for case in golden():
        pred, gold = case.get("pred") or case.get("response") or case.get("text"), case.get("gold")
        if pred is not None and gold is not None:
            put(b"\x00\x00\x05\xff\x00" + (s(pred) + "\0" + s(gold)).encode())
elif target == "gold_json":
    for case in golden():
        if "gold" in case:
            put(json.dumps(case["gold"]))
    put('{"target": 24, "numbers": [3, 8]}'); put('["2", -2]'); put('"{\\"target\\": 5, \\"nums\\": [2, 3]}"')
elif target == "countdown":
    for resp in ["<answer>3*8</answer>", "<think>x</think>\n<answer>(8-3)*3+9</answer>", "<answer>2 ** 3 // 1</answer>"]:
        for mode in (0, 1):
            put(bytes([mode]) + ("24,3,8,9\0" + resp).encode())
elif target in ("r1_format", "reflect", "tokenizer_bpe", "tokenizer_spm"):
    texts = ["<think>Wait, let me check. 6*7=42.</think><answer>42</answer>",
             "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<start_of_turn>model\nHmm, re-evaluate.<end_of_turn>"]
    for case in golden():
        for k in ("pred", "response", "text"):
            if isinstance(case.get(k), str):
                texts.append(case[k])
    for i, t in enumerate(texts[:400]):
        put((bytes([i % 16]) if target == "reflect" else b"") + t.encode() + (b"\0" + s(case.get("gold", "")).encode() if target == "reflect" else b""))
elif target == "data_load":
    pick = {".json": 0, ".jsonl": 1, ".parquet": 2, ".arrow": 3}
    for path in glob.glob(f"{root}/crates/data/tests/fixtures/**/*", recursive=True):
        ext = os.path.splitext(path)[1]
        if ext in pick and os.path.getsize(path) < 64 * 1024:
            put(bytes([pick[ext]]) + open(path, "rb").read())
elif target == "reward_wire":
    for line in open(f"{root}/crates/reward-server/tests/golden/requests.jsonl", encoding="utf-8"):
        case = json.loads(line)
        body = json.dumps(case["body"]).encode()
        put(bytes([{"/get_reward": 0, "/": 0, "/v1/verify": 1, "/get_feedback": 2}.get(case["path"], 0)]) + body)
elif target == "report_load":
    for layout, names, d in ((0, ["summary.json", "graded.jsonl", "responses.jsonl", "config.json"], "probe"),
                             (1, ["metrics.jsonl", "samples.jsonl", "config.json", "summary.json"], "grpo")):
        parts = []
        for n in names:
            p = f"{root}/crates/report/tests/fixtures/{d}/{n}"
            parts.append(open(p, encoding="utf-8").read()[:8192] if os.path.exists(p) else "")
        put(bytes([layout]) + "\n--8<--\n".join(parts).encode())
elif target == "gguf_header":
    # The first 64 KiB of the test models: the header and the start of the metadata.
    for name in ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"):
        p = os.path.join(os.environ.get("AHA_MODELS_DIR", os.path.expanduser("~/.cache/aha/models")), name)
        if os.path.exists(p):
            put(open(p, "rb").read(65536))
    put(b"GGUF\x03\x00\x00\x00" + b"\x00" * 16)
PY
}

run() {
  local t="$1" secs="$2" corpus="$work/corpus/$1" art="$work/artifacts/$1"
  mkdir -p "$corpus" "$art"
  seed "$t" "$corpus"
  local extra=()
  # -jobs sends libFuzzer's output to fuzz-N.log files: only when asked for.
  if [[ "${AHA_FUZZ_JOBS:-1}" -gt 1 ]]; then
    extra+=("-jobs=$AHA_FUZZ_JOBS" "-workers=$AHA_FUZZ_JOBS")
  fi
  echo "== $t: ${secs}s, corpus $(ls "$corpus" | wc -l) inputs" >&2
  nice -n 10 cargo +nightly fuzz run -s none "$t" "$corpus" -- \
    -max_total_time="$secs" -timeout="${AHA_FUZZ_TIMEOUT_S:-10}" \
    -rss_limit_mb="${AHA_FUZZ_RSS_MB:-2048}" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art/" ${extra[@]+"${extra[@]}"} 2>&1 | tee "$work/$t.log" | grep -E "^(#[0-9]+[[:space:]]+DONE|stat::|==|SUMMARY|Done|.*(panicked|deadly signal|timeout|out-of-memory))" || true
  if ls "$art" | grep -q .; then echo "!! $t: artifacts in $art" >&2; return 1; fi
}

if [[ "${1:-}" == "repro" ]]; then
  build "$2"
  exec cargo +nightly fuzz run -s none "$2" "$3"
fi

target="${1:-all}"
secs="${2:-60}"
build
status=0
if [[ "$target" == all ]]; then
  for t in "${targets[@]}"; do run "$t" "$secs" || status=1; done
else
  run "$target" "$secs" || status=1
fi
exit $status
