"""Benchmark: a full banner book with significance letters.

60 questions (single choice, scales with nets, multi-response, grids, numeric)
x 15 banner columns (taille 3 + secteur 5 + region 7 groups) with letters, on a
raked design (the IMPACT weighting), at n = 2,000 and n = 1,000,000; the
numeric questions' medians with their Woodruff SE and interval.
Targets: under 0.5 s at n = 2,000 (issue 4); under 2 s at n = 1,000,000
(issue 14; 10 s in issue 4). And the banner of 20 questions x 5 breakdowns at
n = 100,000 within 8 times its floor (issue 14, ``--floor-n``).

Usage::

    python benchmarks/bench_tables.py                 # both sizes
    python benchmarks/bench_tables.py --n 2000 --n 50000
    python benchmarks/bench_tables.py --no-chisq      # letters only

Prints one line per size: n, questions, banner columns, seconds (best of
``--repeat`` runs; the design is built and raked outside the timing). On a
small shared machine, multi-threaded BLAS on small matrices costs more than it
gives: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_tables.py`` gives
steadier figures (the setting is printed).

``benchmarks/bench_tables.R`` times R survey on the same work (``--export``
writes its data; compare with ``--uncalibrated --no-chisq``).
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd

BANNER = {
    "taille": ["Moins de 10 salariés", "10 à 49 salariés", "50 salariés et plus"],
    "secteur": ["Action sociale", "Enseignement", "Santé", "Sport et loisirs", "Autres"],
    "region": ["Île-de-France", "Auvergne-Rhône-Alpes", "Nouvelle-Aquitaine", "Occitanie",
               "Hauts-de-France", "Grand Est", "Autres régions"],
}
SCALE = ["Oui, tout à fait", "Oui, plutôt", "Non, plutôt pas", "Non, pas du tout", "Ne sait pas"]
GRID = ["Oui", "Non, mais je pense le faire dans les 6 mois", "Non, je n'en ai pas l'intention"]
# two more breakdowns for the banner of 20 questions x 5 breakdowns (issue 14)
BANNER5 = {
    **BANNER,
    "anciennete": ["Moins de 5 ans", "5 à 19 ans", "20 à 49 ans", "50 ans et plus"],
    "budget": ["Moins de 50 k€", "50 à 199 k€", "200 k€ à 1 M€", "Plus de 1 M€"],
}


def make_book(n, *, seed=2021, n_single=20, n_scale=20, n_multi=10, n_grid=6, n_numeric=4,
              breakdowns=BANNER):
    """Synthetic respondents, a raked design and a spec of 60 questions.

    The design is raked on taille, secteur and region; ``breakdowns`` are the
    banner variables generated (BANNER, or BANNER5 with two more).
    """
    from ramlab.design import Design
    from ramlab.io.spec import Base, Question

    rng = np.random.default_rng(seed)
    cols = {}
    for var, levels in breakdowns.items():
        p = np.linspace(2.0, 1.0, len(levels))
        cols[var] = pd.Categorical.from_codes(rng.choice(len(levels), n, p=p / p.sum()), levels)
    questions = []
    for i in range(n_single):
        k = 3 + i % 4
        cats = [f"Réponse {j + 1}" for j in range(k)]
        cols[f"s{i}"] = pd.Categorical.from_codes(rng.integers(0, k, n), cats)
        questions.append(Question(id=f"s{i}", text=f"Question {i}", type="single",
                                  columns=(f"s{i}",), categories=cats))
    for i in range(n_scale):
        codes = rng.choice(5, n, p=[0.35, 0.45, 0.1, 0.05, 0.05])
        cols[f"e{i}"] = pd.Categorical.from_codes(codes, SCALE, ordered=True)
        questions.append(Question(id=f"e{i}", text=f"Échelle {i}", type="scale",
                                  columns=(f"e{i}",), categories=SCALE, missing=["Ne sait pas"],
                                  nets={"Total Oui": SCALE[:2], "Total Non": SCALE[2:4]}))
    for i in range(n_multi):
        items = [f"m{i}_{j}" for j in range(4 + i % 3)]
        for j, c in enumerate(items):
            cols[c] = pd.Categorical.from_codes((rng.random(n) < 0.2 + 0.1 * j).astype(int),
                                                ["Non cité", "Cité"])
        questions.append(Question(id=f"m{i}", text=f"Multiple {i}", type="multi",
                                  columns=tuple(items), categories=["Non cité", "Cité"],
                                  selected="Cité", item_labels={c: f"Item {c}" for c in items}))
    for i in range(n_grid):
        items = [f"g{i}_{j}" for j in range(4)]
        for c in items:
            cols[c] = pd.Categorical.from_codes(rng.choice(3, n, p=[0.5, 0.2, 0.3]), GRID)
        questions.append(Question(id=f"g{i}", text=f"Grille {i}", type="grid",
                                  columns=tuple(items), categories=GRID,
                                  item_labels={c: f"Item {c}" for c in items},
                                  nets={"Oui ou dans les 6 mois": GRID[:2]}))
    for i in range(n_numeric):
        cols[f"n{i}"] = np.round(rng.lognormal(2.0, 1.0, n), 0)
        questions.append(Question(id=f"n{i}", text=f"Nombre {i}", type="numeric",
                                  columns=(f"n{i}",)))
    data = pd.DataFrame(cols)
    margins = {}
    total = 150_000.0
    for var, levels in BANNER.items():
        shares = np.linspace(1.0, 2.0, len(levels))
        margins[var] = dict(zip(levels, total * shares / shares.sum()))
    design = Design(data, weights=None).rake(margins, tol=1e-8, max_iter=200)
    spec = SimpleNamespace(
        questions={q.id: q for q in questions},
        bases={"ensemble": Base("ensemble", "Ensemble")},
        study={"unit": "associations", "source": "Source : banc d'essai ramlab"},
    )
    return design, spec


def run(n, *, repeat=3, chisq=True, calibrated=True):
    from ramlab.design import Design
    from ramlab.tables import banner

    design, spec = make_book(n)
    if not calibrated:
        design = Design(design.data)
    rows = list(spec.questions)
    best = np.inf
    table = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        table = banner(design, rows, list(BANNER), spec=spec, letters=True, chisq=chisq)
        best = min(best, time.perf_counter() - t0)
    return best, table


def bincount_floor(design, rows, cols):
    """The cell totals any tabulation must compute: one weighted ``np.bincount``
    per question x breakdown, over the combined codes of the two columns."""
    data = design.data
    w = np.asarray(design.weights, dtype=float)
    qcodes = [data[q].cat.codes.to_numpy().astype(np.int64) for q in rows]
    bcodes = [(data[b].cat.codes.to_numpy(), len(data[b].cat.categories)) for b in cols]

    def floor():
        return [np.bincount(q * K + b, weights=w) for q in qcodes for b, K in bcodes]

    return floor


def run_against_floor(n, *, repeat=3):
    """The raked banner of 20 single-choice questions x 5 breakdowns (letters and
    Rao-Scott tests) and its bincount floor, timed in alternating rounds.

    Returns (banner seconds, floor seconds, median of the paired ratios), best times.
    """
    from ramlab.tables import banner

    design, spec = make_book(n, n_single=20, n_scale=0, n_multi=0, n_grid=0, n_numeric=0,
                             breakdowns=BANNER5)
    rows, cols = list(spec.questions), list(BANNER5)
    floor = bincount_floor(design, rows, cols)
    t_banner, t_floor, paired = np.inf, np.inf, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        floor()
        tf = time.perf_counter() - t0
        t0 = time.perf_counter()
        banner(design, rows, cols, spec=spec, letters=True, chisq=True)
        tb = time.perf_counter() - t0
        t_banner, t_floor = min(t_banner, tb), min(t_floor, tf)
        paired.append(tb / tf)
    return t_banner, t_floor, float(np.median(paired))


def export_for_r(n, path):
    """Write the benchmark data (single-choice form) to CSV for bench_tables.R.

    Multi-response items and grid items are written as their columns; the
    numeric questions as numbers. R gets equal weights and no raking: svyby
    (covmat = TRUE) fails on calibrated designs in survey 4.1-1.
    """
    design, spec = make_book(n)
    design.data.to_csv(path, index=False)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="sample size (repeatable)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-chisq", action="store_true", help="skip the Rao-Scott tests")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="equal weights, no raking (the design bench_tables.R times)")
    parser.add_argument("--export", metavar="CSV", help="write the data for bench_tables.R and exit")
    parser.add_argument("--floor-n", type=int, action="append",
                        help="sample size of the 20 x 5 banner timed against its bincount floor "
                             "(repeatable; default 100,000 when no --n is given)")
    args = parser.parse_args(argv)
    sizes = args.n or [2_000, 1_000_000]
    floor_sizes = args.floor_n or ([] if args.n else [100_000])
    if args.export:
        export_for_r(sizes[0], args.export)
        return
    for n in sizes:
        repeat = args.repeat or (3 if n <= 100_000 else 1)
        seconds, table = run(n, repeat=repeat, chisq=not args.no_chisq,
                             calibrated=not args.uncalibrated)
        ncols = len(table.columns) - 1
        print(
            f"n={n:>9,d}  questions={len(table.questions)}  banner columns={ncols}  "
            f"letters=yes  chisq={'no' if args.no_chisq else 'yes'}  "
            f"design={'equal weights' if args.uncalibrated else 'raked'}  "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}  "
            f"seconds={seconds:.3f}"
        )
    for n in floor_sizes:
        t_banner, t_floor, paired = run_against_floor(n, repeat=args.repeat or 5)
        print(
            f"n={n:>9,d}  banner of 20 questions x 5 breakdowns (raked, letters, Rao-Scott): "
            f"{t_banner:.3f} s, floor (100 weighted bincounts over combined codes) "
            f"{t_floor * 1e3:.2f} ms: {t_banner / t_floor:.1f} x floor "
            f"(median of paired ratios {paired:.1f})"
        )


if __name__ == "__main__":
    main()
