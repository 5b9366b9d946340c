"""Benchmark of ramlab weighting at survey scale.

Prints, in one run:
- the baseline: one weighted ``np.bincount`` over one categorical column's
  codes (``series.cat.codes``), best of several repeats;
- raking of 4 margins (10, 5, 13, 4 categories; pandas categorical columns)
  to a relative error of 1e-10, ``Design`` construction and validation
  included, as a ratio to the baseline (target: <= 4);
- linear and logit calibration on 30 parameters (4 categorical margins, i.e.
  29 independent constraints, plus one numeric total), in seconds
  (target: < 1 s each), and the same with 30 numeric parameters (a dense
  model matrix);
- the standard error of a mean after raking, in seconds (target: < 0.5 s);
- peak memory (tracemalloc) of raking / bytes of the input columns
  (target: < 10).

Usage: python benchmarks/bench_weighting.py [--n 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

from ramlab.design import Design

LEVELS = (10, 5, 13, 4)


def make_data(n, seed=20261126):
    rng = np.random.default_rng(seed)
    cols = {}
    for j, k in enumerate(LEVELS):
        p = rng.dirichlet(np.full(k, 3.0))
        codes = rng.choice(k, size=n, p=p).astype(np.int8)
        cats = [f"m{j}_c{i}" for i in range(k)]
        cols[f"m{j}"] = pd.Categorical.from_codes(codes, categories=cats)
    df = pd.DataFrame(cols)
    df["x"] = rng.gamma(2.0, 10.0, size=n)
    df["y"] = rng.normal(50, 10, size=n) + 5 * df["m0"].cat.codes.to_numpy()
    df["w0"] = rng.uniform(0.5, 2.0, size=n)
    return df


def margins_for(df, seed=7, population=None):
    """Population margins: the sample's shares distorted by up to +-25 %."""
    rng = np.random.default_rng(seed)
    population = 1.7 * len(df) if population is None else population
    margins = {}
    for j, k in enumerate(LEVELS):
        share = np.bincount(df[f"m{j}"].cat.codes, minlength=k) / len(df)
        p = share * rng.uniform(0.75, 1.25, size=k)
        p = p / p.sum()
        cats = df[f"m{j}"].cat.categories
        margins[f"m{j}"] = {c: float(v) for c, v in zip(cats, p * population)}
    return margins


def best(f, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n, repeat = args.n, args.repeat
    df = make_data(n)
    margins = margins_for(df)
    w = df["w0"].to_numpy()

    def baseline():
        return np.bincount(df["m2"].cat.codes, weights=w)

    def do_rake():
        return Design(df, weights="w0").rake(margins, tol=1e-10)

    # Interleave the two measurements so that machine load hits both alike;
    # report the ratio of the best times and the median of paired ratios.
    t_base, t_rake = np.inf, np.inf
    paired = []
    for _ in range(repeat):
        tb, _ = best(baseline, 1)
        tr, raked = best(do_rake, 1)
        t_base, t_rake = min(t_base, tb), min(t_rake, tr)
        paired.append(tr / tb)
    # check the margins really hold
    err = 0.0
    for var, m in margins.items():
        got = raked.weights.groupby(df[var], observed=False).sum()
        for c, v in m.items():
            err = max(err, abs(got[c] - v) / v)

    totals = dict(margins)
    totals["x"] = float((df["x"] * df["w0"]).sum() / df["w0"].sum() * 1.7 * n * 1.05)
    d0 = Design(df, weights="w0")
    t_lin, _ = best(lambda: d0.calibrate(totals, method="linear"), max(1, repeat // 2))
    t_logit, _ = best(
        lambda: d0.calibrate(totals, method="logit", bounds=(0.3, 3.0)), max(1, repeat // 2)
    )
    nparam = sum(LEVELS) - (len(LEVELS) - 1) + 1
    # the same number of parameters as 29 numeric columns and an intercept
    # (a dense model matrix: no cell structure to exploit)
    rng = np.random.default_rng(11)
    num = pd.DataFrame({f"z{j}": rng.gamma(2.0, 1.0, size=n) for j in range(nparam - 1)})
    num["w0"] = w
    num_totals = {c: float(w @ num[c].to_numpy() * rng.uniform(0.97, 1.03)) for c in num.columns[:-1]}
    dn = Design(num, weights="w0")
    t_lin_num, _ = best(lambda: dn.calibrate(num_totals, method="linear", population=float(w.sum())),
                        max(1, repeat // 3))
    t_logit_num, _ = best(lambda: dn.calibrate(num_totals, method="logit", bounds=(0.3, 3.0),
                                               population=float(w.sum())), max(1, repeat // 3))
    del num, dn
    t_se, se = best(lambda: raked.mean("y"), repeat)

    tracemalloc.start()
    Design(df, weights="w0").rake(margins, tol=1e-10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    input_bytes = sum(df[f"m{j}"].cat.codes.nbytes for j in range(len(LEVELS))) + w.nbytes

    print(f"n = {n:,} rows, margins {LEVELS}, tol 1e-10")
    print(f"baseline (weighted np.bincount over one column's cat.codes): {t_base * 1e3:.2f} ms")
    print(f"rake (construction + validation + raking): {t_rake * 1e3:.2f} ms "
          f"= {t_rake / t_base:.2f} x baseline (median of paired ratios {np.median(paired):.2f}; "
          f"max relative margin error {err:.1e})")
    print(f"calibrate linear ({nparam} parameters): {t_lin:.3f} s")
    print(f"calibrate logit  ({nparam} parameters, bounds 0.3-3): {t_logit:.3f} s")
    print(f"calibrate linear ({nparam} parameters, all numeric: intercept + {nparam - 1} columns): "
          f"{t_lin_num:.3f} s")
    print(f"calibrate logit  ({nparam} parameters, all numeric, bounds 0.3-3): {t_logit_num:.3f} s")
    print(f"SE of a mean after raking: {t_se:.3f} s (se = {se['se'].iloc[0]:.6g})")
    print(f"peak memory of raking: {peak / 2**20:.1f} MiB = {peak / input_bytes:.2f} x input columns "
          f"({input_bytes / 2**20:.1f} MiB)")
    return {
        "baseline_s": t_base,
        "rake_ratio": t_rake / t_base,
        "linear_s": t_lin,
        "logit_s": t_logit,
        "linear_numeric_s": t_lin_num,
        "logit_numeric_s": t_logit_num,
        "se_s": t_se,
        "memory_ratio": peak / input_bytes,
    }


if __name__ == "__main__":
    main()
