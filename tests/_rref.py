"""Helpers shared by the statistics tests: load R `survey` fixtures and api data.

Reference values come from R survey 4.1-1 (tests/fixtures/r/*.json, made by the
R scripts beside them); nothing here computes a reference.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures" / "r"


@lru_cache(maxsize=None)
def load_json(name):
    path = FIXTURES / name
    with open(path) as fh:
        return json.load(fh)


def fixture_exists(name):
    return (FIXTURES / name).exists()


@lru_cache(maxsize=None)
def _levels():
    return load_json("data/datasets.json")["factor_levels"]


def load_data(name):
    """An R dataset as R sees it: factors as pandas Categoricals in R's level order."""
    df = pd.read_csv(FIXTURES / "data" / f"{name}.csv")
    for col, levels in _levels().get(name, {}).items():
        if col in df.columns:
            df[col] = pd.Categorical(df[col], categories=levels)
    df["one"] = 1.0
    return df


def design_from_spec(spec, **kwargs):
    from ramlab.design import Design

    data = load_data(spec["data"])
    return Design(
        data,
        weights=spec.get("weights"),
        ids=spec.get("ids"),
        strata=spec.get("strata"),
        fpc=spec.get("fpc"),
        **kwargs,
    )


def close(a, b, rtol, atol=1e-12):
    """|a - b| <= rtol * |b| + atol, elementwise, NaN/None never close."""
    a = np.asarray(a, dtype=float)
    b = np.asarray([np.nan if v is None else v for v in np.ravel(b)], dtype=float).reshape(np.shape(b))
    return bool(np.all(np.abs(a - b) <= rtol * np.abs(b) + atol))


def assert_close(a, b, rtol, atol=1e-12, what=""):
    a = np.asarray(a, dtype=float)
    bb = np.asarray([np.nan if v is None else v for v in np.ravel(b)], dtype=float).reshape(np.shape(b))
    assert a.shape == bb.shape or a.size == bb.size, f"{what}: shapes {a.shape} vs {bb.shape}"
    a = a.reshape(bb.shape)
    err = np.abs(a - bb) - (rtol * np.abs(bb) + atol)
    assert np.all(err <= 0), f"{what}: ramlab {a.ravel()} vs R {bb.ravel()} (rtol {rtol})"


def assert_htest(out, res, rtol, *, p_rtol=None, no_df_ok=False):
    """A test result (``ChisqResult``) against R's ``htest`` as the fixtures write it.

    The statistic and the p-value to ``rtol`` (``p_rtol`` for the p-value if
    given), the df: (ndf, ddf) of an F to ``rtol``, the df of a chi-square
    exactly. R writes no df for the saddlepoint: allowed with ``no_df_ok``.
    Returns R's ``parameter`` for further checks.
    """
    assert_close(out.statistic, res["statistic"], rtol, what="statistic")
    assert_close(out.p_value, res["p_value"], rtol if p_rtol is None else p_rtol, what="p-value")
    par = res["parameter"]
    if "ndf" in par:
        assert_close(out.df, [par["ndf"], par["ddf"]], rtol, what="(ndf, ddf)")
    elif "df" in par:
        assert out.df == par["df"]
    else:
        assert no_df_ok, f"R gives no df for {res.get('method')!r}"
    return par
