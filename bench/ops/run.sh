#!/usr/bin/env bash
# Builds tinyxf_bench_ops, runs it and compare_torch.py back to back with the same thread count,
# and prints one side-by-side table (markdown) of median times and throughput.
#
#   bench/ops/run.sh [--threads N] [--min-time S] [--filter SUBSTRING]
#
# BUILD_DIR (default: build-bench in the source tree) is configured with only the benchmarks on.
# PYTHON (default: <repo>/.venv-bench/bin/python from scripts/setup-bench-env.sh, PyPI's PyTorch
# 2.x; /usr/bin/python3 without it; see bench/common/run_util.sh) runs compare_torch.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../common/run_util.sh
source "$here/../common/run_util.sh"
bench_pythons "$root"
bench_warn_load
build="${BUILD_DIR:-$root/build-bench}"
python="$PYTHON"
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

bench_build "$root" "$build" tinyxf_bench_ops "$threads"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
TINYXF_NUM_THREADS="$threads" "$build/bench/ops/tinyxf_bench_ops" --threads "$threads" \
  --min-time "$min_time" --filter "$filter" --tsv >"$tmp/tinyxf.tsv"
OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$python" "$here/compare_torch.py" --threads "$threads" \
  --min-time "$min_time" --filter "$filter" --tsv >"$tmp/torch.tsv"
torch_version="$("$python" -c 'import torch; print(torch.__version__)')"
peers=("$tmp/torch.tsv" "PyTorch $torch_version")
if [ -n "$DEBIAN_PYTHON" ]; then  # the extra column: Debian's PyTorch 1.13 (OpenBLAS)
  OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" "$DEBIAN_PYTHON" "$here/compare_torch.py" \
    --threads "$threads" --min-time "$min_time" --filter "$filter" --tsv >"$tmp/debian.tsv"
  peers+=("$tmp/debian.tsv" "PyTorch $("$DEBIAN_PYTHON" -c 'import torch; print(torch.__version__)') (Debian)")
fi
bench_peer_versions "$python" ${DEBIAN_PYTHON:+"$DEBIAN_PYTHON"} >&2
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$python" - "$threads" "$tmp/tinyxf.tsv" "${peers[@]}" <<'PY'
import sys
def read(path):
    rows = {}
    order = []
    for line in open(path):
        name, ms, rate, unit = line.rstrip("\n").split("\t")
        rows[name] = (float(ms), float(rate), unit)
        order.append(name)
    return rows, order
threads = sys.argv[1]
ours, order = read(sys.argv[2])
peers = [(read(path)[0], label) for path, label in zip(sys.argv[3::2], sys.argv[4::2])]
print("| case | tinyxf ms | " + " | ".join(f"{label} ms" for _, label in peers) + " | tinyxf | "
      + " | ".join(label for _, label in peers) + " | " + " | ".join(f"speedup vs {label}" for _, label in peers) + " |")
print("|---|" + "---:|" * (2 + 3 * len(peers)))
for name in order:
    ms, rate, unit = ours[name]
    cells = [f"{ms:.3f}"] + [f"{rows[name][0]:.3f}" if name in rows else "-" for rows, _ in peers]
    cells += [f"{rate:.1f} {unit}"] + [f"{rows[name][1]:.1f} {unit}" if name in rows else "-" for rows, _ in peers]
    cells += [f"{rows[name][0] / ms:.2f}x" if name in rows else "-" for rows, _ in peers]
    print(f"| {name} | " + " | ".join(cells) + " |")
print(f"\n{threads} threads each; medians; speedup vs X = X's time / tinyxf's time.")
PY
