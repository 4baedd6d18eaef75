"""Helpers shared by the Python sides of the benchmarks (import like torch_distilbert.py; the
C++ twins are in bench_util.hpp)."""
import argparse
import statistics
import time


def time_runs(warmup, reps, fn):
    """Runs fn warmup times untimed, then reps times timed; returns (median, min) in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def inference_parser(configs):
    """The options that bench/distilbert's Python sides share with tinyxf_bench_distilbert:
    --config (one of configs), --threads, --reps, --warmup, --shapes, --tsv."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=sorted(configs), default="base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--shapes", default="16x128,8x512")
    ap.add_argument("--tsv", action="store_true")
    return ap


def proc_status_mib(field):
    """A memory field of /proc/self/status ("VmRSS": resident now, "VmHWM": peak resident) in MiB;
    0 where the file or the field is missing (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # the kernel reports kB (KiB)
    except OSError:
        pass
    return 0.0


def torch_matmul_backend(torch):
    """What the given torch module's fp32 CPU matmuls (Linear, bmm) run on: "MKL 2024.2" (PyPI's
    wheels: MKL's sgemm; oneDNN does convolutions and reduced-precision matmuls there) or
    "OpenBLAS <kernel set>" (Debian's python3-torch: the kernel set that the loaded OpenBLAS
    chose, or that OPENBLAS_CORETYPE forced; call it after a matmul)."""
    import ctypes
    import re

    config = torch.__config__.show()
    if "BLAS_INFO=mkl" in config:
        mkl = re.search(r"Math Kernel Library Version ([0-9.]+)", config)
        return "MKL " + (mkl.group(1) if mkl else "?")
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if "openblas" in line.lower() and "scipy_openblas" not in line})  # not numpy's own
    for lib in libs:
        try:
            corename = ctypes.CDLL(lib).openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return "OpenBLAS " + corename().decode()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    return blas.group(1) if blas else "?"
