#!/usr/bin/env bash
# Runs tinyxf_bench_distilbert and torch_bench.py in the same run (same machine, same thread
# count) and prints one table with the ratio tinyxf / PyTorch (< 1: tinyxf is faster).
# The two alternate shape by shape, so that load from other processes on a shared machine hits
# both about equally; the minimum is the number least disturbed by such load.
#
#   bench/distilbert/run.sh [BUILD_DIR] [-- extra options for both, e.g. --reps 5 --warmup 2]
#
# BUILD_DIR defaults to <repo>/build; it must hold bench/distilbert/tinyxf_bench_distilbert
# (cmake -DTINYXF_BUILD_BENCH=ON, then ninja tinyxf_bench_distilbert). SHAPES (default
# "16x128 8x512") lists BATCHxSEQ shapes; THREADS (default 2) sets both frameworks' thread count;
# PYTHON (default /usr/bin/python3, Debian's python3-torch) runs the PyTorch side.
set -euo pipefail

# shellcheck source=../common/run_util.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/run_util.sh"
bench_init build bench/distilbert/tinyxf_bench_distilbert "$@"
SHAPES="${SHAPES:-16x128 8x512}"

for shape in $SHAPES; do
  echo "$shape: tinyxf ($THREADS threads) ..." >&2
  TINYXF_NUM_THREADS="$THREADS" "$BIN" --threads "$THREADS" --shapes "$shape" --tsv "${EXTRA[@]}" >> "$TMP/tinyxf.tsv"
  echo "$shape: PyTorch ($THREADS threads) ..." >&2
  OMP_NUM_THREADS="$THREADS" "$PYTHON" "$REPO/bench/distilbert/torch_bench.py" --threads "$THREADS" \
    --shapes "$shape" --tsv "${EXTRA[@]}" 2>/dev/null >> "$TMP/torch.tsv"
done

echo "DistilBertForSequenceClassification (distilbert-base, 66,955,010 parameters), $THREADS threads, seconds per step"
awk -F'\t' '
  NR == FNR { med[$1 "\t" $2] = $3; low[$1 "\t" $2] = $4; next }
  FNR == 1 { printf "%-7s  %-16s  %13s  %14s  %11s  %11s  %8s  %8s\n", "shape", "phase", "tinyxf median",
             "PyTorch median", "tinyxf min", "PyTorch min", "ratio", "ratio min" }
  { key = $1 "\t" $2; m = med[key]; l = low[key];
    printf "%-7s  %-16s  %13.3f  %14.3f  %11.3f  %11.3f  %8.2f  %8.2f\n", $1, $2, $3, m, $4, l,
           (m > 0 ? $3 / m : 0), (l > 0 ? $4 / l : 0) }
' "$TMP/torch.tsv" "$TMP/tinyxf.tsv"
