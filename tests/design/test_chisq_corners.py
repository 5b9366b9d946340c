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

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.errors import ColumnNotFoundError, DesignError, WeightError

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
    R.assert_htest(out, res, 1e-8)


# ------------------------------------------- rows of missing answers left out
# R's svychisq takes the cell totals' variance on design[!is.na, ]
# (svymean(na.rm = TRUE)), which drops every row of a missing answer, whatever
# its weight: it matters for a stratum left with one PSU under
# survey.adjust.domain.lonely, and for rows that only the replicates weigh.
NA_RM = EXTRA["na_rm_cases"]


def _check(out, res):
    R.assert_htest(out, res, 1e-8)


def _with_missing(name, rows, weight):
    data = R.load_data(name)
    rows = np.asarray(rows) - 1
    data["sch.wide"] = data["sch.wide"].astype(object)
    data.loc[rows, "sch.wide"] = np.nan
    if weight is not None:
        data["pw0"] = data[weight]
        data.loc[rows, "pw0"] = 0.0
    return data


@pytest.mark.parametrize("statistic", ["F", "Chisq"])
def test_chisq_drops_rows_of_missing_answers_in_a_lonely_domain_as_r(statistic):
    case = NA_RM["domain_lonely"]
    data = _with_missing("apistrat", case["zero_rows"], "pw")
    d = Design(data, strata="stype", weights="pw0", fpc="fpc", lonely_psu="adjust",
               lonely_psu_domain="adjust")
    _check(d.chisq("sch.wide", "awards", statistic=statistic), case["result"][statistic])


def test_total_of_a_domain_with_one_psu_left_in_a_stratum_as_r():
    """The cell totals' covariance (factored form) of a domain whose stratum keeps one PSU."""
    case = NA_RM["domain_lonely"]
    data = _with_missing("apistrat", case["zero_rows"], "pw")
    d = Design(data, strata="stype", weights="pw0", fpc="fpc", lonely_psu="adjust",
               lonely_psu_domain="adjust")
    out = d.subset(data["sch.wide"].notna().to_numpy()).total("awards")
    R.assert_close(out["estimate"].to_numpy(), case["total"]["estimate"], 1e-10, what="total")
    R.assert_close(out["se"].to_numpy(), case["total"]["se"], 1e-10, what="SE")


@pytest.mark.parametrize("statistic", ["F", "Chisq"])
def test_chisq_drops_rows_only_the_replicates_weigh_as_r(statistic):
    from ramlab.design import ReplicateDesign

    case = NA_RM["replicate_zero_weight"]
    data = _with_missing("apiclus1", case["zero_rows"], "pw")
    # R as.svrepdesign's JK1 replicate j: PSU j deleted, the others weigh 15 / 14 more
    reps = np.column_stack([np.where(data["dnum"] == p, 0.0, data["pw"] * 15 / 14)
                            for p in data["dnum"].unique()])
    rd = ReplicateDesign.from_replicates(data, data["pw0"].to_numpy(), reps, type="JK1",
                                         scale=14 / 15, rscales=np.ones(15))
    _check(rd.chisq("sch.wide", "stype", statistic=statistic), case["result"][statistic])


@pytest.mark.parametrize("statistic", ["F", "Chisq"])
def test_chisq_with_missing_answers_on_weights_of_one_as_r(statistic):
    case = NA_RM["weights_one"]
    d = Design(_with_missing("apiclus1", case["na_rows"], None), ids="dnum")
    _check(d.chisq("sch.wide", "stype", statistic=statistic), case["result"][statistic])


def test_chisq_of_a_domain_whose_answers_are_all_missing_is_blank():
    """No row of nonzero weight left: nothing to test (Design.chisq's docstring), not an error."""
    data = R.load_data("apiclus1")
    data["sch.wide"] = data["sch.wide"].astype(object)
    data.loc[data["stype"] == "E", "sch.wide"] = np.nan
    d = Design(data, ids="dnum", weights="pw", fpc="fpc")
    out = d.subset(data["stype"] == "E").chisq("sch.wide", "awards")
    assert np.isnan(out.statistic) and np.isnan(out.p_value)
    assert out.method.startswith("not computable")


