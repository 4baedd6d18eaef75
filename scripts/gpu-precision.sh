#!/usr/bin/env bash
# The flagship's precisions side by side on a lent GPU (docs/cuda.md): distilbert-base size from
# scratch, the first LIMIT_TRAIN (default 8000) training reviews of the lecture's split, 1 epoch,
# 512 tokens, batch 16, AdamW lr 1e-4 + linear schedule, validation/test on the first LIMIT_EVAL
# (default 2000) reviews each, once per --precision: fp32 (float32 GEMMs), medium (TF32 GEMMs),
# bf16 (autocast: bf16 GEMMs on the tensor cores, float32 weights). Prints one table: training
# samples/s, test accuracy, wall time. Needs .gpu/bundle.tar.xz (scripts/gpu-prepare.sh) and
# .gpu/imdb_50k.csv.gz (a copy of ../shared/data/imdb/imdb_50k.csv.gz).
#   run(command="scripts/gpu-precision.sh", carry=[".gpu"], timeout_s=400)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu-precision}
mkdir -p "$OUT"
source scripts/gpu-bundle-env.sh
(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true) | tee "$OUT/precision.log"
for precision in ${PRECISIONS:-fp32 medium bf16}; do
  start=$SECONDS
  timeout 150 "$BUNDLE/bin/imdb_distilbert" train --data .gpu/imdb_50k.csv.gz \
    --config examples/imdb_distilbert/configs/distilbert-base-uncased.json --device cuda --precision "$precision" \
    --epochs 1 --limit-train "${LIMIT_TRAIN:-8000}" --limit-eval "${LIMIT_EVAL:-2000}" --batch-size 16 \
    --eval-batch-size 64 --lr 1e-4 --max-length 512 --log-every 100 --output-dir "/tmp/precision-$precision" \
    >"$OUT/$precision.log" 2>&1
  echo "$precision: exit $? after $((SECONDS - start)) s" | tee -a "$OUT/precision.log"
  grep -E "samples/s|test accuracy|epoch 1 done|epoch time" "$OUT/$precision.log" | tail -4 | tee -a "$OUT/precision.log"
done
