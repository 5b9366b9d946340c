"""Edges of the quantile and proportion intervals against R survey 4.1-1.

Reference: tests/fixtures/r/extra_interval_edges.json (extra_interval_edges.R):
score intervals of ``svyquantile`` (R ``ffullerCI``) on small designs whose
values lie closer than ``uniroot``'s tolerance, so that the bound hangs on R's
bracket (min + IQR / 100, max - IQR / 100), its tolerance 1 / (100 sqrt(n)) and
``mean(x <= root)`` when the root is a value; the "xlogit" interval of a
domain of two PSUs at levels where R's ``expit`` gives 0 (lower bound: the
minimum) and NaN (upper bound: Inf / Inf); ``svyciprop`` where the proportion
rounds to 1 with a variance (n_eff = 0), and where it is 0 exactly with a
variance (a JK1 ``svrepdesign`` whose one "yes" has a weight of 5e-324).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design, ReplicateDesign

REF = R.load_json("extra_interval_edges.json")
CASES = {c["id"]: c for c in REF["cases"]}


def _quantile_row(out):
    return [out[c].iloc[0] for c in ("estimate", "se", "ci_low", "ci_high")]


@pytest.mark.parametrize("case_id", sorted(i for i in CASES if i.startswith("score_")))
def test_score_interval_where_the_bound_hangs_on_rs_details(case_id):
    a, r = CASES[case_id]["args"], CASES[case_id]["result"]
    df = pd.DataFrame({"x": np.array(a["k"]) / a["div"] * a["scale"], "w": np.array(a["w"], dtype=float)})
    if a.get("h") is not None:
        df["h"] = a["h"]
    d = Design(df, weights="w", strata="h" if "h" in df else None)
    with warnings.catch_warnings():  # quietly, also where the bracket reaches F = 1 (no variance)
        warnings.simplefilter("error")
        out = d.quantile("x", a["p"], ci=True, interval_type="score", qrule=a["qrule"])
    R.assert_close(_quantile_row(out), [r["estimate"], r["se"], *r["ci"]], 1e-12, atol=1e-18, what=case_id)


@pytest.mark.parametrize("case_id", sorted(i for i in CASES if i.startswith("two_psus_xlogit")))
def test_xlogit_interval_where_rs_expit_gives_zero_or_nan(case_id):
    case = CASES[case_id]
    data = R.load_data("apiclus1")
    d = Design(data, ids="dnum", weights="pw", fpc="fpc").subset(data["dnum"].isin(case["args"]["dnum"]).to_numpy())
    assert d.degf() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # R's Inf / Inf is quiet: so is ramlab's
        out = d.quantile("api00", 0.5, ci=True, interval_type="xlogit", level=case["args"]["level"])
    r = case["result"]
    expected = [r["estimate"], r["se"], *r["ci"]]
    got = _quantile_row(out)
    assert [np.isnan(v) for v in got] == [v is None for v in expected], f"ramlab {got} vs R {expected}"
    R.assert_close([v for v, e in zip(got, expected) if e is not None], [e for e in expected if e is not None],
                   1e-9, what=case_id)


def _assert_ciprop_as_r(out, r, case_id):
    """Estimate, SE and bounds as R's, NaN exactly where R's are NA."""
    expected = [r["estimate"], r["se"], *r["ci"]]
    got = [out["estimate"], out["se"], out["ci_low"], out["ci_high"]]
    assert [np.isnan(v) for v in got] == [v is None for v in expected], f"ramlab {got} vs R {expected}"
    R.assert_close([v for v, e in zip(got, expected) if e is not None], [e for e in expected if e is not None],
                   1e-9, atol=0, what=case_id)


@pytest.mark.parametrize("case_id", sorted(i for i in CASES if i.startswith("ciprop_rounds_to_one")))
def test_ciprop_of_a_proportion_that_rounds_to_one_as_r(case_id):
    """n_eff = p (1 - p) / var = 0: R's beta (0, 1), xlogit and asin NaN, quietly."""
    a, r = CASES[case_id]["args"], CASES[case_id]["result"]
    d = Design(pd.DataFrame({"y": a["y"], "w": a["w"]}, dtype=float), weights="w")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.ciprop("y", method=a["method"])
    _assert_ciprop_as_r(out, r, case_id)


@pytest.mark.parametrize("case_id", sorted(i for i in CASES if i.startswith("ciprop_zero_with_a_variance")))
def test_ciprop_of_a_proportion_of_zero_with_a_variance_as_r(case_id):
    """n_eff = 0: R's beta (0, 1) (qbeta with a shape 0); logit's upper bound Inf / Inf; quietly."""
    a, r = CASES[case_id]["args"], CASES[case_id]["result"]
    n = len(a["y"])
    data = pd.DataFrame({"y": a["y"], "w": [1.0] * (n - 1) + [np.ldexp(1.0, a["w_exponent"])]}, dtype=float)
    for j in range(n):
        data[f"r{j + 1}"] = np.where(np.arange(n) == j, 0.0, n / (n - 1))
    d = ReplicateDesign(data, repweights="^r[0-9]", weights="w", type="JK1", scale=(n - 1) / n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.ciprop("y", method=a["method"])
    _assert_ciprop_as_r(out, r, case_id)


def test_wilson_of_a_proportion_that_rounds_to_one_is_the_whole_range():
    """Wilson's interval as n_eff -> 0 tends to (0, 1): no information, as R's beta there."""
    d = Design(pd.DataFrame({"y": [1.0, 1, 1, 0], "w": [1.0, 1, 1, 1e-20]}), weights="w")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.ciprop("y", method="wilson")
    assert (out["estimate"], out["ci_low"], out["ci_high"]) == (1.0, 0.0, 1.0)
