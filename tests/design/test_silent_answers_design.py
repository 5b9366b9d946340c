"""Issue 12, part A: calls that used to return a wrong answer without a warning.

Each test fails on the code before the fix. References: R survey 4.1-1
(``extra_researcher.json``, made by ``extra_researcher.R``) or closed forms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.errors import DesignError

EXTRA = R.load_json("extra_researcher.json")
CASES = {c["id"]: c for c in EXTRA["cases"]}
DESIGNS = R.load_json("estimation.json")["designs"]


@pytest.fixture(scope="module")
def people():
    rng = np.random.default_rng(12)
    n = 400
    answer = pd.Categorical(rng.choice(["Oui", "Non"], n), categories=["Oui", "Non"])
    answer[rng.random(n) < 0.2] = np.nan  # out of the question's base
    return pd.DataFrame({
        "q": answer,
        "size": pd.Categorical(rng.choice(["Petite", "Grande"], n)),
        "poids": rng.uniform(0.5, 3.0, n),
        "id": np.arange(1, n + 1, dtype=float),
    })


# -- 1. a numeric column used as categories -------------------------------------------
@pytest.mark.parametrize("call", [
    lambda d: d.chisq("poids", "size"),
    lambda d: d.chisq("q", "id"),
    lambda d: d.mean("q", by="poids"),
    lambda d: d.total("q", by=["size", "id"]),
])
def test_numeric_column_as_categories_is_an_error(people, call):
    with pytest.raises(DesignError, match=r"float64 column.*pd\.cut") as info:
        call(Design(people, weights="poids"))
    assert info.value.variable in ("poids", "id")


def test_labelled_integer_codes_are_categories(people):
    data = people.assign(code=np.where(people["size"] == "Petite", 1, 2))
    data.attrs["value_labels"] = {"code": {1: "Petite", 2: "Grande"}}
    d = Design(data, weights="poids")
    by_code = d.mean("poids", by="code")["estimate"]
    by_size = d.mean("poids", by="size")["estimate"]
    assert by_code[1] == by_size["Petite"] and by_code[2] == by_size["Grande"]


# -- 3. missing answers counted as "no" -----------------------------------------------
def test_ciprop_of_a_category_leaves_missing_answers_out(people):
    d = Design(people, weights="poids")
    known = people["q"].notna().to_numpy()
    w = people["poids"].to_numpy()
    oui = (people["q"] == "Oui").to_numpy()
    expected = w[known & oui].sum() / w[known].sum()  # the proportion among known answers
    got = d.ciprop("q", category="Oui")
    assert got["estimate"] == pytest.approx(expected, rel=1e-12)
    # a float Series keeps its NaN as missing
    as_float = people["q"].map({"Oui": 1.0, "Non": 0.0}).astype(float)
    assert d.ciprop(as_float)["estimate"] == pytest.approx(expected, rel=1e-12)


def test_ciprop_of_a_categorical_column_says_how(people):
    d = Design(people, weights="poids")
    with pytest.raises(DesignError, match=r"category='Oui'.*missing answer as no"):
        d.ciprop("q")
    with pytest.raises(DesignError, match="not one of"):
        d.ciprop("q", category="Peut-être")


def test_ciprop_warns_on_a_comparison_with_missing_answers(people):
    d = Design(people, weights="poids")
    with pytest.warns(UserWarning, match="missing answers, counted here as false"):
        d.ciprop(people["q"] == "Oui")


# -- 4. NaN with SE 0 -------------------------------------------------------------------
def test_mask_on_another_index_is_an_error(people):
    d = Design(people, weights="poids")
    other = pd.Series(True, index=people.index + 1000)
    with pytest.raises(DesignError, match="index does not match"):
        d.subset(other)


def test_mask_in_another_order_is_aligned(people):
    d = Design(people, weights="poids")
    mask = people["size"] == "Grande"
    shuffled = mask.sample(frac=1.0, random_state=1)
    a = d.subset(mask).mean("poids")["estimate"].iloc[0]
    b = d.subset(shuffled).mean("poids")["estimate"].iloc[0]
    assert a == b
    assert a == pytest.approx(np.average(people.loc[mask, "poids"], weights=people.loc[mask, "poids"]))


def test_mean_of_an_empty_domain_raises(people):
    d = Design(people, weights="poids")
    with pytest.raises(DesignError, match="empty domain"):
        d.subset(np.zeros(len(people), dtype=bool)).mean("poids")


# -- 5. deff="replace" ------------------------------------------------------------------
@pytest.mark.parametrize("case_id", [c for c in CASES if c.endswith("_deff_replace")])
def test_deff_replace_as_r(case_id):
    case = CASES[case_id]
    d = R.design_from_spec(DESIGNS[case["design"]])
    fun = d.mean if case["fun"] == "svymean" else d.total
    res = fun(case["variable"], deff="replace")
    R.assert_close(res["estimate"].to_numpy(), case["result"]["estimate"], 1e-9, what=case_id)
    R.assert_close(res["se"].to_numpy(), case["result"]["se"], 1e-9, what=case_id)
    R.assert_close(res["deff"].to_numpy(), case["result"]["deff"], 1e-9, what=case_id)


def test_deff_replace_differs_from_deff_true():
    d = R.design_from_spec(DESIGNS["dclus1"])
    assert d.mean("api00", deff="replace")["deff"].iloc[0] != d.mean("api00", deff=True)["deff"].iloc[0]


@pytest.mark.parametrize("bad", ["yes", "Replace", 2])
def test_deff_other_values_are_refused(bad):
    d = R.design_from_spec(DESIGNS["dstrat"])
    with pytest.raises(DesignError, match="deff must be"):
        d.mean("api00", deff=bad)


# -- 6. ciprop at p = 0 and p = 1 ---------------------------------------------------------
EDGE = pd.DataFrame({"y0": np.zeros(50), "y1": np.ones(50), "w": np.ones(50)})


@pytest.mark.parametrize("case_id", [c for c in CASES if c.startswith("edge_")])
def test_ciprop_edges_as_r(case_id):
    case = CASES[case_id]
    d = Design(EDGE, weights="w")
    res = case["result"]
    if res.get("error"):
        with pytest.raises(DesignError, match="no interval"):
            d.ciprop(case["variable"], method=case["method"])
        return
    got = d.ciprop(case["variable"], method=case["method"])
    assert got["estimate"] == pytest.approx(res["estimate"], abs=1e-9)
    for key in ("ci_low", "ci_high"):
        if res[key] is None:
            assert np.isnan(got[key]), (case_id, key)
        else:
            assert got[key] == pytest.approx(res[key], abs=1e-9), (case_id, key)
    if not np.isnan(got["ci_low"]):
        assert got["ci_low"] <= got["estimate"] <= got["ci_high"]


@pytest.mark.parametrize("var,expected", [("y0", (0.0, None)), ("y1", (None, 1.0))])
def test_wilson_closed_form_at_the_edges(var, expected):
    from scipy import stats

    z2 = stats.t.ppf(0.975, 49) ** 2
    edge = z2 / (50 + z2)  # Wilson (1927) with x = 0 (or n) of n = 50
    got = Design(EDGE, weights="w").ciprop(var, method="wilson")
    low, high = expected
    assert got["ci_low"] == pytest.approx(low if low is not None else 1 - edge, abs=1e-15)
    assert got["ci_high"] == pytest.approx(high if high is not None else edge, abs=1e-15)


# -- 7. consistent errors ---------------------------------------------------------------
def test_weights_as_an_aligned_series(people):
    by_name = Design(people, weights="poids").mean("poids")
    by_series = Design(people, weights=people["poids"].sample(frac=1.0, random_state=2)).mean("poids")
    pd.testing.assert_frame_equal(by_name, by_series)
    with pytest.raises(DesignError, match="column name or a Series"):
        Design(people, weights=people["poids"].to_numpy())


def test_subset_by_query(people):
    d = Design(people, weights="poids")
    by_query = d.subset("size == 'Grande' and poids > 1").mean("poids")
    by_mask = d.subset((people["size"] == "Grande") & (people["poids"] > 1)).mean("poids")
    pd.testing.assert_frame_equal(by_query, by_mask)
    with pytest.raises(DesignError, match="not a column and not a query"):
        d.subset("taille == 'Grande'")
