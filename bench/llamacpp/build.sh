#!/usr/bin/env bash
# Build llama.cpp, the reference peer for tokenizer ids and decode/prompt speed, from the source
# vendored in the llama-cpp-python sdist (PyPI is the only code registry reachable here, and no
# prebuilt llama.cpp runs on Debian 12: the PyPI wheels need glibc 2.38).
#
#   bench/llamacpp/build.sh               # -> ${AHA_LLAMACPP_DIR:-$HOME/.cache/aha/llama.cpp}/bin/llama-*
#   bench/llamacpp/build.sh llama-server  # also the OpenAI-compatible server (bench/llama-server/)
#   LLAMA_CPU=avx2 bench/llamacpp/build.sh   # -> ${AHA_LLAMACPP_DIR:-$HOME/.cache/aha/llama.cpp-avx2}
#
# LLAMA_CPU=native (default) compiles for this CPU (GGML_NATIVE=ON: AVX-512 where present);
# LLAMA_CPU=avx2 compiles ggml's generic x86-64 set (GGML_NATIVE=OFF: SSE4.2, AVX, AVX2, FMA, F16C,
# BMI2, no AVX-512), the build an AVX2-only laptop or VM runs, so that aha's AVX2 path can be
# compared with llama.cpp's AVX2 code on a machine that has AVX-512 too (bench/model/run.sh).
#
# Needs cmake and a C++ compiler (`apt-get install -y cmake build-essential`). Takes ~4 min on
# 2 cores. Idempotent: does nothing when every binary is already there. Prints the binary paths.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
LLAMA_CPU="${LLAMA_CPU:-native}"
case "$LLAMA_CPU" in
    native) NATIVE=ON; DIR="${AHA_LLAMACPP_DIR:-$HOME/.cache/aha/llama.cpp}" ;;
    avx2) NATIVE=OFF; DIR="${AHA_LLAMACPP_DIR:-$HOME/.cache/aha/llama.cpp-avx2}" ;;
    *) echo "llamacpp-build: error: LLAMA_CPU must be native or avx2, not $LLAMA_CPU" >&2; exit 1 ;;
esac
JOBS="${JOBS:-2}"
PIP="${PIP:-pip}"
# llama-cli is left out: in this llama.cpp it is built on the server (LLAMA_BUILD_SERVER, web UI
# included); llama-completion is the classic prompt -> completion CLI with the same timings.
# Extra targets come as arguments (`llama-server`: built without its web UI, see below; ~4 more
# minutes on 2 cores once the libraries exist).
TARGETS=(llama-tokenize llama-bench llama-completion "$@")

log() { echo "llamacpp-build: $*" >&2; }
die() { log "error: $*"; exit 1; }

all_built() {
    local t
    for t in "${TARGETS[@]}"; do [ -x "$DIR/bin/$t" ] || return 1; done
}

if all_built; then
    log "already built in $DIR/bin"
else
    command -v cmake >/dev/null || die "cmake not found (apt-get install -y cmake)"
    mkdir -p "$DIR/sdist"
    sdist="$(ls "$DIR"/sdist/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || true)"
    if [ -z "$sdist" ]; then
        log "downloading llama-cpp-python==$VERSION sdist"
        "$PIP" download --no-deps --no-binary :all: --quiet -d "$DIR/sdist" "llama-cpp-python==$VERSION" >&2 \
            || die "pip download llama-cpp-python==$VERSION failed"
        sdist="$(ls "$DIR"/sdist/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || true)"
        [ -n "$sdist" ] || die "no sdist llama_cpp_python-$VERSION.tar.gz downloaded"
    fi
    src="$DIR/src"
    if [ ! -f "$src/CMakeLists.txt" ]; then
        log "unpacking vendored llama.cpp from $sdist"
        rm -rf "$src.tmp" && mkdir -p "$src.tmp"
        tar -xzf "$sdist" -C "$src.tmp" --strip-components=3 "llama_cpp_python-$VERSION/vendor/llama.cpp"
        rm -rf "$src" && mv "$src.tmp" "$src"
    fi
    server=OFF
    case " ${TARGETS[*]} " in *" llama-server "*) server=ON ;; esac
    # The server's web UI is neither built (npm) nor fetched (its prebuilt assets come from the
    # Hugging Face hub): the binary then embeds no assets, and the HTTP API is unchanged.
    log "configuring (cmake, Release, GGML_NATIVE=$NATIVE, LLAMA_BUILD_SERVER=$server)"
    cmake -S "$src" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE="$NATIVE" \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER="$server" -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
        -DBUILD_SHARED_LIBS=OFF >&2
    log "building ${TARGETS[*]} with $JOBS jobs"
    cmake --build "$DIR/build" --config Release -j "$JOBS" --target "${TARGETS[@]}" >&2
    mkdir -p "$DIR/bin"
    for t in "${TARGETS[@]}"; do
        [ -x "$DIR/build/bin/$t" ] || die "build produced no $DIR/build/bin/$t"
        cp "$DIR/build/bin/$t" "$DIR/bin/$t.tmp" && mv "$DIR/bin/$t.tmp" "$DIR/bin/$t"
    done
    # Record which llama.cpp this is, for benchmark reports: the sdist carries no git metadata
    # (the binaries say "commit unknown"), but its CHANGELOG names the llama.cpp commit.
    commit="$(tar -xzf "$sdist" -O "llama_cpp_python-$VERSION/CHANGELOG.md" 2>/dev/null |
        awk -v v="## [$VERSION]" '$0 == v {f = 1; next} /^## / {f = 0}
            f && /llama\.cpp@/ {sub(/.*llama\.cpp@/, ""); print; exit}' || true)"
    echo "llama.cpp ${commit:+ggml-org/llama.cpp@$commit }vendored in llama-cpp-python==$VERSION" > "$DIR/bin/VERSION"
fi
for t in "${TARGETS[@]}"; do echo "$DIR/bin/$t"; done
