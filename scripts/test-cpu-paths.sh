#!/usr/bin/env bash
# Runs aha-model's kernel tests on emulated CPUs without AVX-512 (and without any SIMD beyond
# SSE2), so a machine with AVX-512 still shows that the suite holds on the CPUs users have.
# Called by scripts/test.sh; also runnable on its own.
#
#   scripts/test-cpu-paths.sh            # every CPU model in $CPUS
#
# How: `qemu-x86_64` (Debian's qemu-user, installed here when missing) runs the unit-test binary
# of aha-model with the CPUID of another processor, so `is_x86_feature_detected!` sees that
# CPU's features and `CpuKernels::Auto` picks what it would pick there:
#   EPYC-Rome  AVX2 + FMA + F16C, no AVX-512, no AVX-VNNI -> the avx2 path
#   Nehalem    SSE4.2 only                                -> the portable path
# The test binary checks every path the emulated CPU supports against the portable kernel bit for
# bit, and that paths it lacks are refused; a tiny model run with fixed-order f32 products must
# give the host's digest (the demo's reproducibility across CPUs). `attention::` checks the fused training attention
# and candle's f32 matmul: both run the `gemm` crate, built with its AVX-512 kernels (`x86-v4`)
# and choosing them at run time, so these CPUs must get its AVX2 and scalar kernels instead.
# (The real-model tests are too slow under emulation
# for CI; docs/cpu-kernels.md says how the packed paths are kept bit-identical.)
set -euo pipefail
cd "$(dirname "$0")/.."

CPUS="${CPUS:-EPYC-Rome Nehalem}"
# CPUs (with AVX2 and FMA) whose fixed-order f32 digest must equal the host's.
FIXED_ORDER_CPUS="${FIXED_ORDER_CPUS:-EPYC-Rome}"

if ! command -v qemu-x86_64 >/dev/null; then
    echo "== installing qemu-user (Debian's package) for CPU emulation"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null
    else
        echo "error: qemu-x86_64 not found; install Debian's qemu-user" >&2
        exit 1
    fi
fi

# The unit-test binary of aha-model, built the way `cargo test` builds it.
bin="$(cargo test -p aha-model --lib --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "aha_model" \
            and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])
')"
[ -x "$bin" ] || { echo "error: no aha-model test binary found" >&2; exit 1; }

# The fixed-order f32 path (LoadOptions::fixed_order_f32, which the demo uses) must give the same
# bits on every CPU: a tiny model's logits, log-probabilities, gradients and sampled tokens,
# hashed by one test, must hash the same on the host and on each emulated CPU.
digest() {
    local out
    out="$("$@" fixed_matmul::tests::tiny_model_digest --exact --nocapture 2>&1 |
        grep -v "TCG doesn't support requested feature")" || true
    # The test's output goes to the log; not through `tee /dev/stderr`, which truncates a log
    # file that stderr is redirected to.
    echo "$out" >&2
    grep -o 'fixed-order digest: [0-9a-f]*' <<<"$out" || true
}
host_digest="$(digest "$bin")"
[ -n "$host_digest" ] || { echo "error: no fixed-order digest on the host" >&2; exit 1; }

for cpu in $CPUS; do
    echo "== aha-model kernel tests on an emulated $cpu"
    # qemu warns about every host feature TCG cannot emulate; those lines are noise here.
    qemu-x86_64 -cpu "$cpu" "$bin" cpu:: qgemm:: decode_attn:: fastmath:: sampling:: attention:: fixed_matmul:: 2>&1 |
        grep -v "TCG doesn't support requested feature"
    # grep's status would hide the test binary's: take the first command's.
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "error: kernel tests failed on $cpu" >&2; exit 1; }
done

# Same bits are promised on CPUs with AVX2 and FMA (every x86-64 CPU since 2013-2015, and every
# machine of this project): CPUs without them run plain fallbacks of the decode attention and the
# sampler, and an f32 KV cache without F16C, which agree within float tolerance only
# (docs/cpu-kernels.md).
for cpu in $FIXED_ORDER_CPUS; do
    echo "== fixed-order f32 digest on an emulated $cpu (must equal the host's: $host_digest)"
    cpu_digest="$(digest qemu-x86_64 -cpu "$cpu" "$bin")"
    [ "$cpu_digest" = "$host_digest" ] || {
        echo "error: $cpu gave '${cpu_digest:-no digest}', the host '$host_digest'" >&2
        exit 1
    }
done
