#!/usr/bin/env bash
# The project's one test command (see README). `.ci/run` calls exactly this script.
# Runs: formatting check, clippy with warnings denied, every test (unit, integration, doc tests),
# the kernel tests on emulated CPUs without AVX-512, the doc build, and a short run of every fuzz
# target. Model files the tests need are fetched into a cache by scripts/fetch-models.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== models (scripts/fetch-models.sh; cached, verified by sha256)"
./scripts/fetch-models.sh
# Model tests fail instead of skipping when a model file is missing.
export AHA_REQUIRE_MODELS=1

echo "== chromium (scripts/install-chromium.sh; Debian's package, for the report's browser test)"
./scripts/install-chromium.sh
# The report's screenshot test fails instead of skipping when no browser is found.
export AHA_REQUIRE_CHROMIUM=1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (unit, integration and doc tests)"
cargo test --workspace

echo "== CPU paths without AVX-512 (scripts/test-cpu-paths.sh; kernel tests on emulated CPUs)"
./scripts/test-cpu-paths.sh

echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet

echo "== fuzzing smoke run (scripts/fuzz.sh all 30: every fuzz target 30 s; any crash, timeout or OOM fails)"
# cargo-fuzz at a pinned version, and the nightly toolchain libFuzzer builds need.
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]]; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
# A fresh corpus and artifact directory of its own, so it never mixes with a long campaign's
# (~/.cache/aha/fuzz); the fuzz build itself is cached in ~/.cache/aha/fuzz-target.
fuzz_dir="$(mktemp -d "${TMPDIR:-/tmp}/aha-fuzz-ci.XXXXXX")"
AHA_FUZZ_DIR="$fuzz_dir" ./scripts/fuzz.sh all "${AHA_CI_FUZZ_SECONDS:-30}"
rm -rf "$fuzz_dir"

echo "== Python wheel: build in a venv, install, pytest"
./scripts/test-python.sh
echo "== RL engines, torch-free part (scripts/engines-check.sh quick: OpenRLHF parser, verl config)" && ./scripts/engines-check.sh quick
