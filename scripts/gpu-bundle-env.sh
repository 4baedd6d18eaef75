# Sourced by the device-side scripts: unpacks .gpu/bundle.tar.xz (made by scripts/gpu-prepare.sh)
# into $BUNDLE, puts its libraries and the machine's CUDA libraries on LD_LIBRARY_PATH, and makes
# the source path compiled into the programs point at this checkout.
BUNDLE=/tmp/tinyxf-gpu-bundle
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE" && tar -C "$BUNDLE" -xJf .gpu/bundle.tar.xz
CUDA_LIBS=$(dirname "$(find /usr/local/cuda/ /usr/lib /opt -name 'libcublas.so.13*' 2>/dev/null | head -1 || true)" 2>/dev/null || true)
# libnccl (tinyxf_nccl_check) is too large for the bundle (200 MB); PyTorch's wheel brings one.
NCCL_LIBS=$(dirname "$(find /usr/local/cuda/ /usr/lib /opt -name 'libnccl.so.2*' 2>/dev/null | head -1 || true)" 2>/dev/null || true)
export LD_LIBRARY_PATH="$BUNDLE/lib${CUDA_LIBS:+:$CUDA_LIBS}${NCCL_LIBS:+:$NCCL_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BAKED=$(strings "$BUNDLE/bin/tinyxf_cuda_tests" | grep -m1 -E '^/.*/tests/cuda/cuda_backend_test.cpp$' |
  sed 's#/tests/cuda/cuda_backend_test.cpp$##' || true)
BAKED=${BAKED:-/work/main}
if [ "$BAKED" != "$PWD" ] && [ ! -e "$BAKED" ]; then mkdir -p "$(dirname "$BAKED")" && ln -s "$PWD" "$BAKED"; fi
