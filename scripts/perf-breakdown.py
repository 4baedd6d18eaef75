#!/usr/bin/env python3
"""Groups a `perf record` profile of a tinyxf program into the categories of docs/backends.md
(GEMM, kernel time, attention, elementwise, dropout masks, layer_norm, optimizer, ...).

    perf record -o step.data build-bench/bench/train/tinyxf_bench_train --config minilm --steps 4
    scripts/perf-breakdown.py step.data [more.data ...]

Prints, per file, each category's share of the process's CPU samples in percent.
"""
import collections
import re
import subprocess
import sys

CATEGORIES = [  # (category, test on (dso, kind, symbol)), first match wins
    ("GEMM (OpenBLAS kernels + packing)", lambda d, k, s: "openblas" in d or "blis" in d),
    ("kernel (sched_yield, page faults, scheduling)", lambda d, k, s: k == "k" or "sched_yield" in s),
    ("weight init (outside the step)", lambda d, k, s: "libm" in d),
    ("attention outside GEMM", lambda d, k, s: any(t in s for t in ("scaled_dot_product", "softmax", "where"))),
    ("layer_norm", lambda d, k, s: "layer_norm" in s),
    ("optimizer", lambda d, k, s: "adam" in s or "sgd_step" in s),
    ("dropout masks (random)", lambda d, k, s: "random" in s or "dropout" in s or "bernoulli" in s),
    ("elementwise, copies, reductions", lambda d, k, s: any(t in s for t in (
        "map_row", "binary", "unary", "copy", "fill", "RowFnRef", "memset", "memmove", "reduce",
        "sum_wide", "index", "transposed"))),
]
OTHER = "thread pool, allocator, autograd, other"


def breakdown(path):
    report = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", "dso,symbol",
                             "-g", "none", "--stdio"], capture_output=True, text=True, check=True).stdout
    shares = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        name = next((c for c, test in CATEGORIES if test(dso, kind, sym)), OTHER)
        shares[name] += pct
    return shares


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        print(path)
        for name, pct in breakdown(path).most_common():
            print(f"  {pct:5.1f} %  {name}")
