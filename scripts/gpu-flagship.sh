#!/usr/bin/env bash
# The flagship's full recipe on a lent GPU (docs/cuda.md): distilbert-base size, the lecture's
# 35k/5k/10k split of the 50k IMDB reviews, 512 tokens, batch 16, 3 epochs, AdamW + linear
# warmup/decay, TF32 matmuls. Needs .gpu/bundle.tar.xz (scripts/gpu-prepare.sh) and
# .gpu/imdb_50k.csv.gz (a copy of ../shared/data/imdb/imdb_50k.csv.gz). Extra flags pass through.
#   run(command="scripts/gpu-flagship.sh", carry=[".gpu"], timeout_s=560)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu-flagship}
mkdir -p "$OUT"
source scripts/gpu-bundle-env.sh
(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true) | tee "$OUT/flagship.log"
TINYXF_CUDA_TF32=1 "$BUNDLE/bin/imdb_distilbert" train --data .gpu/imdb_50k.csv.gz \
  --config examples/imdb_distilbert/configs/distilbert-base-uncased.json --device cuda \
  --epochs 3 --batch-size 16 --eval-batch-size 64 --lr 1e-4 --max-length 512 --log-every 500 \
  --output-dir /tmp/flagship "$@" 2>&1 | tee -a "$OUT/flagship.log"
cp /tmp/flagship/metrics.json "$OUT/"
