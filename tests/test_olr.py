"""Proportional-odds models against R ``svyolr`` (tests/fixtures/r/olr.json).

R takes the Hessian from optim's BFGS (numerical), so its SEs agree with the
exact ones to about 1e-4: tolerance 1e-5 on coefficients, 2e-3 on SEs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R

OLR = R.load_json("olr.json")


def _design(name):
    spec = OLR["designs"][name]
    d = R.design_from_spec(spec)
    d.data["mealcat"] = pd.cut(d.data["meals"], [0, 25, 50, 75, 100])
    d.data["avg_ed"] = d.data["avg.ed"]
    return d.replicate(**spec["replicate"]) if "replicate" in spec else d


@pytest.mark.parametrize("case", OLR["cases"], ids=lambda c: c["id"])
def test_olr_matches_r_svyolr(case):
    d = _design(case["design"])
    fit = d.olr(case["formula"].replace("avg.ed", "avg_ed").replace("stype", "C(stype)"))
    r = case["result"]
    # patsy: C(stype)[T.H], avg_ed, thresholds "(0, 25]|(25, 50]"; R: stypeH, avg.ed, "(0,25]|(25,50]"
    ours = [n.replace("C(stype)[T.", "stype").rstrip("]") if n.startswith("C(") else n
            for n in fit.params.index]
    ours = [n.replace("avg_ed", "avg.ed").replace(" ", "") for n in ours]
    assert sorted(ours) == sorted(r["names"])
    order = [ours.index(n) for n in r["names"]]
    # R's BFGS stops short of the optimum on dclus1 (mobility off by 1.1e-5
    # even with reltol 1e-12; the JK1 refit of the same data lands within
    # 1e-6 of ramlab): checked below to have the lower likelihood
    rtol = 2e-5 if case["id"] == "dclus1_olr_mealcat_avg_ed_mobility_stype" else 1e-5
    R.assert_close(fit.params.to_numpy()[order], r["coef"], rtol, what="coefficients")
    at_r = fit.params.copy()
    at_r.iloc[order] = r["coef"]
    assert _loglik(d, fit, at_r) <= _loglik(d, fit, fit.params) + 1e-9
    R.assert_close(fit.bse.to_numpy()[order], r["se"], 2e-3, what="standard errors")


def _loglik(d, fit, params):
    """Weighted log pseudo-likelihood of the model's rows at ``params``."""
    from scipy.special import expit

    formula = fit.formula
    rhs = formula.split("~", 1)[1]
    import patsy

    frame = d.data.assign(w=d.weights).dropna(subset=["mealcat", "avg_ed", "mobility", "api00"]
                                               if "avg_ed" in formula else ["mealcat", "api00"])
    frame = frame[frame["w"] > 0]
    x = patsy.dmatrix(rhs, frame, return_type="dataframe").drop(columns="Intercept").to_numpy()
    zeta = params[[n for n in params.index if "|" in n]].to_numpy()
    eta = x @ params[[n for n in params.index if "|" not in n]].to_numpy()
    y = frame["mealcat"].cat.codes.to_numpy()
    cut = np.concatenate([[-np.inf], zeta, [np.inf]])
    pr = expit(cut[y + 1] - eta) - expit(cut[y] - eta)
    return float(frame["w"].to_numpy() @ np.log(pr))


def test_olr_needs_three_categories():
    d = _design("dclus1")
    d.data["two"] = pd.Categorical(np.where(d.data["meals"] > 50, "high", "low"))
    from ramlab.errors import ModelError

    with pytest.raises(ModelError, match="3 or more"):
        d.olr("two ~ api00")
