"""Helpers shared by the Python sides of the benchmarks (import like torch_distilbert.py; the
C++ twins are in bench_util.hpp)."""
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
