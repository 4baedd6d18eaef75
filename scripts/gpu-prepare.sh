#!/usr/bin/env bash
# Builds the GPU check's programs HERE (nvcc compiles without a GPU) and packs them, with the
# non-CUDA shared libraries they need, into .gpu/bundle.tar.xz for a device machine that has
# the CUDA runtime but no apt (the lent GPU machines here). scripts/gpu-check.sh unpacks it
# when present instead of installing and building there:
#
#   scripts/gpu-prepare.sh [ARCH]      # ARCH defaults to 90 (H100/H200)
#   run(command="scripts/gpu-check.sh", carry=[".gpu"], timeout_s=420)
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-90}
# TINYXF_GPU_BUILD_DIR reuses an existing CUDA-enabled build (one whose CMAKE_CUDA_ARCHITECTURES
# includes ARCH, with TINYXF_BUILD_BENCH=ON) instead of configuring build-gpu.
BUILD=${TINYXF_GPU_BUILD_DIR:-build-gpu}
# TINYXF_GPU_EXES (space-separated) replaces the default programs, e.g. a quick check of new
# kernels: TINYXF_GPU_EXES="tinyxf_conformance tinyxf_cuda_tests". By default: everything
# scripts/gpu-check.sh, gpu-profile.sh and gpu-flagship.sh run (the LSTM cell kernel's tests and
# the NCCL check included; the NCCL check needs a build that found MPI).
read -r -a EXES <<<"${TINYXF_GPU_EXES:-tinyxf_conformance tinyxf_cuda_tests tinyxf_lstm_tests tinyxf_nccl_check tinyxf-bench-cuda-train imdb_distilbert}"
[ -n "${TINYXF_GPU_BUILD_DIR:-}" ] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTINYXF_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -DTINYXF_BUILD_TESTS=ON -DTINYXF_BUILD_EXAMPLES=ON -DTINYXF_BUILD_TOOLS=OFF -DTINYXF_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target "${EXES[@]}" tinyxf_cuda_plugin
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib"
for t in "${EXES[@]}"; do
  exe=$(find "$BUILD" -name "$t" -type f -perm -u+x | head -1)
  cp "$exe" "$STAGE/bin/"
  # Every library outside the C runtime and CUDA (those the device image has): OpenBLAS & co.
  ldd "$exe" | awk '/=>/ {print $3}' | grep -v -E '/libc\.so|/libm\.so|/libdl|/libpthread|/librt|/libgcc_s|/libstdc\+\+|/cuda' |
    xargs -r -I{} cp -L -n {} "$STAGE/lib/"
done
# The CUDA backend's plugin (programs that do not link tinyxf::cuda load it from their own folder).
plugin=$(find "$BUILD" -name 'libtinyxf_cuda.so' -type f | head -1)
[ -n "$plugin" ] && cp "$plugin" "$STAGE/bin/"
echo "$(git rev-parse HEAD)$(git diff --quiet || echo '+changes') sm_$ARCH" >"$STAGE/BUILT_FROM"
mkdir -p .gpu
tar -C "$STAGE" -cJf .gpu/bundle.tar.xz .
ls -la .gpu/bundle.tar.xz
