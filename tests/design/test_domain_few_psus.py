"""Totals and means of a factor in a domain of as many clusters as the factor has levels.

R: ``svytotal(~stype, subset(dclus1, dnum %in% <3 districts>))`` and ``svymean``
with their covariance (``extra_domain_few_psus.json``). The influence values
(one column per level) are summed by PSU; here the PSUs of the domain are as
many as the columns.
"""

from __future__ import annotations

import _rref as R
from ramlab import Design

FIX = R.load_json("extra_domain_few_psus.json")
CASE = FIX["cases"][0]["result"]


def test_totals_and_means_of_a_factor_in_three_districts_as_r():
    spec = FIX["designs"]["dclus1"]
    d = Design(R.load_data(spec["data"]), ids=spec["ids"], weights=spec["weights"], fpc=spec["fpc"])
    dom = d.subset(d.data["dnum"].isin(CASE["districts"]).to_numpy())
    for kind in ("total", "mean"):
        out, vcov = getattr(dom, kind)("stype", cov=True)
        r = CASE[kind]
        R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-10, what=f"{kind} estimate")
        R.assert_close(out["se"].to_numpy(), r["se"], 1e-9, what=f"{kind} SE")
        R.assert_close(vcov.to_numpy(), r["vcov"], 1e-9, atol=1e-15, what=f"{kind} vcov")
