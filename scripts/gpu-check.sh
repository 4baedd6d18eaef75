#!/usr/bin/env bash
# The one script a session with a lent GPU runs on the device machine (docs/cuda.md):
#
#   run(command="scripts/gpu-check.sh", timeout_s=560)      # the device tool; results in $OUT
#
# 1. dependencies (scripts/install-deps.sh when apt works; otherwise it reports what is missing)
# 2. configure build-gpu with the CUDA backend for this GPU's architecture only, build the
#    conformance, CUDA, model tests and the training benchmark
# 3. TINYXF_BACKEND=cuda tinyxf_conformance, tinyxf_cuda_tests, tinyxf_lstm_tests and
#    tinyxf_nccl_check (when built / in the bundle), tinyxf_models_tests (cpu); the conformance
#    suite's 16-bit cases again with flash attention (TINYXF_CUDA_FLASH_ATTENTION=1)
# 4. DistilBERT-base training step (batch 16 x 512 and 32 x 128), tinyxf vs PyTorch on this GPU,
#    fp32, TF32 and bf16 autocast; TF32 and bf16 again with flash attention
# Everything lands in $OUT/gpu-report.md (logs next to it). Budget: about 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/out/gpu-check}
mkdir -p "$OUT"
REPORT=$OUT/gpu-report.md
START=$(date +%s)
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD=${TINYXF_GPU_BUILD_DIR:-$ROOT/build-gpu}  # overridable to dry-run the flow elsewhere
STATUS=0

say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
elapsed() { echo $(( $(date +%s) - START )); }
# run_logged NAME TIMEOUT CMD...: runs CMD with a time limit, log in $OUT/NAME.log; returns its status.
run_logged() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  say "- \`$name\`: exit $rc after $(( $(date +%s) - t0 )) s (log: $name.log)"
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then  # the reason, for failures that print no test summary
    tail -n 3 "$OUT/$name.log" | sed 's/^/    /' | tee -a "$REPORT"
  fi
  return $rc
}

: >"$REPORT"
say "# tinyxf GPU check — $(date -u '+%Y-%m-%d %H:%M UTC')"
say ""
say "## Machine"
say '```'
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>&1 | tee -a "$REPORT"
(nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>&1) | tail -2 | tee -a "$REPORT"
cmake --version 2>&1 | head -1 | tee -a "$REPORT"
g++ --version 2>&1 | head -1 | tee -a "$REPORT"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1 | tee -a "$REPORT"
say '```'
export PATH=$PATH:/usr/local/cuda/bin

if [ -f .gpu/bundle.tar.xz ]; then
  # ---- 1+2. prebuilt by scripts/gpu-prepare.sh on a machine with apt (the lent GPUs have none) ----
  say ""
  say "## Build (prebuilt bundle)"
  source scripts/gpu-bundle-env.sh
  BUILD=$BUNDLE
  say "- bundle built from $(cat "$BUILD/BUILT_FROM")"
  say "- CUDA libraries from: ${CUDA_LIBS:-not found}"
  say "- source path compiled into the tests: $BAKED"
else
# ---- 1. dependencies ---------------------------------------------------------------------------
say ""
say "## Dependencies"
eval "$(sed -n '/^PACKAGES=(/,/)/p' scripts/install-deps.sh)"   # the same list install-deps.sh uses
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "- all Debian packages present"
elif command -v apt-get >/dev/null && run_logged install-deps 180 scripts/install-deps.sh; then
  say "- installed: ${missing[*]}"
else
  say "- **missing and not installable here (no apt or no network): ${missing[*]}** — the build below may fail"
  STATUS=1
fi

# ---- 2. configure and build --------------------------------------------------------------------
say ""
say "## Build"
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
ARCH=${ARCH:-90}
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
run_logged configure 120 cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DTINYXF_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DTINYXF_BUILD_TESTS=ON -DTINYXF_BUILD_EXAMPLES=OFF \
  -DTINYXF_BUILD_TOOLS=OFF -DTINYXF_BUILD_BENCH=ON || STATUS=1
