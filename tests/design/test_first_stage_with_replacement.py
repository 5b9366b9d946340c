"""A first stage sampled with replacement (population size Inf) and a second stage with fpc.

R (``extra_multistage.json``, case ``dclus2_first_stage_with_replacement``):
``svydesign(id = ~dnum + snum, weights = ~pw, fpc = ~fpc1_inf + fpc2, data = apiclus2)``
with ``fpc1_inf = Inf``: the first stage has no finite population correction
and passes no later stage on. The SE comes without numpy warnings (Inf / Inf
is not the user's concern).
"""

from __future__ import annotations

import warnings

import numpy as np

import _rref as R
from ramlab import Design

CASE = next(c for c in R.load_json("extra_multistage.json")["cases"]
            if c["id"] == "dclus2_first_stage_with_replacement")


def test_a_first_stage_with_replacement_is_rs_and_quiet():
    df = R.load_data(CASE["design"])
    df["fpc1_inf"] = np.inf
    df = df.iloc[np.asarray(CASE["rows"]) - 1].reset_index(drop=True)
    d = Design(df, weights=CASE["weights"], ids=CASE["ids"], fpc=CASE["fpc"], lonely_psu=CASE["lonely_psu"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.total(CASE["variable"])
    R.assert_close(out["estimate"].to_numpy(), [CASE["result"]["estimate"]], 1e-8, what="total")
    R.assert_close(out["se"].to_numpy(), [CASE["result"]["se"]], 1e-8, what="SE")
