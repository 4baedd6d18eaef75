#!/usr/bin/env bash
# Runs the libFuzzer targets of a sanitizer build, each for SECONDS on top of its seed corpus
# (tests/data files, copied by fuzz/CMakeLists.txt), at most JOBS at a time.
#   scripts/fuzz.sh [BUILD_DIR (build-sanitize)] [SECONDS (60)] [target...]
# Corpora grow in BUILD_DIR/fuzz/corpus/<target>; a crash leaves its input in
# BUILD_DIR/fuzz/artifacts/<target>/ and makes the script fail. Prints, per target, libFuzzer's
# execution count and time (docs/reliability.md records the long runs).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-sanitize}
SECONDS_EACH=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(safetensors json tokenizer csv config torch_pickle squad)
JOBS=${FUZZ_JOBS:-$(nproc)}
# Leaks are checked by the ASan test run; inside the fuzzers they only slow each run down.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TINYXF_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

run_one() {
  local target=$1 dir="$BUILD_DIR/fuzz"
  mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target"
  local log="$dir/$target.log"
  if "$dir/fuzz_$target" "$dir/corpus/$target" "$dir/seeds/$target" -max_total_time="$SECONDS_EACH" \
       -max_len=8192 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$dir/artifacts/$target/" >"$log" 2>&1; then
    local done_line
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
    echo "fuzz_$target: ok: ${done_line:-no summary line}, corpus $(ls "$dir/corpus/$target" | wc -l) files"
  else
    echo "fuzz_$target: FAILED (log: $log)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
    return 1
  fi
}

status=0
pids=()
for target in "${TARGETS[@]}"; do
  run_one "$target" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
