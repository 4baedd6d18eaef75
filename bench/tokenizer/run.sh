#!/usr/bin/env bash
# Tokenizer benchmark: tinyxf vs Hugging Face's Rust tokenizer on the 50,000 IMDB reviews, one and
# two threads, same machine, same run; checks that both give identical ids and prints a table.
#
#   bench/tokenizer/run.sh [BUILD_DIR]   (default: build-bench; needs target tinyxf-bench-tokenizer)
#
# Environment: PYTHON (default <repo>/.venv-bench/bin/python from scripts/setup-bench-env.sh, with
# tokenizers; see bench/common/run_util.sh), TINYXF_IMDB_CSV (default
# ../shared/data/imdb/imdb_50k.csv.gz), REPEAT (best of, default 3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../common/run_util.sh
source "$here/../common/run_util.sh"
bench_pythons "$repo"
build="${1:-$repo/build-bench}"
python="$PYTHON"
repeat="${REPEAT:-3}"
bench="$(bench_program "$build" tokenizer tinyxf-bench-tokenizer)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
csv_args=()
[[ -n "${TINYXF_IMDB_CSV:-}" ]] && csv_args=(--csv "$TINYXF_IMDB_CSV")

bench_machine
bench_peer_versions "$python"
"$bench" "${csv_args[@]}" --threads 1,2 --repeat "$repeat" --write-ids "$work/tinyxf.ids" | tee "$work/results"
"$python" "$here/compare_hf.py" "${csv_args[@]}" --threads 1 --repeat "$repeat" | tee -a "$work/results"
"$python" "$here/compare_hf.py" "${csv_args[@]}" --threads 2 --repeat "$repeat" --tinyxf-ids "$work/tinyxf.ids" \
  | tee -a "$work/results"

echo
awk '
  /^RESULT/ {
    for (i = 2; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
    key = f["impl"] "," f["threads"]
    seconds[key] = f["seconds"]; tokens[key] = f["tokens"]; bytes[key] = f["bytes"]; docs = f["docs"]
  }
  /^IDENTICAL/ { identical = $0 }
  END {
    printf "| threads | implementation | docs | tokens | seconds | tokens/s | MB/s | speed-up |\n"
    printf "|---|---|---|---|---|---|---|---|\n"
    for (t = 1; t <= 2; ++t) {
      split("hf tinyxf", impls, " ")
      for (j = 1; j <= 2; ++j) {
        key = impls[j] "," t
        if (!(key in seconds)) continue
        name = impls[j] == "hf" ? "HF tokenizers (Rust)" : "tinyxf"
        ratio = ("hf," t in seconds) ? sprintf("%.1fx", seconds["hf," t] / seconds[key]) : "-"
        printf "| %d | %s | %d | %d | %.2f | %.2f M | %.1f | %s |\n", t, name, docs, tokens[key], seconds[key],
               tokens[key] / seconds[key] / 1e6, bytes[key] / seconds[key] / 1e6, ratio
      }
    }
    print ""
    print (identical != "" ? "ids: " identical : "ids: NOT CHECKED")
  }' "$work/results"
