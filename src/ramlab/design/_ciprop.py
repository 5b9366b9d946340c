"""Confidence intervals of a proportion (R ``svyciprop``).

The "logit" and "likelihood" methods run R's own numerics, kept apart in
:mod:`ramlab.design._rcompat`. Tests: ``tests/design/test_ciprop.py``
against R (``tests/fixtures/r/``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._columns import column
from ramlab.design._rcompat import expit, glm_intercept, intercept_var, likelihood_ci, logit_linkinv

__all__ = ["CIPROP_METHODS", "ciprop"]

CIPROP_METHODS = ("logit", "likelihood", "beta", "xlogit", "mean", "asin", "wilson")


def _indicator(design, x):
    if isinstance(x, str):
        s = column(design.data, x, "variable")
        name = x
    elif isinstance(x, pd.Series):
        s = x if x.index.equals(design.data.index) else x.reindex(design.data.index)
        name = x.name if x.name is not None else "x"
    else:
        s = pd.Series(np.asarray(x), index=design.data.index)
        name = "x"
    if isinstance(s.dtype, pd.CategoricalDtype):
        raise TypeError(f"{name!r} is categorical: give a boolean, e.g. d.data[{name!r}] == 'Yes'")
    y = s.to_numpy(dtype=float, na_value=np.nan)
    return y, str(name)


def _glm_intercept_held(d, y0):
    """R's svyglm(y ~ 1, quasibinomial) intercept, on the rows R's design holds."""
    w = d.weight_values
    rows = d.held_rows
    wr = w if rows is None else w[rows]
    return glm_intercept(y0 if rows is None else y0[rows], wr / wr.mean())


def _interval(method, d, y0, p, var, df, level):
    """(low, high, estimate) of one method; the estimate changes for logit/likelihood."""
    from scipy import stats

    se = np.sqrt(var)
    alpha = 1 - level
    qt = stats.t.ppf(1 - alpha / 2, df) if df > 0 else np.nan
    if method == "mean":
        return p - qt * se, p + qt * se, p
    if method == "asin":
        c = np.arcsin(np.sqrt(p))
        sec = se / (2 * np.sqrt(p * (1 - p)))
        return np.sin(c - qt * sec) ** 2, np.sin(c + qt * sec) ** 2, p
    if method == "xlogit":
        c = np.log(p / (1 - p))
        sec = se / (p * (1 - p))
        return expit(c - qt * sec), expit(c + qt * sec), p
    if method == "logit":
        # R: svyglm(y ~ 1, quasibinomial), Wald interval on the intercept
        c = _glm_intercept_held(d, y0)
        sec = np.sqrt(intercept_var(d, y0, float(logit_linkinv(c))))
        return expit(c - qt * sec), expit(c + qt * sec), float(logit_linkinv(c))
    if method == "beta":
        n_eff = p * (1 - p) / var
        nrow = d.n_held_rows
        n_eff = n_eff * (stats.t.ppf(alpha / 2, nrow - 1) / stats.t.ppf(alpha / 2, df)) ** 2
        lo = stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
        hi = stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
        return lo, hi, p
    if method == "wilson":
        n_eff = p * (1 - p) / var
        z2 = qt**2
        centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
        half = qt / (1 + z2 / n_eff) * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2))
        return centre - half, centre + half, p
    lo, hi = likelihood_ci(d, y0, df, level)
    return lo, hi, float(logit_linkinv(_glm_intercept_held(d, y0)))


def ciprop(design, x, *, method, level):
    """:meth:`Design.ciprop` (R ``svyciprop``): see its docstring."""
    if method not in CIPROP_METHODS:
        raise ValueError(f"method must be one of {CIPROP_METHODS}, not {method!r}")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    y, name = _indicator(design, x)
    missing = np.isnan(y)
    d = design.subset(~missing) if (missing & (design.weight_values > 0)).any() else design
    y0 = np.where(missing, 0.0, y)
    w = d.weight_values
    pos = w > 0
    N = w.sum()
    p = float(w @ y0 / N)
    u = np.where(pos, (y0 - p) / N, 0.0)
    var = float(d.statistic_vcov(lambda W: ((W.T @ y0) / W.sum(axis=0))[:, None], u[:, None])[0, 0])
    df = d.degf()
    lo, hi, p = _interval(method, d, y0, p, var, df, level)
    return pd.Series(
        {"estimate": p, "se": np.sqrt(var), "ci_low": float(lo), "ci_high": float(hi), "df": float(df)},
        name=name,
    )