# ------------------------------------------------------------ negative weights
NEG = EXTRA["negative_cells"]


def _negative():
    """dstrat calibrated to a mean api99 of 900 (negative weights where api99 < 569)."""
    data = R.load_data("apistrat")
    data["low"] = np.where(data["api99"] < 569, "TRUE", "FALSE")
    data["mealcat"] = pd.cut(data["meals"], [0, 25, 50, 75, 100], include_lowest=True)
    d = Design(data, strata="stype", weights="pw", fpc="fpc")
    return d.calibrate({"api99": 6194 * 900.0}, method="linear", population=6194.0)


def test_chisq_refusal_counts_the_negative_cells_and_rows():
    """R's svytable: 3 negative cells (and one of 0) from 56 rows of negative weight (and 50 of 0)."""
    r = NEG["refused"]
    assert r["error"] == "all entries of 'x' must be nonnegative and finite"
    assert (r["negative_cells"], r["zero_cells"], r["negative_weight_rows"], r["zero_weight_rows"]) == (3, 1, 56, 50)
    d = _negative()
    with pytest.raises(WeightError) as e:
        d.subset(d.data["stype"] != "H").chisq("mealcat", "low")
    msg = (f"chisq of 'mealcat' by 'low': 3 cells of the weighted table are negative "
           f"(min {min(r['table']):.6g}), from 56 rows of negative weight; a table's cells must be "
           "nonnegative (R's svychisq refuses too); calibrate with bounds")
    assert str(e.value) == msg
    assert e.value.variable == "weight"


def test_chisq_with_one_level_left_is_blank_even_on_negative_cells():
    """R: F = NaN, p-value NA (a table of one level of low, every cell negative); no refusal."""
    r = NEG["one_level"]
    assert r["result"]["statistic"] is None and r["result"]["p_value"] is None
    assert max(r["table"]) == 0 and min(r["table"]) < 0
    d = _negative()
    out = d.subset(d.data["low"] == "TRUE").chisq("low", "sch.wide")
    assert np.isnan(out.statistic) and np.isnan(out.p_value)


# --------------------------------------------------------------- bad arguments
def test_chisq_errors_name_the_argument_and_the_column():
    d = R.design_from_spec(R.load_json("chisq.json")["designs"]["dclus1"])
    with pytest.raises(ValueError, match=r"^statistic must be one of \('F', 'Chisq', 'Wald', 'adjWald', "
                                         r"'saddlepoint'\), not 'lincom'$"):
        d.chisq("sch.wide", "stype", statistic="lincom")
    with pytest.raises(ColumnNotFoundError, match=r"^row variable column 'schwide' is not in the data; "
                                                   r"columns starting alike: 'sch.wide'$"):
        d.chisq("schwide", "stype")
    with pytest.raises(ColumnNotFoundError, match=r"^column variable column 'stipe' is not in the data"):
        d.chisq("sch.wide", "stipe")
    with pytest.raises(DesignError, match=r"^row variable 'api00' is a int64 column"):
        d.chisq("api00", "stype")
    with pytest.raises(DesignError, match=r"^column variable 'api00' is a int64 column"):
        d.chisq("stype", "api00")


def test_chisq_of_a_level_whose_weights_cancel_is_blank_naming_the_variables():
    """A level whose weighted total is 0 is dropped (chisq_from_totals' docstring): one level left."""
    from ramlab.weighting import Reweighting

    data = pd.DataFrame({"g": pd.Categorical(["a", "a", "b", "b", "b", "b"]),
                         "h": pd.Categorical(["x", "x", "x", "y", "x", "y"])})
    d = Design(data).apply_weighting(Reweighting(np.array([2.0, -2.0, 1.0, 1.0, 3.0, 2.0]), None))
    out = d.chisq("g", "h")
    assert np.isnan(out.statistic) and np.isnan(out.p_value)
    assert out.method == "not computable: 'g' or 'h' has fewer than two categories with a positive weight"



