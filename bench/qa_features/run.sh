#!/usr/bin/env bash
# Question answering feature preparation: tinyxf's prepare_question_answering_features vs run_qa.py's
# prepare_train_features on HF's tokenizer (384 tokens, doc stride 128), on SQuAD-style examples
# made from IMDB reviews, one and two threads, same machine, same run; checks that both give the
# same features and prints a table.
#
#   bench/qa_features/run.sh [BUILD_DIR]   (default: build-bench; needs target tinyxf-bench-qa-features)
#
# Environment: PYTHON (default <repo>/.venv-bench/bin/python, see bench/common/run_util.sh),
# TINYXF_IMDB_CSV (default ../shared/data/imdb/imdb_50k.csv.gz), COUNT (examples, default 10000),
# REPEAT (best of, default 3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../common/run_util.sh
source "$here/../common/run_util.sh"
bench_pythons "$repo"
build="${1:-$repo/build-bench}"
repeat="${REPEAT:-3}"
bench="$(bench_program "$build" qa_features tinyxf-bench-qa-features)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bench_machine
bench_peer_versions "$PYTHON"
"$PYTHON" "$here/compare_hf.py" --make-examples "$work/examples.jsonl" --count "${COUNT:-10000}"
"$bench" --examples "$work/examples.jsonl" --threads 1,2 --repeat "$repeat" --write-features "$work/tinyxf.features" \
  | tee "$work/results"
for threads in 1 2; do
  "$PYTHON" "$here/compare_hf.py" --examples "$work/examples.jsonl" --threads "$threads" --repeat "$repeat" \
    --tinyxf-features "$work/tinyxf.features" | tee -a "$work/results"
done
echo
awk '
  /^RESULT/ {
    for (i = 2; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
    seconds[f["impl"] "," f["threads"]] = f["seconds"]; features = f["features"]; examples = f["examples"]
  }
  END {
    printf "%d examples -> %d features (384 tokens, stride 128)\n", examples, features
    printf "%-8s %12s %12s %8s\n", "threads", "tinyxf s", "run_qa s", "ratio"
    for (t = 1; t <= 2; ++t)
      printf "%-8d %12.3f %12.3f %7.1fx\n", t, seconds["tinyxf," t], seconds["hf," t], seconds["hf," t] / seconds["tinyxf," t]
  }' "$work/results"
