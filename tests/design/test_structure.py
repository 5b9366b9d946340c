"""How a design reads its ids, strata and fpc (R ``svydesign``): the strata of later
stages, the weights an fpc implies. R reference: tests/fixtures/r/extra_structure.json
(extra_structure.R)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import ColumnNotFoundError, LonelyPSUError, WeightError

X = R.load_json("extra_structure.json")
CASES = {c["id"]: c for c in X["cases"]}


def test_a_later_stage_stratum_is_named_by_its_parent_unit_as_r():
    """The strata of stage 2 are the districts: R names the one with a single school of 4
    "1.264" (the first stage's stratum, unstratified "1", then the district)."""
    case = CASES["dclus2_lonely_second_stage_unit"]
    r_label = re.search(r"Stratum \((.*?)\)", case["result"]["error"]).group(1)
    assert r_label == f"1.{case['district']}"
    data = R.load_data("apiclus2")
    data["fpc2_264"] = np.where(data["dnum"] == case["district"], 4, data["fpc2"])
    with pytest.raises(LonelyPSUError) as err:
        Design(data, ids=["dnum", "snum"], fpc=["fpc1", "fpc2_264"]).mean("api00")
    msg = str(err.value)
    assert re.search(rf"\({re.escape(r_label)}\)", msg) and re.search(r"\bstage 2\b", msg), msg


def test_weights_from_too_few_fpc_columns_are_refused_naming_them():
    with pytest.raises(WeightError) as err:
        Design(R.load_data("apiclus2"), ids=["dnum", "snum"], fpc="fpc1")
    msg = str(err.value)
    assert re.search(r"\bweights\b", msg) and "'fpc1'" in msg and re.search(r"\b2 stages\b", msg), msg
    assert err.value.variable == "fpc1"


def _design(name, **kw):
    spec = X["designs"][name]
    data = pd.DataFrame(spec["data"]) if isinstance(spec["data"], list) else R.load_data(spec["data"])
    return Design(data, ids=spec["ids"], strata=spec["strata"], fpc=spec["fpc"], **kw)


@pytest.mark.parametrize("case_id", ["fpc_population_of_1_and_10", "fpc_population_sizes_of_2"])
def test_population_sizes_as_r(case_id):
    """R's as.fpc: population sizes when any value is above 1 (then all must be >= 1): a stratum
    of population 1 beside one of 10; sizes of 2 only (a census of strata of two units)."""
    case = CASES[case_id]
    out = _design(case["design"]).total("y")
    R.assert_close(out["estimate"].iloc[0], case["result"]["estimate"], 1e-12, what="total")
    R.assert_close(out["se"].iloc[0], case["result"]["se"], 1e-10, atol=1e-12, what="se")


def test_an_fpc_of_1_everywhere_is_a_census_of_fractions():
    """Design's contract: population sizes are > 1, fractions <= 1, so 1 everywhere is a sampling
    fraction of 1, a census (R has no number: as.fpc stops, its message failing)."""
    assert CASES["fpc_fractions_of_1"]["result"]["error"]
    d = _design("fpc1_frac")
    out = d.total("y")
    assert out["estimate"].iloc[0] == d.data["y"].sum() and out["se"].iloc[0] == 0


def _refusal(exc, data, **kw):
    with pytest.raises(exc) as err:
        Design(data, **kw).total("api00")
    return err.value, str(err.value)


def test_fpc_refusals_name_the_column_the_row_and_the_value():
    c = R.load_data("apiclus2")
    err, msg = _refusal(ValueError, c, ids=["dnum", "snum"], fpc=["fpc1", "fpc2", "fpc1"])
    assert "'fpc2'" in msg and re.search(r"\b3 fpc\b", msg) and re.search(r"\b2 sampling stage", msg), msg
    # a missing value in the second stage's fpc: that column, that row (1-based)
    data = c.assign(f2=c["fpc2"].astype(object))
    data.loc[4, "f2"] = None
    err, msg = _refusal(WeightError, data, ids=["dnum", "snum"], fpc=["fpc1", "f2"])
    assert err.variable == "f2" and "'f2'" in msg and re.search(r"\brow 5\b", msg), msg
    assert re.search(r"\bfpc\b", msg) and "missing" in msg, msg
    # population sizes with a fraction: both named, with their values and rows
    data = c.assign(f2=np.where(c.index == 2, 0.5, c["fpc2"]))
    err, msg = _refusal(WeightError, data, ids=["dnum", "snum"], fpc=["fpc1", "f2"])
    assert err.variable == "f2" and "'fpc1'" in msg and "757" in msg and "0.5" in msg, msg
    assert re.search(r"\brow 3\b", msg) and re.search(r"\brow 1\b", msg), msg
    # more units sampled than the population has: the column, the stage, N and n, a row
    data = c.assign(f2=np.where(c.index == 7, 1, c["fpc2"]))
    n = int((c["dnum"] == c.loc[7, "dnum"]).sum())
    err, msg = _refusal(WeightError, data, ids=["dnum", "snum"], fpc=["fpc1", "f2"])
    assert err.variable == "f2" and "'f2'" in msg and re.search(r"\bstage 2\b", msg), msg
    assert re.search(rf"\b1(\.0)? for {n} sampled", msg) and re.search(r"\brow 8\b", msg), msg


def test_an_fpc_column_that_is_not_in_the_data_is_named():
    err, msg = _refusal(ColumnNotFoundError, R.load_data("apiclus1"), ids="dnum", fpc="xfpc")
    assert re.search(r"\bfpc\b", msg) and "'xfpc'" in msg and err.variable == "xfpc", msg


@pytest.mark.parametrize("kw", [{"ids": "dnum"}, {"ids": "dnum", "strata": "stype"}, {"strata": "stype"},
                                {"ids": ["dnum", "snum"], "fpc": ["fpc", "fpc"]}],
                         ids=["clusters", "stratified_clusters", "strata", "two_stages"])
def test_a_design_without_rows_has_a_total_of_0_and_no_variance(kw):
    """A sum over no rows is 0 (a filter that keeps nobody), at every stage."""
    out = Design(R.load_data("apiclus1").iloc[:0], weights="pw", **kw).total("api00")
    np.testing.assert_array_equal(out.to_numpy(), [[0.0, 0.0]])


@pytest.mark.parametrize("strata", [None, "stype"])
def test_unused_categories_of_the_cluster_ids_change_nothing(strata):
    """R's svydesign takes the units present; the levels of a factor that no row holds are no
    units (and no strata)."""
    data = R.load_data("apiclus1")
    data["district"] = pd.Categorical(data["dnum"], categories=[1, 2, *sorted(set(data["dnum"])), 9999])
    data["stype3"] = data["stype"].cat.add_categories(["X"]).cat.reorder_categories(["X", "E", "H", "M"])
    plain = Design(data, ids="dnum", strata=strata, weights="pw", lonely_psu="adjust").total("api00")
    coded = Design(data, ids="district", strata=None if strata is None else "stype3", weights="pw",
                   lonely_psu="adjust").total("api00")
    np.testing.assert_allclose(coded.to_numpy(), plain.to_numpy(), rtol=1e-13)


def test_strata_with_missing_values_or_not_in_the_data_are_named():
    data = R.load_data("apistrat")
    data["st"] = data["stype"].astype(object)
    data.loc[3, "st"] = None
    err, msg = _refusal(ValueError, data, strata="st", weights="pw")
    assert "'st'" in msg and "missing" in msg, msg
    err, msg = _refusal(ColumnNotFoundError, data, strata="stypo", weights="pw")
    assert re.search(r"\bstrata\b", msg) and "'stypo'" in msg and err.variable == "stypo", msg


def test_cluster_labels_repeated_across_strata_are_different_units():
    """Design(nest=True), R's nest = TRUE: a first-stage cluster is taken within its stratum, so
    clusters "x" and "y" of each of four strata are eight units, as with labels that say so."""
    data = pd.DataFrame({"h": np.repeat(["a", "b", "c", "d"], 4), "cl": ["x", "x", "y", "y"] * 4,
                         "y": [3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3], "w": 2.0})
    data["unit"] = data["h"] + data["cl"]
    nested = Design(data, ids="cl", strata="h", weights="w").total("y")
    named = Design(data, ids="unit", strata="h", weights="w").total("y")
    np.testing.assert_allclose(nested.to_numpy(), named.to_numpy(), rtol=1e-13)
    assert Design(data, ids="cl", strata="h", weights="w").degf() == 8 - 4


def test_an_fpc_column_of_python_objects_is_read_as_numbers():
    """An fpc of dtype object (numbers, as read from JSON): the same design as the float column."""
    data = R.load_data("apistrat")
    obj = data.assign(fpc=data["fpc"].astype(object))
    plain = Design(data, strata="stype", weights="pw", fpc="fpc").total("api00")
    pd.testing.assert_frame_equal(Design(obj, strata="stype", weights="pw", fpc="fpc").total("api00"), plain)
