#!/usr/bin/env bash
# The project's one test command (see README). `.ci/run` calls exactly this script.
# Runs: formatting check, clippy with warnings denied, every test (unit, integration, doc tests),
# the kernel tests on emulated CPUs without AVX-512, and the doc build. Model files the tests
# need are fetched into a cache by scripts/fetch-models.sh.
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

echo "== Python wheel: build in a venv, install, pytest"
./scripts/test-python.sh
echo "== RL engines, torch-free part (scripts/engines-check.sh quick: OpenRLHF parser, verl config)" && ./scripts/engines-check.sh quick
