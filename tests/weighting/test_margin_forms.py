"""The forms margins and totals may take (R data frames with Freq, Series,
shares with a population size) and the refusals of margins and calibration
totals that cannot be used.

Reference values: R's ``rake`` of dclus1 on R's ``?rake`` margins
(tests/fixtures/r/weighting.json, case ``dclus1_rake``, whose R call takes the
margins as ``data.frame(stype, Freq)``); the rest are ramlab's documented
refusals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import MarginError

RAKE = next(c for c in R.load_json("weighting.json")["cases"] if c["id"] == "dclus1_rake")
MARGINS = RAKE["margins"]
N = 6194.0


def _dclus1(df=None):
    return Design(R.load_data("apiclus1") if df is None else df, ids="dnum", weights="pw", fpc="fpc")


def _margin_forms():
    yield "r_data_frames", {v: pd.DataFrame({v: list(m), "Freq": list(m.values())}) for v, m in MARGINS.items()}
    yield "series", {v: pd.Series(m) for v, m in MARGINS.items()}


@pytest.mark.parametrize("form", [f for f, _ in _margin_forms()])
def test_raking_on_margins_given_as_r_data_frames_or_series_is_rs_rake(form):
    d = _dclus1().rake(dict(_margin_forms())[form], tol=1e-12)
    R.assert_close(d.weights.to_numpy(), RAKE["result"]["weights"], 1e-8, what="weights")


def test_raking_on_shares_with_a_population_size_is_rs_rake_on_the_counts():
    shares = {v: pd.DataFrame({v: list(m), "Freq": [c / N for c in m.values()]}) for v, m in MARGINS.items()}
    d = _dclus1().rake(shares, population=N, tol=1e-12)
    R.assert_close(d.weights.to_numpy(), RAKE["result"]["weights"], 1e-8, what="weights")


def test_proportions_that_do_not_sum_to_one_name_their_margin():
    shares = {v: {k: c / N for k, c in m.items()} for v, m in MARGINS.items()}
    shares["sch.wide"]["Yes"] += 0.01
    with pytest.raises(MarginError, match=r"^margin of 'sch.wide': proportions sum to 1\.01\d*, not 1$") as info:
        _dclus1().rake(shares, population=N)
    assert info.value.variable == "sch.wide"


@pytest.mark.parametrize("margins", [{}, ["stype"], None], ids=["empty", "list", "none"])
def test_margins_that_are_not_a_non_empty_dict_are_refused(margins):
    with pytest.raises(MarginError, match=r"^margins must be a non-empty dict \{column: \{category: count\}\}$"):
        _dclus1().rake(margins)


@pytest.mark.parametrize("margin", [{}, [4421, 755, 1018], pd.DataFrame({"stype": ["E"], "Freq": [1.0], "x": [2.0]})],
                         ids=["empty", "list", "three_columns"])
def test_a_margin_that_is_not_a_mapping_is_refused(margin):
    with pytest.raises(MarginError, match=r"^margin of 'stype' must be a non-empty mapping category -> count$") as info:
        _dclus1().rake({"stype": margin})
    assert info.value.variable == "stype"


def test_a_margin_category_absent_from_the_data_lists_the_categories():
    with pytest.raises(MarginError, match=r"^margin of 'stype': category 'X' does not exist in the data "
                                          r"\(categories: \['E', 'H', 'M'\]\)$") as info:
        _dclus1().rake({"stype": {**MARGINS["stype"], "X": 3.0}})
    assert (info.value.variable, info.value.category) == ("stype", "X")


@pytest.mark.parametrize("bad", [-5.0, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["rake", "calibrate"])
def test_a_negative_or_non_finite_target_names_its_category(bad, method):
    # E's target of 0 comes first: it is not the one at fault
    margin = {"E": 0.0, "H": bad, "M": 1018.0}
    with pytest.raises(MarginError, match=r"^margin of 'stype': target of 'H' is negative or not finite$") as info:
        getattr(_dclus1(), method)({"stype": margin})
    assert (info.value.variable, info.value.category) == ("stype", "H")


# ---------------------------------------------------------------- numeric calibration totals


def _with_numeric():
    df = R.load_data("apiclus1")
    df["label"] = df["stype"].astype(str)
    df["x"] = df["api99"].astype(float)
    return df


@pytest.mark.parametrize("total, message", [
    ("many", r"^total of 'x' must be a number or a mapping$"),
    ([1.0, 2.0], r"^total of 'x' must be a number or a mapping$"),
    (np.inf, r"^total of 'x' is not finite$"),
    (np.nan, r"^total of 'x' is not finite$"),
])
def test_a_numeric_total_that_is_not_a_finite_number_is_refused(total, message):
    with pytest.raises(MarginError, match=message) as info:
        _dclus1(_with_numeric()).calibrate({"stype": MARGINS["stype"], "x": total})
    assert info.value.variable == "x"


@pytest.mark.parametrize("var", ["stype", "label"], ids=["categorical", "strings"])
def test_a_number_as_the_total_of_a_categorical_variable_is_refused(var):
    with pytest.raises(MarginError, match=rf"^'{var}' is categorical: give its totals as \{{category: count\}}$") as info:
        _dclus1(_with_numeric()).calibrate({var: 100.0})
    assert info.value.variable == var


def test_missing_numeric_values_are_counted_among_weighted_rows_only():
    df = _with_numeric()
    df.loc[[3, 7], "x"] = np.nan
    d = _dclus1(df)
    with pytest.raises(MarginError, match=r"^calibration variable 'x' has 2 missing or infinite values "
                                          r"among weighted rows$") as info:
        d.calibrate({"stype": MARGINS["stype"], "x": 4e6})
    assert info.value.variable == "x"
    # one of them outside the domain: only the other is counted
    dom = d.subset(np.arange(len(df)) != 3)
    with pytest.raises(MarginError, match=r"^calibration variable 'x' has 1 missing or infinite values "):
        dom.calibrate({"stype": MARGINS["stype"], "x": 4e6})
    # both outside: the domain is calibrated, its weighted x meets the total
    ok = d.subset(~np.isin(np.arange(len(df)), [3, 7])).calibrate({"stype": MARGINS["stype"], "x": 4e6})
    assert float((ok.weights * df["x"].fillna(0)).sum()) == pytest.approx(4e6, rel=1e-10)
