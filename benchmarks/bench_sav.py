"""Benchmark of ramlab.read_sav against pyreadstat's own read.

Writes (with pyreadstat) a file of 200,000 rows x 100 columns: 80 labelled
numeric variables (2 to 12 answer codes, a user-missing "Ne sait pas" on one in
four, some system-missing values) and 20 unlabelled numeric ones (a
user-missing range on one in four). Then prints:

- the time of ``pyreadstat.read_sav(path, user_missing=True)`` (codes as
  stored, no labels applied), best of several repeats;
- the time of ``ramlab.read_sav(path)`` (labels applied as categoricals,
  user-missing codes of measures set to NaN), best of several repeats, and
  its ratio to the first (target: <= 1.3);
- the peak memory of each read, measured in a fresh subprocess as the growth
  of the maximum resident set size (``ru_maxrss``) during the read, and its
  ratio (target: <= 1.3); and the same ratio by tracemalloc in this process.

Usage: python benchmarks/bench_sav.py [--rows 200000] [--repeat 3] [--small]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

N_COLUMNS = 100
N_LABELLED = 80

# The peak resident set of the process (KiB): VmHWM of /proc/self/status, which
# starts afresh in a new program, unlike ru_maxrss (Linux keeps the parent's
# peak across exec). Elsewhere, ru_maxrss.
_CHILD = r"""
import json, resource, sys
import pyreadstat
import ramlab.io.sav

def peak():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

path, which = sys.argv[1], sys.argv[2]
before = peak()
if which == "pyreadstat":
    df, meta = pyreadstat.read_sav(path, user_missing=True)
else:
    df = ramlab.io.sav.read_sav(path)
after = peak()
print(json.dumps({"peak_kib": after - before, "shape": list(df.shape)}))
"""


def make_file(path, rows, seed=20261130):
    """Write the benchmark file; return its path."""
    import pyreadstat

    rng = np.random.default_rng(seed)
    cols, labels, missing = {}, {}, {}
    for j in range(N_COLUMNS):
        name = f"v{j:03d}"
        if j < N_LABELLED:
            k = int(rng.integers(2, 13))
            codes = rng.integers(1, k + 1, rows).astype(float)
            codes[rng.random(rows) < 0.03] = np.nan
            labels[name] = {float(c): f"Réponse {c} de la question {j}" for c in range(1, k + 1)}
            if j % 4 == 0:
                codes[rng.random(rows) < 0.05] = 9.0 if k < 9 else 99.0
                code = 9.0 if k < 9 else 99.0
                labels[name][code] = "Ne sait pas"
                missing[name] = [code]
            cols[name] = codes
        else:
            values = np.round(rng.gamma(2.0, 1000.0, rows), 2)
            if j % 4 == 0:
                values[rng.random(rows) < 0.02] = -1.0
                missing[name] = [{"lo": -9.0, "hi": -1.0}]
            cols[name] = values
    pyreadstat.write_sav(pd.DataFrame(cols), str(path), variable_value_labels=labels,
                         missing_ranges=missing)
    return path


def best_time(func, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
        del result
    return best


def child_peak(path, which):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), which],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])["peak_kib"] * 1024.0


def traced_peak(func):
    tracemalloc.start()
    try:
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return float(peak)


def main(argv=None):
    import pyreadstat

    from ramlab.io.sav import read_sav

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="2,000 rows, one repeat (a smoke run)")
    args = parser.parse_args(argv)
    rows, repeat = (2_000, 1) if args.small else (args.rows, args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp) / "bench.sav", rows)
        size = path.stat().st_size

        def base():
            return pyreadstat.read_sav(str(path), user_missing=True)

        def ours():
            return read_sav(path)

        ours()  # warm-up: imports and first-call costs on both sides
        base()
        t_base = best_time(base, repeat)
        t_ours = best_time(ours, repeat)
        rss_base = child_peak(path, "pyreadstat")
        rss_ours = child_peak(path, "ramlab")
        tm_base = traced_peak(base)
        tm_ours = traced_peak(ours)

    figures = {
        "pyreadstat_s": t_base,
        "read_sav_s": t_ours,
        "time_ratio": t_ours / t_base,
        "rss_ratio": rss_ours / rss_base if rss_base > 0 else float("nan"),
        "tracemalloc_ratio": tm_ours / tm_base,
    }
    print(f"file: {rows:,} rows x {N_COLUMNS} columns ({N_LABELLED} labelled), {size / 1e6:.1f} MB")
    print(f"pyreadstat.read_sav(user_missing=True): {t_base:.3f} s (best of {repeat})")
    print(f"ramlab.read_sav:                        {t_ours:.3f} s (best of {repeat})")
    print(f"time ratio: {figures['time_ratio']:.2f} (target <= 1.3)")
    print(f"peak memory, max RSS growth in a subprocess: pyreadstat {rss_base / 1e6:.1f} MB, "
          f"ramlab {rss_ours / 1e6:.1f} MB, ratio {figures['rss_ratio']:.2f} (target <= 1.3)")
    print(f"peak memory, tracemalloc: pyreadstat {tm_base / 1e6:.1f} MB, ramlab {tm_ours / 1e6:.1f} MB, "
          f"ratio {figures['tracemalloc_ratio']:.2f}")
    return figures


if __name__ == "__main__":
    main()
