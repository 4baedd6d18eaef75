#!/usr/bin/env bash
# Inference (and optionally forward+backward) time of DistilBertForSequenceClassification: runs
# tinyxf_bench_distilbert, torch_bench.py (PyTorch 2.x) and onnx_bench.py (ONNX Runtime, forward
# only) in the same run, same machine, same thread count, and prints one markdown table with
# tinyxf's speed-up against each peer. They alternate shape by shape, so that load from other
# processes on a shared machine hits all of them about equally; the minimum is the number least
# disturbed by such load.
#
#   bench/distilbert/run.sh [BUILD_DIR] [-- extra options for all sides, e.g. --reps 5 --warmup 2]
#
# BUILD_DIR defaults to <repo>/build-bench (cmake --preset bench); it must hold
# bench/distilbert/tinyxf_bench_distilbert (cmake --build build-bench --target
# tinyxf_bench_distilbert). Environment:
#   CONFIG   model size: base (default: distilbert-base), minilm, small, tiny (a smoke test)
#   SHAPES   BATCHxSEQ shapes (default "32x128")
#   PHASES   "forward" (default: eval mode, no grad, fp32) and/or "forward+backward" (train mode;
#            tinyxf and PyTorch only), comma-separated
#   THREADS  every framework's thread count (default 2; ONNX Runtime: intra-op threads, inter-op 1)
#   PYTHON   the peers' Python (bench/common/run_util.sh: default <repo>/.venv-bench from
#            scripts/setup-bench-env.sh); ONNX=0 leaves ONNX Runtime out (it is left out anyway
#            where PYTHON lacks onnxruntime, onnx or transformers)
#   DEBIAN_TORCH=0  leaves out the extra column of Debian's PyTorch 1.13 (run where
#            /usr/bin/python3 imports torch)
#   TINYXF_ARGS  options for tinyxf's side only, e.g. --full-last-layer (every row through the last
#            layer, as transformers computes it; by default the classifier's last layer computes the
#            [CLS] row alone, models' last_layer_cls_only)
set -euo pipefail

# shellcheck source=../common/run_util.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/run_util.sh"
bench_init build-bench bench/distilbert/tinyxf_bench_distilbert "$@"
CONFIG="${CONFIG:-base}"
SHAPES="${SHAPES:-32x128}"
PHASES="${PHASES:-forward}"
ONNX_PYTHON=""
if [ "${ONNX:-auto}" != 0 ]; then
  if "$PYTHON" -c 'import onnx, onnxruntime, onnxscript, transformers' 2>/dev/null; then
    ONNX_PYTHON="$PYTHON"
  else
    echo "run.sh: $PYTHON lacks onnxruntime/onnx/onnxscript/transformers: no ONNX Runtime column" \
         "(scripts/setup-bench-env.sh)" >&2
  fi
fi
COMMON=(--config "$CONFIG" --threads "$THREADS" --tsv)

