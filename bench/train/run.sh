#!/usr/bin/env bash
# Training throughput of tinyxf against PyTorch, same machine, same run, same thread count: runs
# tinyxf_bench_train and torch_train.py alternately, configuration by configuration (so that load
# from other processes hits both about equally), each configuration in its own process (so that
# its peak RSS is its own), and prints one markdown table.
#
#   bench/train/run.sh [BUILD_DIR] [-- extra options for both, e.g. --steps 10 --warmup 3]
#
# BUILD_DIR defaults to <repo>/build-bench (cmake --preset bench); it must hold
# bench/train/tinyxf_bench_train (cmake --build build-bench --target tinyxf_bench_train).
# CONFIGS (default "small base"; "tiny" is a smoke test) lists the configurations of main.cpp;
# THREADS (default 2) sets both frameworks' thread count; PYTHON (default /usr/bin/python3,
# Debian's python3-torch) runs the PyTorch side. PyTorch's fp32 matmuls go through the same
# Debian OpenBLAS as tinyxf's, which falls back to its slow SSE3 "Prescott" kernels on CPUs newer
# than it knows; tinyxf then selects a better kernel set itself (blas_core.hpp), and PyTorch is
# run with OPENBLAS_CORETYPE set to that same kernel set (SkylakeX on AVX-512 CPUs). Set
# OPENBLAS_CORETYPE yourself to choose another one for both.
set -euo pipefail

# shellcheck source=../common/run_util.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/run_util.sh"
bench_init build-bench bench/train/tinyxf_bench_train "$@"
CONFIGS="${CONFIGS:-small base}"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for config in $CONFIGS; do
  echo "$config: tinyxf ($THREADS threads) ..." >&2
  TINYXF_NUM_THREADS="$THREADS" "$BIN" --config "$config" --threads "$THREADS" --tsv "${EXTRA[@]}" >> "$TMP/results.tsv"
  # The kernel set tinyxf ran with ("OpenBLAS SkylakeX" in the last column) is PyTorch's too.
  CORE="${OPENBLAS_CORETYPE:-$(tail -n 1 "$TMP/results.tsv" | awk -F'\t' '$NF ~ /^OpenBLAS ./ { sub(/^OpenBLAS /, "", $NF); print $NF }')}"
  CORE="${CORE:-SkylakeX}"
  echo "$config: PyTorch ($THREADS threads, OPENBLAS_CORETYPE=$CORE) ..." >&2
  OPENBLAS_CORETYPE="$CORE" OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
    "$PYTHON" "$REPO/bench/train/torch_train.py" --config "$config" --threads "$THREADS" --tsv "${EXTRA[@]}" \
    >> "$TMP/results.tsv"
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "Training throughput, DistilBertForSequenceClassification, $THREADS threads each, on" \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
     "(CPU model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
echo
awk -F'\t' '
  function describe(c) {
    if (c == "small") return "flagship from scratch (dim 128, 2 layers, 4 heads, FFN 512)"
    if (c == "base") return "distilbert-base (dim 768, 6 layers, 12 heads, FFN 3072)"
    if (c == "tiny") return "tiny smoke test (dim 32, 1 layer, 2 heads, FFN 64)"
    return c
  }
  NR == FNR { if ($2 ~ /^PyTorch/) torch[$1] = $3; next }
  FNR == 1 {
    print "| config | implementation | step s median (min) | samples/s | tokens/s | peak RSS MiB | baseline RSS MiB | throughput vs PyTorch |"
    print "|---|---|---|---|---|---|---|---|"
  }
  { ratio = !($1 in torch) ? "–" : $2 ~ /^PyTorch/ ? "1.00" : sprintf("%.2f", torch[$1] / $3)
    printf "| %s, batch %s × seq %s, %.1fM params | %s (%s) | %.3f (%.3f) | %.2f | %.0f | %.0f | %.0f | %s |\n",
           describe($1), $10, $11, $9 / 1e6, $2, $14, $3, $4, $5, $6, $7, $8, ratio }
' "$TMP/results.tsv" "$TMP/results.tsv"
STEPS="$(awk -F'\t' '$2 == "tinyxf" { printf "%s%s %s", (n++ ? ", " : ""), $1, $12 }' "$TMP/results.tsv")"
cat <<EOF

One step = forward with labels (train mode, dropout on) + zero_grad + backward +
clip_grad_norm_(1.0) + AdamW (lr 5e-5, weight decay 0.01), the loop of examples/imdb_distilbert;
random token ids, all-ones attention mask. Step time: median (min) of the timed steps after the
warm-up (timed steps: $STEPS). samples/s = batch / median step, tokens/s = batch × seq / median
step. Throughput vs PyTorch = PyTorch's median step / this row's (> 1: faster than PyTorch).
Peak RSS = VmHWM at the end of a process that ran only this configuration; it includes the
framework's own libraries (and for PyTorch the Python interpreter): subtract the baseline RSS
(VmRSS right after loading the framework, before the model exists) for the training's own memory.
BLAS: the last word of "implementation" is the OpenBLAS kernel set each side's matmuls ran with
(tinyxf selects it itself; PyTorch ran with OPENBLAS_CORETYPE=$CORE, read back from the loaded
library). Load average before / after: $LOAD_BEFORE / $LOAD_AFTER.
EOF
