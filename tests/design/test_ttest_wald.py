"""Issue 12, B11: tests as functions. ``d.ttest`` (R svyttest) and ``model.wald_test`` (R regTermTest).

References: ``tests/fixtures/r/tables.json`` (the 12 ``svyttest`` cases of
``tables.R``, on plain, raked and calibrated designs) and
``extra_researcher.json`` (``regTermTest``, made by ``extra_researcher.R``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.errors import DesignError, ModelError

TABLES = R.load_json("tables.json")
TTESTS = [c for c in TABLES["cases"] if c.get("kind") == "svyttest"]
EXTRA = R.load_json("extra_researcher.json")
DESIGNS = R.load_json("estimation.json")["designs"]
MARGINS = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}}
STRAT_MARGINS = {"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}}


def _design(case):
    spec = TABLES["designs"][case["design"]]
    base = R.design_from_spec(spec)
    data = base.data.assign(
        y=(base.data["sch.wide"] == "Yes").astype(float),
        isE=pd.Categorical(base.data["stype"] == "E", categories=[False, True]),
    )
    d = Design(data, weights=spec.get("weights"), ids=spec.get("ids"), strata=spec.get("strata"),
               fpc=spec.get("fpc"))
    name = case["id"].split("_svyttest_")[0]
    if name.endswith("calraked") and case["design"] == "dstrat":
        return d.rake(STRAT_MARGINS, tol=1e-12, max_iter=1000)
    if name.endswith("calraked"):
        return d.calibrate(MARGINS, method="raking", tol=1e-12, max_iter=1000)
    if name.endswith("raked"):
        return d.rake(MARGINS, tol=1e-12, max_iter=1000)
    return d


@pytest.mark.parametrize("case", TTESTS, ids=[c["id"] for c in TTESTS])
def test_ttest_as_r_svyttest(case):
    d = _design(case)
    res = d.ttest("api00", "sch.wide") if case["id"].endswith("api00_by_schwide") else d.ttest("y", "isE")
    ref = case["result"]
    assert res.estimate == pytest.approx(ref["estimate"], rel=1e-9)
    assert res.statistic == pytest.approx(ref["statistic"], rel=1e-8)
    assert res.df == ref["df"]
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-7)
    assert [res.ci_low, res.ci_high] == pytest.approx(ref["conf_int"], rel=1e-8)


@pytest.mark.parametrize("level", [0.90, 0.99])
def test_ttest_interval_at_another_level(level):
    """R ``confint(svyglm(api00 ~ sch.wide, dstrat), parm = 2, level =)``: estimate -/+
    qt((1 + level) / 2, df) SE, with R's estimate, SE (estimate / t) and df of the 95 % case."""
    from scipy import stats

    case = next(c for c in TTESTS if c["id"].endswith("api00_by_schwide") and c["design"] == "dstrat")
    ref = case["result"]
    res = _design(case).ttest("api00", "sch.wide", level=level)
    half = stats.t.ppf((1 + level) / 2, ref["df"]) * ref["estimate"] / ref["statistic"]
    assert [res.ci_low, res.ci_high] == pytest.approx([ref["estimate"] - half, ref["estimate"] + half], rel=1e-8)


def test_ttest_needs_two_groups_and_a_number():
    d = R.design_from_spec(DESIGNS["dstrat"])
    with pytest.raises(DesignError, match="exactly two groups"):
        d.ttest("api00", "stype")
    with pytest.raises(DesignError, match="not numeric"):
        d.ttest("stype", "sch.wide")


WALD = [c for c in EXTRA["cases"] if "regTermTest" in c["id"]]


@pytest.mark.parametrize("case", WALD, ids=[c["id"] for c in WALD])
def test_wald_test_as_r_regtermtest(case):
    d = R.design_from_spec(DESIGNS[case["design"]])
    model = d.glm(case["formula"], family=case["family"])
    res = model.wald_test(case["term"])
    ref = case["result"]
    # the models' own agreement with R svyglm: SEs to 1e-6 (tests/test_models.py)
    assert res.statistic == pytest.approx(ref["statistic"], rel=1e-6)
    assert (res.df, res.ddf) == (ref["df"], ref["ddf"])
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-5)


def test_wald_test_names_the_terms():
    d = R.design_from_spec(DESIGNS["dstrat"])
    with pytest.raises(ModelError, match="not a term"):
        d.glm("api00 ~ ell + stype").wald_test("taille")
