#!/usr/bin/env bash
# Training throughput of tinyxf against PyTorch, same machine, same run, same thread count: runs
# tinyxf_bench_train and torch_train.py alternately, configuration by configuration (so that load
# from other processes hits all sides about equally), each configuration in its own process (so
# that its peak RSS is its own), and prints one markdown table.
#
#   bench/train/run.sh [BUILD_DIR] [-- extra options for all sides, e.g. --steps 10 --warmup 3]
#
# BUILD_DIR defaults to <repo>/build-bench (cmake --preset bench); it must hold
# bench/train/tinyxf_bench_train (cmake --build build-bench --target tinyxf_bench_train).
# CONFIGS (default "small minilm base"; "tiny" is a smoke test) lists the configurations of
# main.cpp; THREADS (default 2) sets every framework's thread count; PRECISION=bf16 (default fp32)
# runs both forward passes under autocast("cpu", bfloat16); PRECISION=medium keeps float32 tensors
# and lets float32 matmuls use bfloat16 products (set_float32_matmul_precision("medium")).
# TINYXF_ARGS passes options to tinyxf's side only, e.g. --full-last-layer (every row through the
# last layer, as transformers computes it; by default the classifier's last layer computes the
# [CLS] row alone, models' last_layer_cls_only).
# TASK (default classify: DistilBertForSequenceClassification, the loop of examples/imdb_distilbert)
# = mlm times a masked-LM step instead (--task mlm to all sides): DistilBertForMaskedLM against
# transformers' own (SDPA attention), the same random ids with a fixed ~15 % of the positions
# (mlm_labelled in main.cpp and torch_train.py) read as [MASK] and labelled, the rest -100. tinyxf
# runs the vocabulary head on the labelled rows alone (sparse_prediction; the same loss);
# TINYXF_ARGS=--dense-mlm-head runs it on every row, as transformers does. The first step's loss
# (~ln 30522 = 10.3) is printed under the table. Debian's PyTorch joins only where it has
# transformers. E.g.
#   TASK=mlm CONFIGS="small base" bench/train/run.sh
#   TASK=mlm TINYXF_ARGS=--dense-mlm-head PRECISION=bf16 CONFIGS=base bench/train/run.sh
# ROUNDS (default 1) repeats the whole alternation that many times, each side a fresh process
# per round: on a machine whose speed drifts (a shared VM, AMX throttling) one side can land in a
# slow phase the other escaped; the table then gives the median of the rounds' median steps and
# the ratio of each round in its last column.
#
# The peers (bench/common/run_util.sh): PyTorch 2.x from PYTHON (default <repo>/.venv-bench, made
# by scripts/setup-bench-env.sh: PyPI's wheel, whose fp32 matmuls are MKL's sgemm), and, as an
# extra column where /usr/bin/python3 imports torch (DEBIAN_TORCH=0: never), Debian's
# python3-torch 1.13. The latter links the same Debian OpenBLAS as tinyxf, which falls back to
# its slow SSE3 "Prescott" kernels on CPUs newer than it knows; tinyxf then selects a better kernel
# set itself (blas_core.hpp), and the Python sides run with OPENBLAS_CORETYPE set to that same
# kernel set (SkylakeX on AVX-512 CPUs; MKL ignores it). Set OPENBLAS_CORETYPE yourself to choose
# another one for all of them.
set -euo pipefail

# shellcheck source=../common/run_util.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/run_util.sh"
bench_init build-bench bench/train/tinyxf_bench_train "$@"
CONFIGS="${CONFIGS:-small minilm base}"
TASK="${TASK:-classify}"
case "$TASK" in
  classify) MODEL=DistilBertForSequenceClassification ;;
  mlm) MODEL=DistilBertForMaskedLM ;;
  *) echo "run.sh: TASK must be classify or mlm, got '$TASK'" >&2; exit 1 ;;
esac
# The MLM peer is transformers' class: Debian's Python joins only where it has transformers.
if [ "$TASK" = mlm ] && [ -n "$DEBIAN_PYTHON" ] && ! "$DEBIAN_PYTHON" -c 'import transformers' 2>/dev/null; then
  echo "run.sh: $DEBIAN_PYTHON has no transformers; TASK=mlm runs without Debian's PyTorch" >&2
  DEBIAN_PYTHON=""
