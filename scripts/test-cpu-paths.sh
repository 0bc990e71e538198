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
# bit, and that paths it lacks are refused. `attention::` checks the fused training attention
# and candle's f32 matmul: both run the `gemm` crate, built with its AVX-512 kernels (`x86-v4`)
# and choosing them at run time, so these CPUs must get its AVX2 and scalar kernels instead.
# (The real-model tests are too slow under emulation
# for CI; docs/cpu-kernels.md says how the packed paths are kept bit-identical.)
set -euo pipefail
cd "$(dirname "$0")/.."

CPUS="${CPUS:-EPYC-Rome Nehalem}"

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

for cpu in $CPUS; do
    echo "== aha-model kernel tests on an emulated $cpu"
    # qemu warns about every host feature TCG cannot emulate; those lines are noise here.
    qemu-x86_64 -cpu "$cpu" "$bin" cpu:: qgemm:: decode_attn:: fastmath:: sampling:: attention:: 2>&1 |
        grep -v "TCG doesn't support requested feature"
    # grep's status would hide the test binary's: take the first command's.
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "error: kernel tests failed on $cpu" >&2; exit 1; }
done
