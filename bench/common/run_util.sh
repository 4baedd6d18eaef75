# shellcheck shell=bash
# Shared by the bench/*/run.sh scripts that compare a tinyxf binary with a PyTorch script (source
# it). Their common command line is
#   run.sh [BUILD_DIR] [-- extra options for both sides]
# and environment THREADS (default 2: both frameworks' thread count) and PYTHON (default
# /usr/bin/python3, Debian's python3-torch).
#
#   bench_init DEFAULT_BUILD_DIR BINARY "$@"
# sets REPO (the repository root), BUILD (BUILD_DIR, or REPO/DEFAULT_BUILD_DIR), BIN
# (BUILD/BINARY, which must exist), THREADS, PYTHON, EXTRA (an array: the options after "--") and
# TMP (a temporary folder, removed when the script exits).
bench_init() {
  local default_build="$1" binary="$2"
  shift 2
  REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  BUILD="${1:-$REPO/$default_build}"
  if [ $# -gt 0 ]; then shift; fi
  if [ "${1:-}" = "--" ]; then shift; fi
  # shellcheck disable=SC2034  # EXTRA is for the sourcing script
  EXTRA=("$@")
  THREADS="${THREADS:-2}"
  PYTHON="${PYTHON:-/usr/bin/python3}"
  BIN="$BUILD/$binary"
  if [ ! -x "$BIN" ]; then
    echo "run.sh: $BIN not found; build the target $(basename "$binary") first" >&2
    exit 1
  fi
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
}