TARGETS=(tinyxf_conformance tinyxf_cuda_tests tinyxf_models_tests tinyxf-bench-cuda-train)
KEEP_GOING=()
[ ${#GENERATOR[@]} -gt 0 ] && KEEP_GOING=(-- -k 0)
run_logged build 300 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" "${KEEP_GOING[@]}" || STATUS=1
say "- CUDA architecture: sm_$ARCH; build finished at $(elapsed) s"
if grep -qE "error:|FAILED:" "$OUT/build.log"; then
  say '```'
  grep -m 20 -B 2 -A 6 -E "error:|FAILED:" "$OUT/build.log" | tee -a "$REPORT" >/dev/null
  say '```'
fi

fi

exe() { find "$BUILD" -name "$1" -type f -perm -u+x 2>/dev/null | head -1; }
summary_of() {  # Catch2's last lines: totals or the failures
  say '```'
  grep -E "^(SKIPPED|conformance:|cuda tests on)|test cases|assertions|FAILED|failed|Error" "$OUT/$1.log" | tail -25 | tee -a "$REPORT"
  say '```'
}

# ---- 3. tests ------------------------------------------------------------------------------------
say ""
say "## Conformance suite on cuda (every op, forward and backward, vs the reference backend)"
if [ -n "$(exe tinyxf_conformance)" ]; then
  (cd "$(dirname "$(exe tinyxf_conformance)")" &&
    TINYXF_BACKEND=cuda run_logged conformance_cuda 240 ./tinyxf_conformance) || STATUS=1
  summary_of conformance_cuda
else
  say "- not built"; STATUS=1
fi

# Flash attention (off by default until measured): the 16-bit attention cases through its kernels.
if [ -n "$(exe tinyxf_conformance)" ]; then
  say ""
  say "## Conformance, 16-bit cases, with TINYXF_CUDA_FLASH_ATTENTION=1"
  (cd "$(dirname "$(exe tinyxf_conformance)")" &&
    TINYXF_BACKEND=cuda TINYXF_CUDA_FLASH_ATTENTION=1 run_logged conformance_cuda_flash 120 ./tinyxf_conformance "[16bit]") || STATUS=1
  summary_of conformance_cuda_flash
fi

say ""
say "## CUDA backend tests (allocator, copies, ops vs cpu, DistilBERT goldens and Adam steps on the GPU)"
if [ -n "$(exe tinyxf_cuda_tests)" ]; then
  (cd "$(dirname "$(exe tinyxf_cuda_tests)")" && run_logged cuda_tests 180 ./tinyxf_cuda_tests) || STATUS=1
  summary_of cuda_tests
else
  say "- not built"; STATUS=1
fi

# The LSTM's CUDA cell kernel and the 1-rank NCCL process group + DDP step (issue 17) when the
# bundle has them (TINYXF_GPU_EXES="... tinyxf_lstm_tests tinyxf_nccl_check" scripts/gpu-prepare.sh).
for extra in tinyxf_lstm_tests tinyxf_nccl_check; do
  if [ -n "$(exe $extra)" ] && [ "$(elapsed)" -lt 300 ]; then
    say ""
    say "## $extra"
    (cd "$(dirname "$(exe $extra)")" && run_logged "$extra" 90 "./$extra") || STATUS=1
    summary_of "$extra"
    [ "$extra" = tinyxf_nccl_check ] && grep -E "^(ok|FAIL)" "$OUT/$extra.log" | tail -12 | tee -a "$REPORT" >/dev/null
  fi
done

say ""
say "## DistilBERT model tests (cpu backend, for reference)"
if [ -n "$(exe tinyxf_models_tests)" ] && [ "$(elapsed)" -lt 330 ]; then
  (cd "$(dirname "$(exe tinyxf_models_tests)")" && run_logged models_tests 90 ./tinyxf_models_tests) || STATUS=1
  summary_of models_tests
else
  say "- skipped (not built, or out of time at $(elapsed) s)"
fi

# ---- 4. benchmark ----------------------------------------------------------------------------------
say ""
say "## DistilBERT-base training step (forward + backward + AdamW), same GPU"
BENCH_JSON=$OUT/bench.jsonl
: >"$BENCH_JSON"
TX=$(exe tinyxf-bench-cuda-train)
HAVE_TORCH=0
python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null && HAVE_TORCH=1
for shape in "16 512" "32 128"; do
  set -- $shape
  for precision in fp32 tf32; do
    if [ "$(elapsed)" -gt 450 ]; then say "- out of time before $precision $1x$2"; break 2; fi
    if [ -n "$TX" ]; then
      flag=(); [ "$precision" = tf32 ] && flag=(--tf32)
      run_logged "bench_tinyxf_${precision}_$1x$2" 90 "$TX" --batch "$1" --seq "$2" "${flag[@]}" &&
        grep '^{' "$OUT/bench_tinyxf_${precision}_$1x$2.log" >>"$BENCH_JSON"
    fi
    if [ $HAVE_TORCH = 1 ]; then
      run_logged "bench_torch_${precision}_$1x$2" 90 python3 bench/cuda_train/torch_train_step.py \
        --batch "$1" --seq "$2" --precision "$precision" &&
        grep '^{' "$OUT/bench_torch_${precision}_$1x$2.log" >>"$BENCH_JSON"
    fi
  done
  if [ -n "$TX" ] && [ "$(elapsed)" -lt 450 ]; then
    run_logged "bench_tinyxf_bf16_$1x$2" 90 "$TX" --batch "$1" --seq "$2" --bf16 &&
      grep '^{' "$OUT/bench_tinyxf_bf16_$1x$2.log" >>"$BENCH_JSON"
  fi
  if [ $HAVE_TORCH = 1 ] && [ "$(elapsed)" -lt 450 ]; then
    run_logged "bench_torch_bf16_$1x$2" 90 python3 bench/cuda_train/torch_train_step.py --batch "$1" --seq "$2" \
      --precision bf16 && grep '^{' "$OUT/bench_torch_bf16_$1x$2.log" >>"$BENCH_JSON"
  fi
done
[ $HAVE_TORCH = 1 ] || say "- PyTorch with CUDA not importable: no PyTorch column"
# Flash attention (TINYXF_CUDA_FLASH_ATTENTION=1) at both shapes, bf16 and TF32: whether it beats
# the composed attention kernels decides its default.
for shape in "16 512" "32 128"; do
  set -- $shape
  for precision in bf16 tf32; do
    if [ -z "$TX" ] || [ "$(elapsed)" -gt 470 ]; then break 2; fi
    flag=(--bf16); [ "$precision" = tf32 ] && flag=(--tf32)
    TINYXF_CUDA_FLASH_ATTENTION=1 run_logged "bench_tinyxf_flash_${precision}_$1x$2" 90 "$TX" --batch "$1" --seq "$2" "${flag[@]}" &&
      grep '^{' "$OUT/bench_tinyxf_flash_${precision}_$1x$2.log" |
      sed 's/"impl": *"tinyxf"/"impl": "tinyxf, flash attention"/' >>"$BENCH_JSON"
  done
done
# The index checks read back in every op (TINYXF_CUDA_SYNC_CHECKS=1: a stream sync per embedding
# lookup, embedding backward and loss, as before they went asynchronous), at the launch-bound shape.
if [ -n "$TX" ] && [ "$(elapsed)" -lt 480 ]; then
  TINYXF_CUDA_SYNC_CHECKS=1 run_logged bench_tinyxf_tf32_32x128_sync_checks 90 "$TX" --batch 32 --seq 128 --tf32 &&
    grep '^{' "$OUT/bench_tinyxf_tf32_32x128_sync_checks.log" |
    sed 's/"impl": *"tinyxf"/"impl": "tinyxf, sync index checks"/' >>"$BENCH_JSON"
fi

python3 - "$BENCH_JSON" <<'EOF' | tee -a "$REPORT"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("(no benchmark results)"); sys.exit()
print()
print("| batch x seq | precision | implementation | step ms | fwd ms | bwd ms | optim ms | tokens/s | peak GiB | vs torch same precision |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
torch_ms = {(r["batch"], r["seq"], r["precision"]): r["step_ms"] for r in rows if r["impl"].startswith("torch")}
for r in sorted(rows, key=lambda r: (-r["seq"], r["precision"], r["impl"])):
    ref = torch_ms.get((r["batch"], r["seq"], r["precision"]))
    ratio = f'{ref / r["step_ms"]:.2f}x speed' if ref and r["impl"].startswith("tinyxf") else ""
    print(f'| {r["batch"]}x{r["seq"]} | {r["precision"]} | {r["impl"]} | {r["step_ms"]:.1f} | {r["forward_ms"]:.1f} | '
          f'{r["backward_ms"]:.1f} | {r["optimizer_ms"]:.1f} | {r["tokens_per_s"]:.0f} | {r["peak_mem_gib"]:.2f} | {ratio} |')
print()
print(f'Device: {rows[0]["device"]}. "x speed" = torch step time / tinyxf step time (> 1: tinyxf faster).')
EOF

say ""
say "Total: $(elapsed) s, overall status $STATUS"
# The device tool returns at most 8 files: the report, the benchmark lines and one log archive.
(cd "$OUT" && tar -czf logs.tar.gz --remove-files ./*.log 2>/dev/null)
exit $STATUS
