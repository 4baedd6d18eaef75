# shellcheck shell=bash
# Shared by the bench/*/run.sh scripts that compare tinyxf with its peers (source it).
#
# The peers' Python: PYTHON (default <repo>/.venv-bench/bin/python, the PyPI environment of
# scripts/setup-bench-env.sh: PyTorch 2.x, ONNX Runtime, transformers, tokenizers; /usr/bin/python3
# when there is none). Debian's python3-torch (PyTorch 1.13, linked to Debian's OpenBLAS) is run
# as an extra column where /usr/bin/python3 imports torch and is not PYTHON itself; DEBIAN_TORCH=0
# leaves it out.
#
#   bench_pythons REPO
# sets PYTHON and DEBIAN_PYTHON (empty: no extra column).
bench_pythons() {
  local repo="$1"
  if [ -z "${PYTHON:-}" ]; then
    if [ -x "$repo/.venv-bench/bin/python" ]; then
      PYTHON="$repo/.venv-bench/bin/python"
    else
      PYTHON=/usr/bin/python3
      echo "run.sh: no $repo/.venv-bench (scripts/setup-bench-env.sh makes it); the peers run on $PYTHON" >&2
    fi
  fi
  DEBIAN_PYTHON=""
  local prefix='import sys; print(sys.prefix)'  # a venv's python is a link to its base interpreter
  if [ "${DEBIAN_TORCH:-auto}" != 0 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null &&
     [ "$("$PYTHON" -c "$prefix" 2>/dev/null)" != "$(/usr/bin/python3 -c "$prefix")" ]; then
    DEBIAN_PYTHON=/usr/bin/python3
  fi
}

#   bench_peer_versions PYTHON...
# prints one line per interpreter: the versions of the peers it has (and PyTorch's matmul library).
bench_peer_versions() {
  local python common
  common="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  for python in "$@"; do
    "$python" - "$python" "$common" <<'PY'
import importlib
import sys

sys.path.insert(0, sys.argv[2])
found = []
for name in ("torch", "onnxruntime", "transformers", "tokenizers"):
    try:
        module = importlib.import_module(name)
    except Exception:
        continue
    found.append(f"{name} {module.__version__}")
    if name == "torch":
        from bench_util import torch_matmul_backend

        found[-1] += f" (fp32 matmuls: {torch_matmul_backend(module)})"
print(f"peers in {sys.argv[1]}: {', '.join(found) or 'none'}")
PY
  done
}

#   bench_warn_load
# warns (stderr) when the machine is busy before a run: PyTorch's OpenMP threads wait at every
# parallel region's barrier for a thread the scheduler has parked, so its multi-thread times
# degrade far more than tinyxf's under load (a 2-thread forward 20x slower at load average 5 on
# 2 cores, where 1 thread was not).
bench_warn_load() {
  local load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l >= n / 2) }'; then
    echo "run.sh: load average $load on $(nproc) cores: other processes are running; the peers'" \
         "multi-thread times will be inflated (measure on a quiet machine)" >&2
  fi
}

# Their common command line is
#   run.sh [BUILD_DIR] [-- extra options for both sides]
# and environment THREADS (default 2: every framework's thread count).
#
#   bench_init DEFAULT_BUILD_DIR BINARY "$@"
# sets REPO (the repository root), BUILD (BUILD_DIR, or REPO/DEFAULT_BUILD_DIR), BIN
# (BUILD/BINARY, which must exist), THREADS, PYTHON and DEBIAN_PYTHON (bench_pythons), EXTRA (an
# array: the options after "--") and TMP (a temporary folder, removed when the script exits).
bench_init() {
  local default_build="$1" binary="$2"
  shift 2
  REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  BUILD="$REPO/$default_build"
  if [ $# -gt 0 ] && [ "$1" != "--" ]; then BUILD="$1"; shift; fi
  if [ "${1:-}" = "--" ]; then shift; fi
  # shellcheck disable=SC2034  # EXTRA is for the sourcing script
  EXTRA=("$@")
  THREADS="${THREADS:-2}"
  bench_pythons "$REPO"
  bench_warn_load
  BIN="$BUILD/$binary"
  if [ ! -x "$BIN" ]; then
    echo "run.sh: $BIN not found; build the target $(basename "$binary") first" >&2
    exit 1
  fi
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
}

#   bench_build REPO BUILD_DIR TARGET THREADS
# configures BUILD_DIR with only the benchmarks on (when it is not configured yet) and builds TARGET.
bench_build() {
  local repo="$1" build="$2" target="$3" threads="$4"
  if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
    cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTINYXF_CUDA=OFF \
      -DTINYXF_BUILD_TESTS=OFF -DTINYXF_BUILD_EXAMPLES=OFF -DTINYXF_BUILD_TOOLS=OFF \
      -DTINYXF_BUILD_BENCH=ON >/dev/null
  fi
  cmake --build "$build" --target "$target" -j "$threads" >/dev/null
}

#   bench_program BUILD_DIR SUBDIR TARGET
# prints the path of a benchmark program (BUILD_DIR/bench/SUBDIR/TARGET), or stops the script
# saying how to build it.
bench_program() {
  local path="$1/bench/$2/$3"
  [[ -x "$path" ]] || { echo "run.sh: $path not built (cmake --build $1 --target $3)" >&2; exit 1; }
  echo "$path"
}

#   bench_machine
# prints the machine line of a benchmark table: cores, CPU model, load.
bench_machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
