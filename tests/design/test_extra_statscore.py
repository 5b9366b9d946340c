"""Extra R references for the statistics core (tests/fixtures/r/extra_statscore.json).

R's rescaling in ``calibrate`` (population/sample ratios above 20), svychisq
with missing values and on a subset, svyciprop on a subset of a calibrated
design, trimWeights with both limits, lonely second-stage units, fpc given as
sampling fractions.
"""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.errors import LonelyPSUError

X = R.load_json("extra_statscore.json")
W = {c["id"]: c for c in R.load_json("weighting.json")["cases"]}


def _cases(kind):
    return [c for c in X["cases"] if c["kind"] == kind]


def _base(name):
    return R.design_from_spec(X["designs"][name])


def _check_stat(out, ref, what):
    R.assert_close(out["estimate"].to_numpy(), ref["estimate"], 1e-8, what=f"{what} estimate")
    R.assert_close(out["se"].to_numpy(), ref["se"], 1e-6, what=f"{what} se")


@pytest.mark.parametrize("case", _cases("calibrate"), ids=lambda c: c["id"])
def test_calibrate_with_r_rescaling(case):
    d = _base(case["design"])
    bounds = tuple(case["bounds"]) if case["bounds"] else None
    c = d.calibrate(case["totals"], method=case["calfun"], bounds=bounds)
    res = case["result"]
    R.assert_close(c.weights.to_numpy(), res["weights"], 1e-8, what="weights")
    _check_stat(c.mean("api00"), res["mean_api00"], "mean api00")
    _check_stat(c.total("enroll"), res["total_enroll"], "total enroll")
    if bounds:
        # the bounds hold for g divided by R's rescaling factor
        g = c.weights.to_numpy() / d.weights.to_numpy() / case["rescale_factor"]
        assert g.min() >= bounds[0] - 1e-9 and g.max() <= bounds[1] + 1e-9


@pytest.mark.parametrize("case", _cases("chisq"), ids=lambda c: c["id"])
def test_chisq_missing_values_and_subset(case):
    df = R.load_data("apistrat")
    df["aw2"] = df["awards"]
    df.loc[[i - 1 for i in case["na_rows_1based"]], "aw2"] = np.nan
    spec = X["designs"][case["design"]]
    d = Design(df, ids=spec["ids"], strata=spec["strata"], weights=spec["weights"], fpc=spec["fpc"])
    if case["domain"]:
        d = d.subset(df[case["domain"]["column"]] != case["domain"]["value"])
    out = d.chisq("aw2", "sch.wide", statistic=case["statistic"])
    res = case["result"]
    R.assert_close(out.statistic, res["statistic"], 1e-6, what="statistic")
    R.assert_close(out.p_value, res["p_value"], 1e-6, what="p-value")
    par = res["parameter"]
    expected = [par["ndf"], par["ddf"]] if "ndf" in par else par["df"]
    R.assert_close(out.df, expected, 1e-6, what="df")


@pytest.mark.parametrize("case", _cases("ciprop"), ids=lambda c: c["id"])
def test_ciprop_on_calibrated_subset(case):
    d = _base(case["design"])
    wid = case["calibration"].split(":")[1].strip()
    d = d.rake(W[wid]["margins"])
    d = d.subset(d.data[case["domain"]["column"]] != case["domain"]["value"])
    out = d.ciprop(d.data["awards"] == "Yes", method=case["method"])
    res = case["result"]
    rtol = 1e-8  # every method, "likelihood" included (see test_ciprop.py)
    R.assert_close(out["estimate"], res["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], res["se"], 1e-6, what="se")
    R.assert_close(out["ci_low"], res["ci_low"], rtol, what="ci_low")
    R.assert_close(out["ci_high"], res["ci_high"], rtol, what="ci_high")
    assert out["df"] == res["df"]


@pytest.mark.parametrize("case", _cases("trim"), ids=lambda c: c["id"])
def test_trim_both_limits(case):
    d = _base(case["design"]).trim(lower=case["lower"], upper=case["upper"], strict=case["strict"])
    R.assert_close(d.weights.to_numpy(), case["result"]["weights"], 1e-8, what="weights")
    _check_stat(d.mean("api00"), case["result"]["mean_api00"], "mean api00")


@pytest.mark.parametrize("case", _cases("lonely"), ids=lambda c: c["id"])
def test_lonely_second_stage(case):
    spec = case["design"]
    df = R.load_data(spec["data"])
    d = Design(df, ids=spec["ids"], strata=spec["strata"], fpc=spec["fpc"], lonely_psu=case["lonely_psu"])
    for key, call in (("mean_api00", lambda: d.mean("api00")),
                      ("total_enroll", lambda: d.total("enroll", na_rm=True))):
        ref = case["result"][key]
        if "error" in ref:
            with pytest.raises(LonelyPSUError) as e:
                call()
            assert e.value.stage == 2
            assert "only one PSU at stage 2" in ref["error"]
        else:
            out = call()
            est = np.asarray(ref["estimate"], dtype=float)
            se = np.asarray([np.nan if v is None else v for v in ref["se"]], dtype=float)
            R.assert_close(out["estimate"].to_numpy(), est, 1e-8, what=f"{key} estimate")
            if np.isnan(se).all():  # R: NaN under "average" (one stratum per call)
                assert np.isnan(out["se"].to_numpy()).all()
            else:
                R.assert_close(out["se"].to_numpy(), se, 1e-6, what=f"{key} se")


def test_fpc_fractions_two_stage():
    case = _cases("fractions")[0]
    df = R.load_data("apiclus2")
    df["f1"] = 40 / df["fpc1"]
    df["f2"] = df.groupby("dnum")["snum"].transform("size") / df["fpc2"]
    d = Design(df, ids=["dnum", "snum"], fpc=["f1", "f2"])
    res = case["result"]
    R.assert_close(d.weights.to_numpy(), res["weights"], 1e-8, what="weights")
    assert d.degf() == res["degf"]
    _check_stat(d.mean("api00"), res["mean_api00"], "mean")
    _check_stat(d.total("api00"), res["total_api00"], "total")
