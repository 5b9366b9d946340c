"""Rao-Scott and Wald tests of independence against R survey ``svychisq``."""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R
from ramlab.design import ChisqResult

CH = R.load_json("chisq.json")
W = {c["id"]: c for c in R.load_json("weighting.json")["cases"]}
SUPPORTED = ("F", "Chisq", "Wald", "adjWald")
# No lincom: R computes it with CompQuadForm, and without that package (not in
# Debian, so not on the machine that makes chisq.json) silently returns the
# saddlepoint result; chisq.R makes no such case and ramlab offers no lincom.


def _build(case):
    d = R.design_from_spec(CH["designs"][case["design"]])
    if case["calibration"]:
        wid = case["calibration"].split(":")[1].strip()
        d = d.rake(W[wid]["margins"])
    return d


@pytest.mark.parametrize("case", [c for c in CH["cases"] if c["statistic"] in SUPPORTED],
                         ids=lambda c: c["id"])
def test_chisq_against_r(case):
    d = _build(case)
    out = d.chisq(case["row"], case["col"], statistic=case["statistic"])
    assert isinstance(out, ChisqResult)
    res = case["result"]
    R.assert_htest(out, res, 1e-6)
    assert out.method == res["method"]


def test_chisq_unknown_statistic():
    d = R.design_from_spec(CH["designs"]["dclus1"])
    with pytest.raises(ValueError):
        d.chisq("sch.wide", "stype", statistic="lincom2")


def test_chisq_single_category_gives_nan():
    d = R.design_from_spec(CH["designs"]["dclus1"])
    sub = d.subset(d.data["stype"] == "E")
    out = sub.chisq("sch.wide", "stype")
    assert out.statistic != out.statistic and out.p_value != out.p_value


# On dsrs_nofpc both eigenvalues are n / (n - 1), so ddf = d0 nu = 2 x 199 =
# 398 in exact arithmetic, and pFsum repeats its last term floor(ddf) times.
# Rounding decides the floor: in sch.wide x stype R's operation order gives
# 397.99999999999989 (397 terms) and ramlab's 398; in awards x stype R's gives
# 398 and ramlab's 397.99999999999994. R itself moves with the order of its
# matrix products: on the first table, crossprod(C, ...) instead of
# t(C) %*% ... gives 398, and the exact double-centring contrasts
# 398.00000000000011. Matching R would mean copying the last bits of R's
# reference-BLAS products, LINPACK QR and LAPACK solve, not the method; with
# R's own ddf ramlab's saddlepoint gives R's p-value
# (test_saddlepoint_p_value_from_r_pfsum_arguments), so these two cases are
# expected to differ.
_ROUNDING = {"dsrs_nofpc_sch.wide_stype_saddlepoint", "dsrs_nofpc_awards_stype_saddlepoint"}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(reason="floor(d0 * nu) of an exact 398 rounds apart in R and ramlab", strict=True))
    if c["id"] in _ROUNDING else c
    for c in CH["cases"] if c["statistic"] == "saddlepoint"], ids=lambda c: c["id"])
def test_chisq_saddlepoint_against_r(case):
    out = _build(case).chisq(case["row"], case["col"], statistic="saddlepoint")
    res = case["result"]
    R.assert_close(out.statistic, res["statistic"], 1e-6, what="X^2")
    R.assert_close(out.p_value, res["p_value"], 1e-6, what="p-value")
    assert out.method == res["method"]


@pytest.mark.parametrize("case", [c for c in CH["cases"] if c["statistic"] == "saddlepoint"], ids=lambda c: c["id"])
def test_saddlepoint_p_value_from_r_pfsum_arguments(case):
    """The port of R's pFsum/saddle, on the very arguments svychisq gave pFsum in R
    (chisq.R records them with every digit): the eigenvalues of Delta and ddf."""
    from ramlab.design import fsum_sf

    args = case["result"]["pfsum"]
    lam = np.array([float(v) for v in args["a"]])
    p = fsum_sf(float(args["x"][0]), lam, float(args["ddf"][0]))
    R.assert_close(p, case["result"]["p_value"], 1e-6, what="p-value")