fi

# run_side SIDE COMMAND...: runs one side (tinyxf, torch or debian) on $config and appends its
# --tsv line, tagged with the side, to the results.
run_side() {
  local side="$1"
  shift
  "$@" --task "$TASK" --config "$config" --threads "$THREADS" --precision "${PRECISION:-fp32}" --tsv "${EXTRA[@]}" |
    sed "s/^/$side\t/" >> "$TMP/results.tsv"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
ROUNDS="${ROUNDS:-1}"
for round in $(seq "$ROUNDS"); do
for config in $CONFIGS; do
  echo "$config: tinyxf ($THREADS threads, round $round of $ROUNDS) ..." >&2
  # shellcheck disable=SC2086  # TINYXF_ARGS: words
  TINYXF_NUM_THREADS="$THREADS" run_side tinyxf "$BIN" ${TINYXF_ARGS:-}
  # The kernel set tinyxf ran with ("OpenBLAS SkylakeX" in the last column) is Debian PyTorch's too.
  CORE="${OPENBLAS_CORETYPE:-$(tail -n 1 "$TMP/results.tsv" | awk -F'\t' '$NF ~ /^OpenBLAS ./ { sub(/^OpenBLAS /, "", $NF); sub(/[ ,].*/, "", $NF); print $NF }')}"
  CORE="${CORE:-SkylakeX}"
  for side in torch debian; do
    python="$PYTHON"
    if [ "$side" = debian ]; then python="$DEBIAN_PYTHON"; fi
    if [ -z "$python" ]; then continue; fi
    echo "$config: PyTorch in $python ($THREADS threads, OPENBLAS_CORETYPE=$CORE) ..." >&2
    OPENBLAS_CORETYPE="$CORE" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
      run_side "$side" "$python" "$REPO/bench/train/torch_train.py"
  done
done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "Training throughput, $MODEL, $THREADS threads each, on" \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
     "(CPU family $(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
bench_peer_versions "$PYTHON" ${DEBIAN_PYTHON:+"$DEBIAN_PYTHON"}
if [ "$TASK" = mlm ]; then
  echo "tinyxf: ${TINYXF_ARGS:-vocabulary head on the labelled rows alone (TINYXF_ARGS=--dense-mlm-head: every row, as the peers)}"
else
  echo "tinyxf: ${TINYXF_ARGS:-last layer of the classifier on the [CLS] row alone (TINYXF_ARGS=--full-last-layer: every row, as the peers)}"
fi
echo
awk -F'\t' -v rounds="$ROUNDS" -v task="$TASK" '
  function describe(c) {
    if (c == "small") return "flagship from scratch (dim 128, 2 layers, 4 heads, FFN 512)"
    if (c == "minilm") return "MiniLM-L6-H384 shape (dim 384, 6 layers, 12 heads, FFN 1536)"
    if (c == "base") return "distilbert-base (dim 768, 6 layers, 12 heads, FFN 3072)"
    if (c == "tiny") return "tiny smoke test (dim 32, 1 layer, 2 heads, FFN 64)"
    return c
  }
  # The median of v[key, 1..n] (sorted copy, insertion sort: a handful of rounds).
  function median(v, key, n,   i, j, t, s) {
    for (i = 1; i <= n; ++i) s[i] = v[key, i]
    for (i = 2; i <= n; ++i) for (j = i; j > 1 && s[j - 1] > s[j]; --j) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
    return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
  }
  # One line per (side, config) and round: $4 median step, $5 min step, $8 peak RSS, $16 what ran.
  {
    key = $1 SUBSEP $2
    if (!(key in runs)) { order[++keys] = key; line[key] = $0 }
    if ($1 != "tinyxf") name[$1] = $3
    r = ++runs[key]
    med[key, r] = $4
    if (r == 1 || $5 < best[key]) best[key] = $5
    if (r == 1 || $8 > peak[key]) peak[key] = $8
  }
  END {
    printf "| config | implementation | step s median (min) | samples/s | tokens/s | peak RSS MiB | baseline RSS MiB |"
    debian = "debian" in name
    printf " throughput vs %s |%s%s\n", ("torch" in name ? name["torch"] : "PyTorch"),
           (debian ? " throughput vs " name["debian"] " (Debian) |" : ""), (rounds > 1 ? " per round vs PyTorch |" : "")
    for (i = 1; i <= keys; ++i) step[order[i]] = median(med, order[i], runs[order[i]])
    print "|---|---|---|---|---|---|---|---|" (debian ? "---|" : "") (rounds > 1 ? "---|" : "")
    for (i = 1; i <= keys; ++i) {
      key = order[i]
      split(line[key], f, "\t")
      t = "torch" SUBSEP f[2]; dn = "debian" SUBSEP f[2]
      vs_torch = (t in step) ? sprintf("%.2f", step[t] / step[key]) : "–"
      vs_debian = (dn in step) ? sprintf("%.2f", step[dn] / step[key]) : "–"
      per_round = ""
      if (rounds > 1 && (t in step))
        for (r = 1; r <= runs[key] && r <= runs[t]; ++r) per_round = per_round (r > 1 ? " / " : "") sprintf("%.2f", med[t, r] / med[key, r])
      printf "| %s%s, batch %s × seq %s, %.1fM params | %s%s (%s) | %.3f (%.3f) | %.2f | %.0f | %.0f | %.0f | %s |%s%s\n",
             describe(f[2]), (task == "mlm" ? ", MLM train step" : ""), f[11], f[12], f[10] / 1e6, f[3],
             (f[1] == "debian" ? ", Debian" : ""), f[16], step[key],
             best[key], f[11] / step[key], f[11] * f[12] / step[key], peak[key], f[9], vs_torch,
             (debian ? " " vs_debian " |" : ""), (rounds > 1 ? " " per_round " |" : "")
    }
  }
' "$TMP/results.tsv"
STEPS="$(awk -F'\t' '$1 == "tinyxf" && !seen[$2]++ { printf "%s%s %s", (n++ ? ", " : ""), $2, $13 }' "$TMP/results.tsv")"
cat <<EOF

One step = forward with labels (train mode, dropout on) + zero_grad + backward +
clip_grad_norm_(1.0) + AdamW (lr 5e-5, weight decay 0.01), the loop of examples/imdb_distilbert;
random token ids, all-ones attention mask. Step time: median (min) of the timed steps after the
warm-up (timed steps: $STEPS; with ROUNDS > 1 the median of the rounds' medians, and the min
over all rounds). samples/s = batch / median step, tokens/s = batch × seq / median
step. Throughput vs X = X's median step / this row's (> 1: faster than X).
Peak RSS = VmHWM at the end of a process that ran only this configuration; it includes the
framework's own libraries (for PyTorch also the Python interpreter and, for PyPI's wheel, its
CUDA libraries): subtract the baseline RSS (VmRSS right after loading the framework, before the
model exists) for the training's own memory. The last word of "implementation" is what each
side's fp32 matmuls ran on: tinyxf's OpenBLAS kernel set (selected by tinyxf), MKL for PyPI's
PyTorch, the OpenBLAS kernel set for Debian's (run with OPENBLAS_CORETYPE=$CORE, read back from
the loaded library). Load average before / after: $LOAD_BEFORE / $LOAD_AFTER.
EOF
if [ "$TASK" = mlm ]; then
  # Different initialisations, so not the same number; both near ln(30522) = 10.33 untrained.
  cat <<EOF

MLM: ~15 % of the positions (never the first or the last; the same on both sides) read [MASK]
(103) and carry their id as the label, the others -100; loss = mean cross-entropy over the
labelled positions; the vocabulary projector is tied to the word embeddings. tinyxf's head runs
on the labelled rows alone unless TINYXF_ARGS=--dense-mlm-head, transformers' on every row.
Loss of the first step (round 1): $(awk -F'\t' '!seen[$1, $2]++ {
  printf "%s%s %s %s", (n++ ? ", " : ""), ($1 == "tinyxf" ? "tinyxf" : $3), $2, $15 }' "$TMP/results.tsv").
EOF
fi