# ------------------------------------------------------- variables as Series
@pytest.mark.parametrize("statistic", ["F", "Wald"])
def test_chisq_of_series_is_rs_svychisq_of_the_same_values(statistic):
    """Design.chisq takes Series on the data's index (its docstring): R's svychisq of the values.

    R: svychisq(~sch.wide + stype, dclus1) (chisq.json); the same values as
    Series (R: variables added with update()), one renamed with its labels
    in another order, one without a name.
    """
    ref = next(c for c in R.load_json("chisq.json")["cases"]
               if c["id"] == f"dclus1_sch.wide_stype_{statistic}")["result"]
    d = R.design_from_spec(R.load_json("chisq.json")["designs"]["dclus1"])
    row = d.data["sch.wide"].rename("objectif atteint").sample(frac=1, random_state=1)
    col = d.data["stype"].rename(None)
    R.assert_htest(d.chisq(row, col, statistic=statistic), ref, 1e-8)


def test_chisq_of_series_names_them_by_their_name_or_their_role():
    """A Series is named by its name (Design.chisq's docstring), else by its role, in messages."""
    d = R.design_from_spec(R.load_json("chisq.json")["designs"]["dclus1"])
    one = pd.Series("oui", index=d.data.index)
    tail = "has fewer than two categories with a positive weight"
    out = d.chisq(one.rename("partout"), d.data["stype"].rename(None))
    assert np.isnan(out.statistic) and np.isnan(out.p_value)
    assert out.method == f"not computable: 'partout' or 'column variable' {tail}"
    assert d.chisq(one, "stype").method == f"not computable: 'row variable' or 'stype' {tail}"
    with pytest.raises(DesignError, match=r"^row variable is a Series whose index does not match "
                                          r"the data's \(182 labels, 0 not in the data"):
        d.chisq(d.data["sch.wide"].iloc[1:], "stype")
    with pytest.raises(DesignError, match=r"^column variable is a Series whose index"):
        d.chisq("sch.wide", d.data["stype"].iloc[1:])
    with pytest.raises(DesignError, match=r"^row variable 'note' is a int64 column"):
        d.chisq(d.data["api00"].rename("note"), "stype")
    with pytest.raises(DesignError, match=r"^column variable 'api00' is a int64 column"):
        d.chisq("stype", d.data["api00"])


# ------------------------------------------- no numpy warning reaches the user
CH = R.load_json("chisq.json")


@pytest.mark.parametrize("case", [c for c in CH["cases"] if (c["row"], c["col"]) == ("sch.wide", "awards")
                                  and c["statistic"] in ("F", "Chisq") and not c["calibration"]],
                         ids=lambda c: c["id"])
