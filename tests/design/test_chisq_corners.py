"""Corners of ``Design.chisq`` against R survey 4.1-1 ``svychisq``.

Reference: ``extra_chisq.json`` (made by ``extra_chisq.R``): missing answers
on rows of weight 0 of an uncalibrated design. R's ``svychisq(na.rm = TRUE)``
takes the cell totals' variance on ``design[!is.na, ]``, which drops those
rows (weight 0 or not), so a PSU made only of them leaves the variance; the
table total and the denominator degrees of freedom still count every row.
R's result is the same with the rows dropped or kept (the fpc keeps each
stratum's sample size of the full design): a whole PSU, part of one, and a
whole stratum of such rows, and a whole PSU without fpc.
"""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R
from ramlab.design import Design

EXTRA = R.load_json("extra_chisq.json")


def _design(case):
    data = R.load_data(case["data"])
    rows = np.asarray(case["zero_rows"]) - 1
    data["pw0"] = data["pw"]
    data.loc[rows, "pw0"] = 0.0
    data["sch.wide"] = data["sch.wide"].astype(object)
    data.loc[rows, "sch.wide"] = np.nan
    if case["data"] == "apistrat":
        return Design(data, strata="stype", weights="pw0", fpc="fpc")
    return Design(data, ids="dnum", weights="pw0", fpc="fpc" if case["fpc"] else None)


@pytest.mark.parametrize("case", EXTRA["cases"], ids=lambda c: c["id"])
def test_chisq_missing_answers_of_weight_zero_as_r(case):
    d = _design(case)
    assert d.n_held_rows == case["result"]["nrow_design"]
    assert d.degf() == case["result"]["degf"]
    out = d.chisq(case["row"], case["col"], statistic=case["statistic"])
    res = case["result"]
    par = res["parameter"]
    R.assert_close(out.statistic, res["statistic"], 1e-8, what="statistic")
    R.assert_close(out.p_value, res["p_value"], 1e-8, what="p-value")
    if "ndf" in par:
        R.assert_close(out.df, [par["ndf"], par["ddf"]], 1e-8, what="(ndf, ddf)")
    else:
        assert out.df == par["df"]
