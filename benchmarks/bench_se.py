"""Benchmark of standard errors after raking against their numpy floor (issue 14).

Prints, in one run, on the raked design of ``bench_weighting.py`` (4 margins,
2,600 raking cells) plus a 10-level factor that is not a margin:

- the SEs of ramlab and of the numpy floor (``floor_se.py``) and their largest
  relative difference (they compute the same estimator: it should be ~1e-13);
- ``Design.mean`` of a numeric variable: ramlab's time / the floor's (target: <= 2);
- ``Design.mean`` of the 10-level factor (its proportions): ramlab's time / the
  per-cell floor's (target: <= 2);
- the peak memory (tracemalloc) of that factor's SE / the bytes of its input
  columns, the factor's codes and the weights (target: < 3), on a design that has
  computed an SE before and on a fresh one, and the floor's.

Times are the best of ``--repeat`` rounds that alternate ramlab and the floor, so
that machine load hits both alike; the median of the paired ratios is printed
beside the ratio of the best times. The design is raked outside the timing; the
first ramlab call on it (which may prepare what later calls share) is timed apart.
On a loaded machine, multi-threaded BLAS on small matrices is slower than one
thread: ``OPENBLAS_NUM_THREADS=1`` gives steadier figures (the setting is printed).

Usage: python benchmarks/bench_se.py [--n 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor_se  # noqa: E402
from bench_weighting import LEVELS, make_data, margins_for  # noqa: E402

from ramlab.design import Design  # noqa: E402

FACTOR_LEVELS = 10


def make_design(n):
    """The raked bench design, its data (with the factor ``f10``) and the floor's inputs."""
    df = make_data(n)
    rng = np.random.default_rng(14)
    p = rng.dirichlet(np.full(FACTOR_LEVELS, 4.0))
    df["f10"] = pd.Categorical.from_codes(rng.choice(FACTOR_LEVELS, size=n, p=p).astype(np.int8),
                                          [f"f{i}" for i in range(FACTOR_LEVELS)])
    raked = Design(df, weights="w0").rake(margins_for(df), tol=1e-10)
    floor = floor_se.prepare([df[f"m{j}"].cat.codes.to_numpy() for j in range(len(LEVELS))],
                             df["w0"].to_numpy(), np.asarray(raked.weights, dtype=float))
    return df, raked, floor


def _timed(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def _peak(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n, repeat = args.n, args.repeat
    df, raked, floor = make_design(n)
    y = df["y"].to_numpy()
    codes = df["f10"].cat.codes.to_numpy()

    cases = {
        "numeric": (lambda: raked.mean("y"), lambda: floor_se.se_numeric_mean(floor, y)),
        "factor": (lambda: raked.mean("f10"),
                   lambda: floor_se.se_factor_proportions(floor, codes, FACTOR_LEVELS)),
    }
    first = {}
    best = {name: [np.inf, np.inf] for name in cases}
    paired = {name: [] for name in cases}
    results = {}
    for name, (ours, theirs) in cases.items():
        first[name], results[name] = _timed(ours)
    for _ in range(repeat):
        for name, (ours, theirs) in cases.items():
            t_floor, floor_out = _timed(theirs)
            t_ours, ours_out = _timed(ours)
            best[name][0] = min(best[name][0], t_ours)
            best[name][1] = min(best[name][1], t_floor)
            paired[name].append(t_ours / t_floor)
            results[name] = (ours_out, floor_out)
    diff = {}
    for name, (ours_out, (est, se)) in results.items():
        diff[name] = max(np.max(np.abs(ours_out["se"].to_numpy() / se - 1)),
                         np.max(np.abs(ours_out["estimate"].to_numpy() / est - 1)))

    input_bytes = codes.nbytes + np.asarray(raked.weights).nbytes
    peak = _peak(cases["factor"][0])
    peak_floor = _peak(cases["factor"][1])
    fresh = raked.subset(np.ones(n, dtype=bool))  # the same design, nothing prepared yet
    peak_first = _peak(lambda: fresh.mean("f10"))

    print(f"n = {n:,} rows, raked on margins {LEVELS} ({floor.ncell:,} cells), "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    figures = {}
    for name, label in (("numeric", "mean of a numeric variable"),
                        ("factor", f"proportions of a {FACTOR_LEVELS}-level factor")):
        t_ours, t_floor = best[name]
        ratio = t_ours / t_floor
        med = float(np.median(paired[name]))
        print(f"SE after raking, {label}: ramlab {t_ours * 1e3:.1f} ms (first call "
              f"{first[name] * 1e3:.1f} ms), numpy floor {t_floor * 1e3:.1f} ms: "
              f"{ratio:.2f} x floor (median of paired ratios {med:.2f}; "
              f"largest relative difference {diff[name]:.1e})")
        figures[f"{name}_ratio"] = ratio
        figures[f"{name}_paired_ratio"] = med
        figures[f"{name}_difference"] = diff[name]
    figures["memory_ratio"] = peak / input_bytes
    figures["floor_memory_ratio"] = peak_floor / input_bytes
    figures["first_memory_ratio"] = peak_first / input_bytes
    print(f"peak memory of the factor's SE: {peak / 2**20:.1f} MiB = {figures['memory_ratio']:.2f} x "
          f"input columns ({input_bytes / 2**20:.1f} MiB: codes + weights); first call on a design "
          f"(its variance plan built and kept) {figures['first_memory_ratio']:.2f} x; floor "
          f"{figures['floor_memory_ratio']:.2f} x")
    return figures


if __name__ == "__main__":
    main()