def test_chisq_of_a_table_with_an_empty_cell_as_r_without_warning(case):
    """No school has awards without sch.wide: the empty cell's 1 / p is taken as 0, as R's iDmat."""
    d = R.design_from_spec(CH["designs"][case["design"]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.chisq("sch.wide", "awards", statistic=case["statistic"])
    R.assert_close(out.statistic, case["result"]["statistic"], 1e-6, what="statistic")
    R.assert_close(out.p_value, case["result"]["p_value"], 1e-6, what="p-value")


CENSUS = {c["id"]: c for c in R.load_json("extra_census.json")["cases"]}


def _census_result(out, res):
    """R's NaN (null) as NaN, R's Inf (statistic_is_infinite) as inf."""
    if res.get("statistic_is_infinite"):
        assert out.statistic == np.inf
    elif res["statistic"] is None:
        assert np.isnan(out.statistic)
    else:
        R.assert_close(out.statistic, res["statistic"], 1e-8, what="statistic")
    par = res["parameter"]
    expected = [par["ndf"], par["ddf"]] if "ndf" in par else [par["df"]]
    for got, ref in zip([*np.atleast_1d(out.df), out.p_value], [*expected, res["p_value"]]):
        if ref is None:
            assert np.isnan(got)
        else:
            R.assert_close(got, ref, 1e-8)


@pytest.mark.parametrize("statistic", ["F", "Chisq"])
def test_chisq_of_a_census_as_r_without_warning(statistic):
    """No sampling variance: Delta = 0; R's F = Inf (NaN df and p), Chisq p = 0; and X^2 = 0 over it."""
    df = R.load_data("apistrat")
    df["N"] = df.groupby("stype", observed=True)["pw"].transform("size").astype(float)
    census = Design(df, strata="stype", fpc="N", weights="pw")
    c = CENSUS[f"census_independent_chisq_{statistic}"]["data"]
    indep = Design(pd.DataFrame({"g": pd.Categorical(c["g"]), "h": pd.Categorical(c["h"]),
                                 "N": float(c["N"])}), fpc="N")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = census.chisq("sch.wide", "awards", statistic=statistic)
        out_indep = indep.chisq("g", "h", statistic=statistic)
    _census_result(out, CENSUS[f"census_chisq_{statistic}"]["result"])
    _census_result(out_indep, CENSUS[f"census_independent_chisq_{statistic}"]["result"])


# ------------------------------------------ chisq_from_totals on R's own totals
TOTALS = EXTRA["from_totals"]


@pytest.mark.parametrize("scaled", [False, True], ids=["totals", "proportions"])
@pytest.mark.parametrize("case_id, statistic", [(k, s) for k, c in TOTALS.items() for s in c["result"]])
def test_chisq_from_totals_of_r_cell_totals_as_r_svychisq(case_id, statistic, scaled):
    """R's cell totals and covariance in, R's svychisq out; an empty level (zero row or column of
    the table, a factor's level without schools in the domain) is dropped, as R drops it for a
    character column. Scaling t by 1 / sum(t) and V by its square changes no statistic."""
    from ramlab.design import chisq_from_totals

    case = TOTALS[case_id]
    r, c = case["r"], case["c"]
    t = np.array(case["t"]).reshape(c, r).T
    V = np.array(case["V"]).reshape(r * c, r * c)
    if scaled:
        s = t.sum()
        t, V = t / s, V / s**2
    kw = {} if statistic == "F" else {"statistic": statistic}  # "F" is the default
    Vp = None if case["Vp"] is None else np.array(case["Vp"]).reshape(r * c, r * c)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = chisq_from_totals(t, V, n_rows=case["N"], nu=case["nu"], names=(case["rows"], case["cols"]),
                                Vp=Vp, **kw)
    res = case["result"][statistic]
    R.assert_htest(out, res, 1e-8, p_rtol=1e-7, no_df_ok=statistic == "saddlepoint")
    if not (Vp is not None and statistic == "saddlepoint"):  # R's svyrep method: "Rao & Scott" always
        assert out.method == res["method"]


@pytest.mark.parametrize("statistic", ["F", "Chisq"])
def test_chisq_from_totals_of_one_row_is_blank_in_the_documented_shape(statistic):
    """A single non-empty row: nothing to test (all NaN; one df for "Chisq"), the method names both."""
    from ramlab.design import chisq_from_totals

    out = chisq_from_totals(np.array([[5.0, 3.0], [0.0, 0.0]]), np.eye(4), n_rows=8, nu=7,
                            statistic=statistic, names=("q1", "banner"))
    assert np.isnan(out.statistic) and np.isnan(out.p_value)
    assert (isinstance(out.df, float) and np.isnan(out.df)) if statistic == "Chisq" else len(out.df) == 2
    assert out.method == "not computable: 'q1' or 'banner' has fewer than two categories with a positive weight"
    with pytest.raises(ValueError, match=r"^statistic must be one of \('F', 'Chisq', 'Wald', 'adjWald', "
                                         r"'saddlepoint'\), not 'lincom'$"):
        chisq_from_totals(np.ones((2, 2)), np.eye(4), n_rows=4, nu=3, statistic="lincom")
