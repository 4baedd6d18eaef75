#!/usr/bin/env bash
# Builds tinyxf_bench_ops, runs it and compare_torch.py back to back with the same thread count,
# and prints one side-by-side table (markdown) of median times and throughput.
#
#   bench/ops/run.sh [--threads N] [--min-time S] [--filter SUBSTRING]
#
# BUILD_DIR (default: build-bench in the source tree) is configured with only the benchmarks on.
# PYTHON (default: /usr/bin/python3, Debian's python3-torch) runs compare_torch.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
python="${PYTHON:-/usr/bin/python3}"
threads=2
min_time=1.0
filter=""
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    *) echo "usage: $0 [--threads N] [--min-time S] [--filter SUBSTRING]" >&2; exit 2 ;;
  esac
done

if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTINYXF_CUDA=OFF \
    -DTINYXF_BUILD_TESTS=OFF -DTINYXF_BUILD_EXAMPLES=OFF -DTINYXF_BUILD_TOOLS=OFF \
    -DTINYXF_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target tinyxf_bench_ops -j "$threads" >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
TINYXF_NUM_THREADS="$threads" "$build/bench/ops/tinyxf_bench_ops" --threads "$threads" \
  --min-time "$min_time" --filter "$filter" --tsv >"$tmp/tinyxf.tsv"
OMP_NUM_THREADS="$threads" "$python" "$here/compare_torch.py" --threads "$threads" \
  --min-time "$min_time" --filter "$filter" --tsv >"$tmp/torch.tsv"
torch_version="$("$python" -c 'import torch; print(torch.__version__)')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$python" - "$tmp/tinyxf.tsv" "$tmp/torch.tsv" "$threads" "$torch_version" <<'PY'
import sys
def read(path):
    rows = {}
    order = []
    for line in open(path):
        name, ms, rate, unit = line.rstrip("\n").split("\t")
        rows[name] = (float(ms), float(rate), unit)
        order.append(name)
    return rows, order
ours, order = read(sys.argv[1])
theirs, _ = read(sys.argv[2])
threads, version = sys.argv[3], sys.argv[4]
print(f"| case | tinyxf ms | PyTorch {version} ms | tinyxf | PyTorch | speedup |")
print("|---|---:|---:|---:|---:|---:|")
for name in order:
    ms, rate, unit = ours[name]
    if name in theirs:
        tms, trate, _ = theirs[name]
        print(f"| {name} | {ms:.3f} | {tms:.3f} | {rate:.1f} {unit} | {trate:.1f} {unit} | {tms / ms:.2f}x |")
    else:
        print(f"| {name} | {ms:.3f} | - | {rate:.1f} {unit} | - | - |")
print(f"\n{threads} threads each; medians; speedup = PyTorch time / tinyxf time.")
PY
