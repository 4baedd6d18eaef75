#!/usr/bin/env bash
# Creates (or checks) the Python environment of the benchmarks' peers: a virtual environment,
# from PyPI only, with PyTorch 2.x, transformers, tokenizers, ONNX Runtime, onnx and onnxscript
# (torch.onnx.export's exporter). The bench/*/run.sh scripts use its python when it exists.
#
#   scripts/setup-bench-env.sh [--upgrade]
#
# Idempotent: an environment that already imports every package is only checked (and its
# versions printed); --upgrade installs the newest releases again. Environment:
#   BENCH_VENV    where the environment lives (default <repo>/.venv-bench, gitignored)
#   BASE_PYTHON   the interpreter it is made from (default /usr/bin/python3 where it has venv,
#                 else python3 on PATH; Debian: apt-get install python3-venv)
#
# PyPI's torch wheel for Linux x86_64 is the CUDA build: it pulls the nvidia-* runtime wheels
# (~3 GB) and does not import without them (libcufile, libcudart, ... are linked), and the CPU-only
# wheels are not on PyPI, so the benchmarks take the default wheel and use its CPU side (MKL +
# oneDNN matmuls), which is what users install.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-$repo/.venv-bench}"
upgrade=0
case "${1:-}" in
  "") ;;
  --upgrade) upgrade=1 ;;
  *) echo "usage: $0 [--upgrade]" >&2; exit 2 ;;
esac

packages=("torch>=2,<3" transformers tokenizers onnxruntime onnx onnxscript numpy)
imports="import torch, transformers, tokenizers, onnxruntime, onnx, onnxscript, numpy"

if [ ! -x "$venv/bin/python" ]; then
  base="${BASE_PYTHON:-}"
  if [ -z "$base" ]; then
    if /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then base=/usr/bin/python3; else base=python3; fi
  fi
  echo "setup-bench-env: creating $venv from $base ($("$base" --version 2>&1))" >&2
  "$base" -m venv "$venv" || {
    echo "setup-bench-env: '$base -m venv' failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

if [ "$upgrade" = 1 ] || ! "$venv/bin/python" -c "$imports" 2>/dev/null; then
  echo "setup-bench-env: installing ${packages[*]} from PyPI into $venv (torch brings ~3 GB of CUDA wheels)" >&2
  flags=(--quiet)
  [ "$upgrade" = 1 ] && flags+=(--upgrade)
  "$venv/bin/python" -m pip install "${flags[@]}" "${packages[@]}"
fi

"$venv/bin/python" - "$repo/bench/common" <<'PY'
import sys

import numpy, onnx, onnxruntime, onnxscript, tokenizers, torch, transformers

sys.path.insert(0, sys.argv[1])
from bench_util import torch_matmul_backend

print(f"python       {sys.version.split()[0]} ({sys.executable})")
for module in (torch, onnxruntime, onnx, onnxscript, transformers, tokenizers, numpy):
    print(f"{module.__name__:<12} {module.__version__}")
print(f"torch's fp32 CPU matmuls: {torch_matmul_backend(torch)}; ONNX Runtime's: MLAS "
      f"(providers {', '.join(onnxruntime.get_available_providers())})")
PY
