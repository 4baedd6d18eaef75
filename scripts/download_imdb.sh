#!/usr/bin/env bash
# Downloads the IMDB Large Movie Review Dataset v1.0 (aclImdb; Maas et al., "Learning Word Vectors
# for Sentiment Analysis", ACL 2011) from Stanford, verifies it and unpacks it as
#   DIR/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt      (read by tinyxf::data::read_aclimdb)
# With --csv it also writes DIR/imdb_50k.csv: the 50,000 labeled reviews as `review,sentiment`
# (1 = positive, 0 = negative), in aclImdb order train/pos, train/neg, test/pos, test/neg, each by
# numeric id (read by tinyxf::data::read_imdb_csv; split_official cuts it 25,000 / 25,000).
#
# Usage: scripts/download_imdb.sh [--csv] [DIR]      DIR defaults to data/
# Re-running is safe and cheap: finished steps are detected and skipped.
# Needs curl or wget, tar, sha256sum (or shasum), and python3 for --csv. Not run by the tests.
set -euo pipefail

readonly URL="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# Size and SHA-256 of aclImdb_v1.tar.gz as recorded by TensorFlow Datasets
# (tensorflow/datasets, tensorflow_datasets/datasets/imdb_reviews/checksums.tsv) and used by many
# other loaders; Stanford itself publishes no checksum.
readonly EXPECTED_BYTES=84125825
readonly EXPECTED_SHA256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"

usage() {
  sed -n '2,12s/^# \{0,1\}//p' "$0"
}

die() {
  echo "download_imdb.sh: error: $*" >&2
  exit 1
}

say() {
  echo "download_imdb.sh: $*"
}

write_csv=false
target=""
while (($# > 0)); do
  case "$1" in
    --csv) write_csv=true ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z "$target" ]] || die "more than one target folder given ('$target' and '$1')"
      target="$1"
      ;;
  esac
  shift
done
target="${target:-data}"

# Checked up front: a tool missing inside $(...) would read as a checksum mismatch.
if command -v sha256sum >/dev/null 2>&1; then
  sha256_command=(sha256sum)
elif command -v shasum >/dev/null 2>&1; then
  sha256_command=(shasum -a 256)
else
  die "neither sha256sum nor shasum is installed"
fi

sha256_of() {
  local line
  line="$("${sha256_command[@]}" "$1")"
  echo "${line%% *}"
}

tarball_is_good() {
  local bytes digest
  [[ -f "$1" ]] || return 1
  bytes="$(wc -c <"$1")"
  [[ "${bytes// /}" == "$EXPECTED_BYTES" ]] || return 1
  digest="$(sha256_of "$1")"
  [[ "$digest" == "$EXPECTED_SHA256" ]]
}

tree_is_complete() {
  local split label
  for split in train test; do
    for label in pos neg; do
      [[ -d "$1/$split/$label" ]] || return 1
    done
  done
}

download() {  # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl --fail --location --retry 3 --connect-timeout 30 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --tries=3 --timeout=30 --output-document="$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

mkdir -p "$target"
tree="$target/aclImdb"
tarball="$target/aclImdb_v1.tar.gz"

if tree_is_complete "$tree"; then
  say "$tree is already there; nothing to download"
else
  [[ ! -e "$tree" ]] || die "$tree exists but lacks some of {train,test}/{pos,neg}; remove it and run again"
  command -v tar >/dev/null 2>&1 || die "tar is not installed"
  if tarball_is_good "$tarball"; then
    say "reusing $tarball (checksum verified)"
  else
    if [[ -e "$tarball" ]]; then
      say "$tarball does not match the expected checksum; downloading it again"
      rm -f "$tarball"
    fi
    say "downloading $URL (about 80 MiB) ..."
    download "$URL" "$tarball.part" || { rm -f "$tarball.part"; die "download of $URL failed (no network, or the server is unavailable)"; }
    tarball_is_good "$tarball.part" || die "the downloaded file has the wrong size or SHA-256 (expected $EXPECTED_BYTES bytes, sha256 $EXPECTED_SHA256); kept as $tarball.part for inspection"
    mv "$tarball.part" "$tarball"
    say "checksum verified"
  fi
  # Unpack next to the target and rename at the end, so an interrupted run leaves no partial tree.
  staging="$target/.aclImdb.unpacking"
  rm -rf "$staging"
  mkdir "$staging"
  say "unpacking into $tree ..."
  tar -xzf "$tarball" -C "$staging"
  tree_is_complete "$staging/aclImdb" || die "$tarball did not contain aclImdb/{train,test}/{pos,neg}"
  mv "$staging/aclImdb" "$tree"
  rmdir "$staging"
  say "done: $tree ($tarball can be deleted)"
fi

if $write_csv; then
  csv="$target/imdb_50k.csv"
  if [[ -f "$csv" ]]; then
    say "$csv is already there"
  else
    command -v python3 >/dev/null 2>&1 || die "python3 is needed for --csv"
    say "writing $csv ..."
    python3 - "$tree" "$csv.part" <<'PY' || { rm -f "$csv.part"; die "writing $csv failed"; }
import csv, pathlib, re, sys

tree, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with open(out, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(["review", "sentiment"])
    for split in ("train", "test"):
        for folder, label in (("pos", 1), ("neg", 0)):
            files = []
            for path in (tree / split / folder).glob("*.txt"):
                match = re.fullmatch(r"(\d+)_\d+\.txt", path.name)
                if not match:
                    sys.exit(f"unexpected file name {path}")
                files.append((int(match[1]), path))
            for _, path in sorted(files):
                with open(path, encoding="utf-8", newline="") as review:
                    writer.writerow([review.read(), label])
            print(f"  {split}/{folder}: {len(files)} reviews")
PY
    mv "$csv.part" "$csv"
    csv_sha256="$(sha256_of "$csv")"
    say "done: $csv (sha256 $csv_sha256)"
  fi
fi
