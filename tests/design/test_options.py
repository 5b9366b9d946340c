"""R survey's options: survey.adjust.domain.lonely, postStratify(partial = TRUE),
svydesign(nest = FALSE). Reference values: tests/fixtures/r/options.json (options.R)."""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import MarginError

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
