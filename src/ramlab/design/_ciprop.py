"""Confidence intervals of a proportion (R ``svyciprop``).

The "logit" and "likelihood" methods run R's own numerics, kept apart in
:mod:`ramlab.design._rcompat`. Tests: ``tests/design/test_ciprop.py``
against R (``tests/fixtures/r/``).
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from ramlab.design._columns import aligned, column
from ramlab.errors import DesignError, WeightError, warn
from ramlab.design._rcompat import expit, glm_intercept, intercept_var, likelihood_ci, logit_linkinv

__all__ = ["CIPROP_METHODS", "ciprop"]

CIPROP_METHODS = ("logit", "likelihood", "beta", "xlogit", "mean", "asin", "wilson")


def _indicator(design, x, category):
    """The 0/1 values (NaN: missing) of what ``ciprop`` estimates, and its name."""
    data = design.data
    if isinstance(x, str):
        s = column(data, x, "variable")
        name = x
    elif isinstance(x, pd.Series):
        s = aligned(x, data.index, "the variable of ciprop")
        name = x.name if x.name is not None else "x"
        _warn_if_comparison(design, s, name)
    else:
        values = np.asarray(x)
        if values.shape != (len(data),):
            raise DesignError(
                f"the variable of ciprop has shape {values.shape} for {len(data)} rows: give one value "
                "per row (an array, a list, or a Series with the data's index)", variable="x",
            )
        s = pd.Series(values, index=data.index)
        name = "x"
    if category is not None:
        return _category_indicator(s, name, category), f"{name} = {category}"
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        cats = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.dropna().unique())
        raise DesignError(
            f"{name!r} holds categories {cats[:6]}: name the one to estimate, "
            f"d.ciprop({name!r}, category={cats[0] if cats else 'Oui'!r}) (the rows where the "
            f"answer is missing are left out). Not d.data[{name!r}] == ..., which counts a "
            "missing answer as no", variable=str(name),
        )
    y = s.to_numpy(dtype=float, na_value=np.nan)
    return y, str(name)


def _category_indicator(s, name, category):
    cats = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else list(s.dropna().unique())
    if category not in cats:
        raise DesignError(f"category {category!r} is not one of {name!r}: {cats}", variable=str(name))
    y = (s == category).to_numpy(dtype=float)
    y[s.isna().to_numpy()] = np.nan
    return y


def _warn_if_comparison(design, s, name):
    """A true/false Series named after a column with missing answers: maybe ``data[col] == "Oui"``."""
    if not pd.api.types.is_bool_dtype(s.dtype) or name not in design.data.columns:
        return
    missing = design.data[name].isna().to_numpy() & (design.weight_values != 0)
    if missing.any():
        warn(
            f"ciprop: {name!r} has {int(missing.sum())} missing answers, counted here as false; "
            f"d.ciprop({name!r}, category=...) leaves them out",
        )


def _glm_intercept_held(d, y0):
    """R's svyglm(y ~ 1, quasibinomial) intercept, on the rows R's design holds."""
    w = d.weight_values
    rows = d.held_rows
    wr = w if rows is None else w[rows]
    return glm_intercept(y0 if rows is None else y0[rows], wr / wr.mean())


def _interval(method, d, y0, p, var, df, level, answered):
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
        return expit(c - qt * sec), expit(c + qt * sec), float(expit(c))  # R: expit(coef(m))
    if method == "beta":
        n_eff = p * (1 - p) / var
        nrow = d.n_held_rows
        n_eff = n_eff * (stats.t.ppf(alpha / 2, nrow - 1) / stats.t.ppf(alpha / 2, df)) ** 2
        # R's qbeta with a shape of 0 (p rounded to 1 with a variance: n_eff = 0) is 0 or 1
        lo = 0.0 if n_eff * p == 0 else stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
        hi = 1.0 if n_eff * (1 - p) == 0 else stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
        return lo, hi, p
    if method == "wilson":
        if not 0 <= p <= 1:  # a "proportion" of an unbounded calibration: NaN bounds, as R's beta
            return np.nan, np.nan, p
        n_eff = p * (1 - p) / var
        if n_eff == 0:  # p rounded to 1 with a variance: the limit of Wilson's interval, as R's beta
            return 0.0, 1.0, p
        z2 = qt**2
        centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
        half = qt / (1 + z2 / n_eff) * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2))
        return centre - half, centre + half, p
    lo, hi = likelihood_ci(d, y0, df, level, answered=answered)
    return lo, hi, float(logit_linkinv(_glm_intercept_held(d, y0)))


def _boundary(method, p, n, qt):
    """(low, high) at p = 0 or p = 1 (no variance), as R 4.1 where it answers.

    R gives NaN bounds for "beta", "xlogit" and "asin", and errors for
    "likelihood"; Wilson's interval has a closed form there, with n the
    respondents (no design effect can be estimated without variance).
    None for the methods whose general formula holds ("logit", "mean").
    """
    if method in ("beta", "xlogit", "asin"):
        return np.nan, np.nan
    if method == "wilson":
        z2 = qt**2
        edge = z2 / (n + z2)
        return (0.0, edge) if p == 0 else (1.0 - edge, 1.0)
    if method == "likelihood":
        raise DesignError(
            f"ciprop(method=\"likelihood\"): no interval when every answer is "
            f"{'no' if p == 0 else 'yes'} (p = {p:g}; R's svyciprop errors too); "
            "use method=\"wilson\" or \"logit\""
        )
    return None


def _census(method, p, df):
    """(low, high) when the variance is exactly 0 and 0 < p < 1 (a census design).

    As R 4.1, (p, p) for "logit", "asin", "mean" and "xlogit"; R's "likelihood"
    errors. R's "beta" gives (0.5, 0.5) (qbeta with both shapes Inf, from an
    effective sample size p(1-p)/0): an interval without the estimate, so
    ramlab gives the limit (p, p) of the Clopper-Pearson interval, which is
    also what Wilson's formula gives there. With df = 0 (a domain of one PSU)
    there is no t quantile: every method's bounds are NaN, as R's ("beta"
    too). None where the general formula gives the answer.
    """
    if method == "likelihood":
        raise DesignError(
            'ciprop(method="likelihood"): no interval on a census design (no sampling '
            f"variance: every unit of the population was sampled, p = {p:g} is exact; "
            "R's svyciprop errors too); "
            + ('use method="logit" or "mean", which give (p, p)' if df > 0 else
               "with a single PSU (df = 0) no method has a t quantile: every interval is NaN")
        )
    if method == "beta" and df > 0:
        return p, p
    return None


def ciprop(design, x, *, method, level, category=None):
    """:meth:`Design.ciprop` (R ``svyciprop``): see its docstring."""
    if method not in CIPROP_METHODS:
        raise ValueError(f"method must be one of {CIPROP_METHODS}, not {method!r}")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if method == "likelihood" and not design.variance_engine.linearised:
        raise DesignError(
            'ciprop(method="likelihood") needs a linearised design: on a replicate design '
            "R's svyciprop answers NA (the profile interval scales by svyglm's model-based "
            "covariance, which a replicate-weight svyglm does not have); use method=\"logit\", "
            '"beta", "xlogit", "asin", "mean" or "wilson"'
        )
    y, name = _indicator(design, x, category)
    missing = np.isnan(y)
    # R: svyciprop(~x, subset(design, !is.na(x))), which drops the rows of an
    # uncalibrated design, weight 0 or not ("beta" counts them: nrow)
    d = design.subset(~missing) if missing.any() else design
    y0 = np.where(missing, 0.0, y)
    w = d.weight_values
    if method in ("logit", "likelihood") and (w < 0).any():
        raise WeightError(
            f'ciprop(method="{method}") of {name!r}: negative weights not allowed (R fits '
            f"svyglm, whose glm refuses them): {int((w < 0).sum())} rows have a negative weight "
            f'(min {w.min():.6g}); use method="mean", "beta", "xlogit", "asin" or "wilson", '
            "or calibrate with bounds", variable="weight",
        )
    pos = w != 0  # negative weights (unbounded linear calibration) count, as in R
    N = w.sum()
    p = np.float64(w @ y0 / N)  # numpy's: p rounded to 1 (a tiny weight answers no) divides by 0 as R
    u = np.where(pos, (y0 - p) / N, 0.0)
    var = float(d.statistic_vcov(lambda W: ((W.T @ y0) / W.sum(axis=0))[:, None], u[:, None])[0, 0])
    df = d.degf()
    edge = None
    if pos.any() and (y0[pos] == y0[pos][0]).all() and y0[pos][0] in (0.0, 1.0):
        p = float(y0[pos][0])  # every answer the same: p = 0 or 1, no variance
        from scipy import stats

        qt = stats.t.ppf(1 - (1 - level) / 2, df) if df > 0 else np.nan
        edge = _boundary(method, p, int(pos.sum()), qt)
    elif var == 0:
        edge = _census(method, p, df)
    if edge is not None:
        (lo, hi), est = edge, p
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            lo, hi, est = _interval(method, d, y0, p, var, df, level, ~missing)
    p = est
    return pd.Series(
        {"estimate": p, "se": np.sqrt(var), "ci_low": float(lo), "ci_high": float(hi), "df": float(df)},
        name=name,
    )
