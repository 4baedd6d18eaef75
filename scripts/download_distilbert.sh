#!/usr/bin/env bash
# Downloads a Hugging Face checkpoint folder (default distilbert-base-uncased: model.safetensors,
# config.json, vocab.txt) for the flagship's real use, on a machine with internet access:
#
#   scripts/download_distilbert.sh [TARGET_DIR]        # default models/distilbert-base-uncased
#   build/examples/imdb_distilbert/imdb_distilbert train --model models/distilbert-base-uncased \
#       --data imdb_50k.csv --epochs 3 --max-length 512 --lr 5e-5 --limit-train 0 --device cuda
#
# MODEL (default distilbert-base-uncased) picks another repository of the same layout, REVISION
# (default main) a branch or commit, HF_ENDPOINT a mirror. Each file lands under a .part name and
# is renamed only when complete, so an interrupted download never leaves a truncated file behind;
# rerunning skips files already present. Tests and CI never call this.
set -euo pipefail

MODEL="${MODEL:-distilbert-base-uncased}"
REVISION="${REVISION:-main}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:-$REPO_ROOT/models/$MODEL}"
BASE="${HF_ENDPOINT:-https://huggingface.co}/$MODEL/resolve/$REVISION"

mkdir -p "$TARGET"
for file in config.json vocab.txt model.safetensors; do
  if [ -s "$TARGET/$file" ]; then
    echo "have $TARGET/$file"
    continue
  fi
  echo "downloading $BASE/$file"
  curl -fL --retry 3 --retry-delay 2 -o "$TARGET/$file.part" "$BASE/$file"
  mv "$TARGET/$file.part" "$TARGET/$file"
done
# A safetensors file starts with the 8-byte little-endian length of its JSON header, then '{'.
if [ "$(head -c 9 "$TARGET/model.safetensors" | tail -c 1)" != "{" ]; then
  echo "download_distilbert.sh: $TARGET/model.safetensors is not a safetensors file" >&2
  exit 1
fi
ls -l "$TARGET"
