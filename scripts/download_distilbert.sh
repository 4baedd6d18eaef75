#!/usr/bin/env bash
# Downloads a Hugging Face checkpoint folder (default distilbert-base-uncased: model.safetensors,
# config.json, vocab.txt; pytorch_model.bin and tokenizer.json where a repository lacks those) for
# the flagship's real use, on a machine with internet access:
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
# fetch FILE: downloads one file unless it is there; returns 1 (leaving nothing behind) when the
# repository has no such file (HTTP 404), fails on any other error.
fetch() {
  local file=$1
  if [ -s "$TARGET/$file" ]; then
    echo "have $TARGET/$file"
    return 0
  fi
  echo "downloading $BASE/$file"
  local code
  code=$(curl -sSL --retry 3 --retry-delay 2 -w '%{http_code}' -o "$TARGET/$file.part" "$BASE/$file") || {
    rm -f "$TARGET/$file.part"
    echo "download_distilbert.sh: $BASE/$file failed" >&2
    exit 1
  }
  if [ "$code" = 404 ]; then
    rm -f "$TARGET/$file.part"
    echo "  (the repository has no $file)"
    return 1
  fi
  if [ "$code" != 200 ]; then
    rm -f "$TARGET/$file.part"
    echo "download_distilbert.sh: $BASE/$file: HTTP $code" >&2
    exit 1
  fi
  mv "$TARGET/$file.part" "$TARGET/$file"
}

fetch config.json || { echo "download_distilbert.sh: $MODEL has no config.json" >&2; exit 1; }
# Tokenizer: vocab.txt, else the fast tokenizer's tokenizer.json (from_pretrained reads either).
fetch vocab.txt || fetch tokenizer.json || { echo "download_distilbert.sh: $MODEL has neither vocab.txt nor tokenizer.json" >&2; exit 1; }
# Weights, in transformers' order: model.safetensors, else pytorch_model.bin (torch.save's format).
# (Sharded checkpoints: download the *.index.json and the shards it names by hand.)
if fetch model.safetensors; then
  # A safetensors file starts with the 8-byte little-endian length of its JSON header, then '{'.
  if [ "$(head -c 9 "$TARGET/model.safetensors" | tail -c 1)" != "{" ]; then
    echo "download_distilbert.sh: $TARGET/model.safetensors is not a safetensors file" >&2
    exit 1
  fi
elif fetch pytorch_model.bin; then
  # torch.save's format is a zip archive: "PK\x03\x04".
  if [ "$(head -c 2 "$TARGET/pytorch_model.bin")" != "PK" ]; then
    echo "download_distilbert.sh: $TARGET/pytorch_model.bin is not a torch.save zip archive" >&2
    exit 1
  fi
else
  echo "download_distilbert.sh: $MODEL has neither model.safetensors nor pytorch_model.bin" >&2
  exit 1
fi
ls -l "$TARGET"
