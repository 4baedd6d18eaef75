#!/usr/bin/env bash
# Builds tinyxf_bench_lstm, runs it and torch_lstm.py with the same thread count and prints one
# markdown table of median times (nn::LSTM vs torch.nn.LSTM, packed ragged batch).
#
#   bench/lstm/run.sh [--threads N] [--reps N]
#
# BUILD_DIR (default: build-bench) is configured with only the benchmarks on; PYTHON as in
# bench/common/run_util.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../common/run_util.sh
source "$here/../common/run_util.sh"
bench_pythons "$root"
build="${BUILD_DIR:-$root/build-bench}"
threads=2
reps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    *) echo "usage: $0 [--threads N] [--reps N]" >&2; exit 2 ;;
  esac
done
bench_build "$root" "$build" tinyxf_bench_lstm "$threads"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
TINYXF_NUM_THREADS="$threads" "$build/bench/lstm/tinyxf_bench_lstm" --threads "$threads" --reps "$reps" --tsv \
  >"$tmp/tinyxf.tsv"
OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$PYTHON" "$here/torch_lstm.py" --threads "$threads" \
  --reps "$reps" --tsv >"$tmp/torch.tsv"
torch_version="$("$PYTHON" -c 'import torch; print(torch.__version__)')"
echo "| case | tinyxf ms | PyTorch $torch_version ms | speedup |"
echo "|---|---:|---:|---:|"
awk -F'\t' 'NR == FNR { torch[$1] = $2; next }
  { printf "| %s | %.1f | %.1f | %.2fx |\n", $1, $2, torch[$1], torch[$1] / $2 }' "$tmp/torch.tsv" "$tmp/tinyxf.tsv"
echo
echo "$threads threads each; medians of $reps runs; speedup = PyTorch's time / tinyxf's time."