# run_side SIDE COMMAND...: runs one side on $shape and appends its lines, tagged with the side.
run_side() {
  local side="$1"
  shift
  "$@" --shapes "$shape" "${COMMON[@]}" "${EXTRA[@]}" 2>"$TMP/stderr" | sed "s/^/$side\t/" >> "$TMP/results.tsv" || {
    cat "$TMP/stderr" >&2
    exit 1
  }
  grep '^onnx_bench:' "$TMP/stderr" >&2 || true  # the check of ONNX Runtime's logits
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for shape in $SHAPES; do
  echo "$shape: tinyxf ($THREADS threads) ..." >&2
  # shellcheck disable=SC2086  # TINYXF_ARGS: words
  TINYXF_NUM_THREADS="$THREADS" run_side tinyxf "$BIN" --phases "$PHASES" ${TINYXF_ARGS:-}
  echo "$shape: PyTorch in $PYTHON ($THREADS threads) ..." >&2
  OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" \
    run_side torch "$PYTHON" "$REPO/bench/distilbert/torch_bench.py" --phases "$PHASES"
  if [ -n "$ONNX_PYTHON" ] && [[ ",$PHASES," == *,forward,* ]]; then
    echo "$shape: ONNX Runtime in $ONNX_PYTHON ($THREADS intra-op threads; export first) ..." >&2
    OMP_NUM_THREADS="$THREADS" run_side onnx "$ONNX_PYTHON" "$REPO/bench/distilbert/onnx_bench.py"
  fi
  if [ -n "$DEBIAN_PYTHON" ]; then
    echo "$shape: PyTorch in $DEBIAN_PYTHON ($THREADS threads) ..." >&2
    OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
      run_side debian "$DEBIAN_PYTHON" "$REPO/bench/distilbert/torch_bench.py" --phases "$PHASES"
  fi
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

version() { "$1" -c "import $2; print($2.__version__)" 2>/dev/null || echo "?"; }
NAMES="tinyxf=tinyxf;torch=PyTorch $(version "$PYTHON" torch)"
[ -n "$ONNX_PYTHON" ] && NAMES="$NAMES;onnx=ONNX Runtime $(version "$ONNX_PYTHON" onnxruntime)"
[ -n "$DEBIAN_PYTHON" ] && NAMES="$NAMES;debian=PyTorch $(version "$DEBIAN_PYTHON" torch) (Debian)"

echo "DistilBertForSequenceClassification '$CONFIG' (random weights, 2 labels), $THREADS threads each, seconds per" \
     "step, on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (CPU family" \
     "$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model" \
     "$(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
bench_peer_versions "$PYTHON" ${DEBIAN_PYTHON:+"$DEBIAN_PYTHON"}
echo "tinyxf: ${TINYXF_ARGS:-last layer of the classifier on the [CLS] row alone (TINYXF_ARGS=--full-last-layer: every row, as the peers)}"
echo
awk -F'\t' -v names="$NAMES" '
  BEGIN {
    n = split(names, pairs, ";")
    for (i = 1; i <= n; ++i) { split(pairs[i], kv, "="); side[i] = kv[1]; label[kv[1]] = kv[2] }
  }
  { med[$1, $2, $3] = $4; low[$1, $2, $3] = $5; if (!(($2, $3) in seen)) { seen[$2, $3]; rows[++r] = $2 "\t" $3 } }
  END {
    head = "| shape | phase |"; rule = "|---|---|"
    for (i = 1; i <= n; ++i) { head = head " " label[side[i]] " median (min) |"; rule = rule "---:|" }
    for (i = 2; i <= n; ++i) { head = head " speed-up vs " label[side[i]] " |"; rule = rule "---:|" }
    print head; print rule
    for (j = 1; j <= r; ++j) {
      split(rows[j], key, "\t"); line = "| " key[1] " | " key[2] " |"
      for (i = 1; i <= n; ++i) {
        k = side[i] SUBSEP key[1] SUBSEP key[2]
        line = line ((k in med) ? sprintf(" %.3f (%.3f) |", med[k], low[k]) : " – |")
      }
      t = "tinyxf" SUBSEP key[1] SUBSEP key[2]
      for (i = 2; i <= n; ++i) {
        k = side[i] SUBSEP key[1] SUBSEP key[2]
        if (k in med && t in med && med[t] > 0 && low[t] > 0)
          line = line sprintf(" %.2f (%.2f) |", med[k] / med[t], low[k] / low[t])
        else
          line = line " – |"
      }
      print line
    }
  }
' "$TMP/results.tsv"
cat <<EOF

forward: eval mode, no autograd (NoGradGuard / torch.no_grad / an ONNX Runtime session), fp32;
forward+backward: train mode (dropout on), loss from labels, backward. Each cell: median (min) of
the timed repetitions after the warm-up, in seconds. Speed-up vs X = X's time / tinyxf's time
(> 1: tinyxf is faster), from the medians (from the minima). PyTorch runs the plain torch.nn
DistilBERT of bench/common/torch_distilbert.py (transformers' eager attention op for op); ONNX
Runtime runs transformers' DistilBertForSequenceClassification with the same configuration and
weights, exported by torch.onnx.export (static shapes; its logits are checked against PyTorch's),
CPU execution provider, intra_op_num_threads $THREADS, inter_op_num_threads 1, ORT_ENABLE_ALL.
Matmuls: tinyxf OpenBLAS, PyPI PyTorch MKL, ONNX Runtime MLAS, Debian PyTorch OpenBLAS.
Load average before / after: $LOAD_BEFORE / $LOAD_AFTER.
EOF
