"""R survey's options: survey.adjust.domain.lonely, postStratify(partial = TRUE),
svydesign(nest = FALSE). Reference values: tests/fixtures/r/options.json (options.R)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import ColumnNotFoundError, MarginError

OPT = R.load_json("options.json")
CASES = {c["id"]: c for c in OPT["cases"]}


@pytest.mark.parametrize("case", [c for c in OPT["cases"] if "adjust_domain_lonely" in c],
                         ids=lambda c: c["id"])
def test_lonely_psu_in_a_domain_against_r(case):
    spec = OPT["designs"][case["design"]]
    d = R.design_from_spec(spec, lonely_psu="adjust",
                           lonely_psu_domain="adjust" if case["adjust_domain_lonely"] else None)
    out = getattr(d.subset(d.data["api00"] > 850), case["estimator"])(case["variable"])
    r = case["result"]
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-6, what="se")


@pytest.mark.parametrize("est", ["mean", "total"])
def test_poststratify_partial_against_r(est):
    case = CASES[f"dclus1_poststratify_partial_{est}"]
    d = R.design_from_spec(OPT["designs"]["dclus1"])
    dom = d.subset(d.data["stype"] != "H")
    ps = case["poststratify"]
    with pytest.raises(MarginError, match="partial=True"):
        dom.poststratify(ps["columns"], ps["totals"])
    out = getattr(dom.poststratify(ps["columns"], ps["totals"], partial=True), est)(case["variable"])
    r = case["result"]
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-6, what="se")


def test_nest_false_refuses_clusters_in_two_strata_naming_the_rows():
    case = CASES["apistrat_dnum_not_nested"]
    assert "not nested in strata" in case["result"]["error"]  # R refuses too
    data = R.load_data("apistrat")
    with pytest.raises(ValueError, match=r"not nested in strata.*\(row \d+\).*\(row \d+\)"):
        Design(data, ids="dnum", strata="stype", weights="pw", nest=False)


def test_nest_false_on_nested_clusters_is_r_default():
    case = CASES["apistrat_snum_nest_false"]
    data = R.load_data("apistrat")
    out = Design(data, ids="snum", strata="stype", weights="pw", fpc="fpc", nest=False).mean("api00")
    R.assert_close(out["estimate"].to_numpy(), case["result"]["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"].to_numpy(), case["result"]["se"], 1e-6, what="se")
    nested = Design(data, ids="snum", strata="stype", weights="pw", fpc="fpc").mean("api00")
    np.testing.assert_array_equal(out.to_numpy(), nested.to_numpy())


def test_nest_false_names_the_cluster_its_two_strata_and_a_row_of_each():
    """The contract of ``nest=False``: the cluster found in two strata, each stratum with a
    row (1-based) that holds the cluster there."""
    data = pd.DataFrame({"st": ["c", "a", "a", "b", "c"], "cl": ["x", "w", "y", "y", "z"],
                         "v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    with pytest.raises(ValueError) as err:
        Design(data, ids="cl", strata="st", nest=False)
    msg = str(err.value)
    assert "'y'" in msg and "'cl'" in msg  # the cluster and its column
    # cluster y: stratum a at row 3, stratum b at row 4 (rows 1-based)
    assert re.search(r"'a'\D*row 3\b", msg) and re.search(r"'b'\D*row 4\b", msg), msg
    assert "'c'" not in msg and "row 2" not in msg and "row 1" not in msg


def test_nest_false_names_an_ids_column_that_is_not_in_the_data():
    data = R.load_data("apistrat")
    with pytest.raises(ColumnNotFoundError) as err:
        Design(data, ids="dnumm", strata="stype", weights="pw", nest=False)
    assert re.search(r"\bids\b", str(err.value)) and "'dnumm'" in str(err.value)  # its role, its name
    assert err.value.variable == "dnumm"


def test_nest_false_without_clusters_has_nothing_to_check():
    """Each row its own unit (R id = ~1): nest=False is nest=True."""
    data = R.load_data("apistrat")
    out = Design(data, strata="stype", weights="pw", fpc="fpc", nest=False).mean("api00")
    nested = Design(data, strata="stype", weights="pw", fpc="fpc").mean("api00")
    np.testing.assert_array_equal(out.to_numpy(), nested.to_numpy())
