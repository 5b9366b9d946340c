"""svyglm's Gamma and inverse Gaussian families against R (tests/fixtures/r/families.json)."""

from __future__ import annotations

import pytest

import _rref as R

FAM = R.load_json("families.json")


@pytest.mark.parametrize("case", FAM["cases"], ids=lambda c: c["id"])
def test_gamma_and_inverse_gaussian_match_r(case):
    d = R.design_from_spec(FAM["designs"][case["design"]])
    family = {"Gamma": "gamma", "inverse.gaussian": "inverse_gaussian"}[case["family"]]
    fit = d.glm(case["formula"].replace("stype", "C(stype)"), family=family)
    r = case["result"]
    # patsy names C(stype)[T.H] what R names stypeH, and puts factors first
    names = {n: n.replace("C(stype)[T.", "stype").rstrip("]") if n.startswith("C(") else n
             for n in fit.params.index}
    order = [list(fit.params.rename(names).index).index(n.replace("(Intercept)", "Intercept"))
             for n in r["names"]]
    R.assert_close(fit.params.to_numpy()[order], r["coef"], 1e-8, what="coefficients")
    R.assert_close(fit.bse.to_numpy()[order], r["se"], 1e-6, what="standard errors")
    assert fit.df_resid == r["df_residual"]
