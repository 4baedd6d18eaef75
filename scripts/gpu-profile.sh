#!/usr/bin/env bash
# Where a distilbert-base training step spends its GPU time (docs/cuda.md): per-kernel times of
# one step at batch 16 x 512 with 1 layer, tinyxf under Nsight Compute (gpu__time_duration only,
# clocks left alone) and PyTorch under torch.profiler, on the same GPU. Needs the bundle of
# scripts/gpu-prepare.sh.   run(command="scripts/gpu-profile.sh", carry=[".gpu"], timeout_s=300)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu-profile}
mkdir -p "$OUT"
source scripts/gpu-bundle-env.sh
# SHAPE="--batch 32 --seq 128 --layers 6" profiles another shape (default: one layer at 16 x 512).
read -r -a SHAPE <<<"${SHAPE:---batch 16 --seq 512 --layers 1}"
# PRECISION=fp32 (default) | tf32 | bf16 (autocast) profiles that precision in both programs.
PRECISION=${PRECISION:-fp32}
case "$PRECISION" in
  fp32) TX_FLAGS=() ;;
  tf32) TX_FLAGS=(--tf32) ;;
  bf16) TX_FLAGS=(--bf16) ;;
  *) echo "PRECISION must be fp32, tf32 or bf16, got $PRECISION" >&2; exit 2 ;;
esac
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
echo "ncu: ${NCU:-not found}"
# Two steps are profiled (warm-up + timed); the totals below are per step.
timeout 200 "$NCU" --metrics gpu__time_duration.sum --csv --print-units base --clock-control none \
  "$BUNDLE/bin/tinyxf-bench-cuda-train" "${SHAPE[@]}" "${TX_FLAGS[@]}" --steps 1 --warmup 1 >"$OUT/ncu.csv" 2>"$OUT/ncu.err"
echo "ncu exit $?"
python3 - "$OUT/ncu.csv" "$PRECISION" "${SHAPE[*]}" <<'PY' | tee "$OUT/tinyxf-kernels.txt"
import csv, collections, sys
rows = [l for l in open(sys.argv[1]) if l.startswith('"')]
total, count = collections.Counter(), collections.Counter()
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum": continue
    name = r["Kernel Name"][:200]
    total[name] += float(r["Metric Value"].replace(",", "")) / 2 / 1e3  # us per step
    count[name] += 0.5
print(f"tinyxf, one training step ({sys.argv[3]}), {sys.argv[2]}: {sum(total.values()):.0f} us of kernels in {sum(count.values()):.0f} launches")
for name, us in total.most_common(40):
    print(f"{us:10.1f} us {count[name]:5.0f}x  {name}")
PY
# The same step without the profiler: its wall time next to the kernel sum above says how busy the
# GPU is (a step much longer than its kernels waits on the host: launches, allocator, syncs; the
# front end alone costs ~0.6 ms per distilbert-base step, bench/overhead).
timeout 60 "$BUNDLE/bin/tinyxf-bench-cuda-train" "${SHAPE[@]}" "${TX_FLAGS[@]}" --steps 10 --warmup 3 |
  tee "$OUT/tinyxf-step.json"
timeout 120 python3 bench/cuda_train/torch_train_step.py "${SHAPE[@]}" --precision "$PRECISION" --steps 2 --warmup 2 --profile \
  >"$OUT/torch.json" 2>"$OUT/torch-kernels.txt"
echo "torch exit $?"; cat "$OUT/torch-kernels.txt"
gzip -f "$OUT/ncu.csv"
