"""Benchmark of replicate-weight designs (issue 13): rake, a mean, a 10-category proportion.

Prints, in one run:
- on ``--n`` rows (default 1,000,000) with ``--replicates`` bootstrap
  replicate weights (default 80): the time to rake the full sample and every
  replicate on 4 margins (10, 5, 13, 4 categories, tol 1e-10), then a mean
  and a 10-category proportion with their replicate SEs; the same on the
  linearised design, and the ratio;
- the peak memory of the raking (tracemalloc) beyond the input and the raked
  output, as a multiple of the replicate weight matrix (target: < 1);
- the same replicate work on ``--r-n`` rows (default 100,000) in ramlab and in
  R ``survey`` (svrepdesign, rake, svymean x 2; skipped without Rscript), and
  the ratio R / ramlab.

Usage: python benchmarks/bench_replicate.py [--n 1000000] [--replicates 80] [--r-n 100000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_weighting import make_data, margins_for  # noqa: E402

from ramlab import Design, ReplicateDesign  # noqa: E402

R_SCRIPT = r"""
suppressPackageStartupMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
df <- read.csv(args[1])
for (v in c("m0", "m1", "m2", "m3", "q10")) df[[v]] <- factor(df[[v]])
reps <- as.matrix(df[, grep("^rep", names(df))])
pops <- lapply(c("m0", "m1", "m2", "m3"), function(v) read.csv(file.path(args[2], paste0(v, ".csv"))))
t0 <- proc.time()[["elapsed"]]
d <- svrepdesign(data = df[, c("m0", "m1", "m2", "m3", "q10", "y", "w0")], repweights = reps,
                 weights = ~w0, type = "bootstrap", combined.weights = TRUE)
r <- rake(d, list(~m0, ~m1, ~m2, ~m3), pops, control = list(epsilon = 1e-10, maxit = 100))
m1 <- svymean(~y, r)
m2 <- svymean(~q10, r)
cat(proc.time()[["elapsed"]] - t0, SE(m1), "\n")
"""


def make(n, replicates, seed=20261130):
    df = make_data(n)
    rng = np.random.default_rng(seed)
    df["q10"] = pd.Categorical.from_codes(rng.integers(0, 10, size=n), [f"q{i}" for i in range(10)])
    # bootstrap-like multipliers (Poisson(1)), column-major: one replicate is contiguous
    A = np.asfortranarray(rng.poisson(1.0, size=(n, replicates)).astype(float))
    A *= df["w0"].to_numpy()[:, None]
    return df, A


def work(design, margins):
    raked = design.rake(margins, tol=1e-10)
    return raked, raked.mean("y"), raked.mean("q10")


def timed(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def replicate_design(df, A, replicates):
    return ReplicateDesign.from_replicates(df, df["w0"].to_numpy(), A, type="bootstrap",
                                           scale=1 / (replicates - 1), rscales=np.ones(replicates))


def r_seconds(df, A, margins):
    """Seconds R takes for the same work (svrepdesign, rake, two svymeans), or None."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = df[["m0", "m1", "m2", "m3", "q10", "y", "w0"]].copy()
        reps = pd.DataFrame(A, columns=[f"rep{r + 1}" for r in range(A.shape[1])])
        pd.concat([out, reps], axis=1).to_csv(Path(tmp) / "data.csv", index=False)
        for v, m in margins.items():
            pd.DataFrame({v: list(m), "Freq": list(m.values())}).to_csv(Path(tmp) / f"{v}.csv", index=False)
        (Path(tmp) / "bench.R").write_text(R_SCRIPT)
        res = subprocess.run([rscript, str(Path(tmp) / "bench.R"), str(Path(tmp) / "data.csv"), tmp],
                             capture_output=True, text=True, check=True)
        return float(res.stdout.split()[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--replicates", type=int, default=80)
    ap.add_argument("--r-n", type=int, default=100_000)
    ap.add_argument("--no-r", action="store_true", help="skip the comparison with R")
    args = ap.parse_args(argv)
    n, R = args.n, args.replicates
    df, A = make(n, R)
    margins = margins_for(df)
    warm, Aw = make(2000, 3)  # first calls import scipy & co.: not part of either timing
    work(Design(warm, weights="w0"), margins_for(warm))
    work(replicate_design(warm, Aw, 3), margins_for(warm))
    t_lin, (_, lin_mean, _) = timed(lambda: work(Design(df, weights="w0"), margins))
    t_rep, (raked, rep_mean, rep_prop) = timed(lambda: work(replicate_design(df, A, R), margins))
    rep = replicate_design(df, A, R)
    tracemalloc.start()
    rep.rake(margins, tol=1e-10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    beyond = max(peak - A.nbytes, 0) / A.nbytes  # the raked replicates are the output
    print(f"n = {n:,} rows x {R} bootstrap replicates; rake on 4 margins, mean of y, 10-category proportion")
    print(f"linearised design: {t_lin:.2f} s (se of the mean {lin_mean['se'].iloc[0]:.5g})")
    print(f"replicate design:  {t_rep:.2f} s (se of the mean {rep_mean['se'].iloc[0]:.5g}) "
          f"= {t_rep / t_lin:.2f} x the linearised design")
    print(f"peak memory of raking, beyond the raked replicates: {beyond:.3f} x the replicate weight "
          f"matrix ({A.nbytes / 2**20:.0f} MiB)")
    figures = {"linearised_s": t_lin, "replicate_s": t_rep, "ratio": t_rep / t_lin, "memory_ratio": beyond}
    if not args.no_r:
        small, As = make(args.r_n, R)
        m_small = margins_for(small)
        t_small, _ = timed(lambda: work(replicate_design(small, As, R), m_small))
        t_r = r_seconds(small, As, m_small)
        if t_r is None:
            print("R: Rscript not found, comparison skipped")
        else:
            print(f"{args.r_n:,} rows x {R} replicates: ramlab {t_small:.2f} s, R survey {t_r:.2f} s "
                  f"= R / ramlab {t_r / t_small:.1f}")
            figures.update(ramlab_small_s=t_small, r_small_s=t_r)
    return figures


if __name__ == "__main__":
    main()
