"""``Design.chisq`` on tables of three rows, and the distributions of sums of chi-squares.

Reference: ``extra_chisq_sums.json`` (made by ``extra_chisq_sums.R``, R survey
4.1-1):

* ``svychisq(~stype + col, d, statistic = s)``, every statistic, on dclus1,
  dstrat and the JK1 replicates of dclus1: a 3 x 2 table (two eigenvalues of
  Delta, two Wald contrasts of rows 2..r) with p-values from 0.001 to 0.6;
* ``survey:::pchisqsum`` and ``survey:::pFsum`` (``method = "saddlepoint"``,
  upper tail) on chosen coefficients: x below and above their sum, a zero and a
  negative coefficient, x at the sum (R falls back on Satterthwaite there).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import _rref as R
from ramlab.design import CHISQ_STATISTICS, chisqsum_sf, fsum_sf

SUMS = R.load_json("extra_chisq_sums.json")["cases"]
CH_DESIGNS = R.load_json("chisq.json")["designs"]


def _kind(kind):
    return [c for c in SUMS if c["kind"] == kind]


def _design(name):
    if name == "rclus1":  # R: as.svrepdesign(dclus1), JK1
        return R.design_from_spec(CH_DESIGNS["dclus1"]).replicate(type="JK1")
    return R.design_from_spec(CH_DESIGNS[name])


@pytest.mark.parametrize("case", _kind("svychisq"), ids=lambda c: c["id"])
def test_chisq_of_a_three_row_table_against_r(case):
    out = _design(case["design"]).chisq(case["row"], case["col"], statistic=case["statistic"])
    res = case["result"]
    par = R.assert_htest(out, res, 1e-6, no_df_ok=case["statistic"] == "saddlepoint")
    if "ndf" not in par and "df" not in par:  # the saddlepoint: R gives no df; ramlab's is R's "Chisq" df of the table (the number of terms)
        sibling = next(c for c in SUMS if c["id"] == case["id"].replace("_saddlepoint", "_Chisq"))
        assert out.df == sibling["result"]["parameter"]["df"] and isinstance(out.df, float)
    # R's svychisq.svyrep.design writes "Rao & Scott adjustment" over every
    # method at its end, also the saddlepoint's; ramlab keeps the method's name
    if not (case["design"] == "rclus1" and case["statistic"] == "saddlepoint"):
        assert out.method == res["method"]


@pytest.mark.parametrize("case", _kind("pchisqsum"), ids=lambda c: c["id"])
def test_chisqsum_sf_against_r_pchisqsum(case):
    with warnings.catch_warnings():  # a zero coefficient (eigenvalue) warns of nothing
        warnings.simplefilter("error")
        p = chisqsum_sf(case["x"], np.array(case["a"], dtype=float))
    R.assert_close(p, case["result"]["p_value"], 1e-7, what="P(sum a_i chi2_1 > x)")


@pytest.mark.parametrize("case", _kind("pFsum"), ids=lambda c: c["id"])
def test_fsum_sf_against_r_pfsum(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = fsum_sf(case["x"], np.array(case["a"], dtype=float), case["ddf"])
    R.assert_close(p, case["result"]["p_value"], 1e-7, what="P(sum a_i chi2_1 > x chi2_ddf / ddf)")


@pytest.mark.parametrize("statistic", CHISQ_STATISTICS)
def test_chisq_with_one_category_left_is_blank_in_the_documented_shape(statistic):
    """Design.chisq's docstring: all NaN, df (ndf, ddf), or one df for "Chisq" and "saddlepoint"
    (as when computed); the method says why."""
    d = _design("dclus1")
    out = d.subset(d.data["stype"] == "E").chisq("sch.wide", "stype", statistic=statistic)
    assert math.isnan(out.statistic) and math.isnan(out.p_value)
    if statistic in ("Chisq", "saddlepoint"):
        assert isinstance(out.df, float) and math.isnan(out.df)
    else:
        assert isinstance(out.df, tuple) and len(out.df) == 2 and all(map(math.isnan, out.df))
    assert out.method == ("not computable: 'sch.wide' or 'stype' has fewer than two "
                          "categories with a positive weight")
