"""Quantiles with Woodruff confidence intervals (R 4.1 ``svyquantile``).

Point estimate: a quantile rule of the weighted distribution (R ``qrule``):
"math" (default; the smallest x whose weighted CDF reaches p), "school"
(the midpoint of two order statistics when the CDF hits p exactly), "hf7"
(Hyndman-Fan type 7 with weights). Interval (R ``woodruffCI``): a
confidence interval for the CDF at the quantile, F(q) = mean of
I(x <= q) with its design SE and t quantiles on ``degf`` degrees of freedom
("mean"; or on the logit ("xlogit") or arcsine ("asin") scale, or
Korn-Graubard's "beta"), mapped back through the quantile rule. Or
("score", R ``ffullerCI``, Francisco & Fuller 1991) the values of q where
the design-based score test of F(q) = p reaches -/+ t. The SE is
(ci_high - ci_low) / (2 t). On a replicate design the CDF's SE comes from
the replicates, as R's ``svyquantile.svyrep.design`` does (which has no
"score" interval), or ("quantile", R ``repCI``, replicate designs only) the
quantile itself is recomputed with every replicate's weights, its variance
taken around the full-sample quantile (R ``svrVar``) and the interval is
q -/+ t se. Tests: ``tests/design/test_quantile.py``, ``test_quantile_corners.py``,
``tests/design/test_replicate.py``.

Cumulative sums run in extended precision, as R's ``cumsum`` and ``sum``
do, so that the comparisons of the CDF with p break ties as R does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._columns import as_list, column
from ramlab.design._estimates import groups
from ramlab.errors import warn

__all__ = ["INTERVAL_TYPES", "QRULES", "quantile", "quantile_rule"]

QRULES = ("math", "school", "hf7")
INTERVAL_TYPES = ("mean", "beta", "xlogit", "asin", "score", "quantile")


def _sorted_positive(x, w):
    keep = w != 0
    x, w = x[keep], w[keep]
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cum = np.cumsum(w.astype(np.longdouble))
    return x, cum.astype(float), float(cum[-1]) if cum.size else 0.0


def quantile_rule(x, w, p, rule="math"):
    """The p-quantile of ``x`` with weights ``w`` under R's ``qrule`` (rows of weight 0 left out)."""
    x, cumw, total = _sorted_positive(np.asarray(x, dtype=float), np.asarray(w, dtype=float))
    n = x.size
    if n == 0:
        return np.nan
    if rule == "hf7":
        pk = np.concatenate([[0.0], cumw[:-1]]) / cumw[n - 2]
        # R approx(rule = 2): linear, ties of pk averaged, ends held
        frame = pd.DataFrame({"pk": pk, "x": x}).groupby("pk", sort=True)["x"].mean()
        return float(np.interp(p, frame.index.to_numpy(), frame.to_numpy()))
    hits = np.flatnonzero(cumw <= p * total)
    pos = hits[-1] if hits.size else 0  # R survey:::last, 1 when none
    nxt = pos if pos == n - 1 else pos + 1
    exact = p - cumw[pos] / total == 0
    if rule == "math":
        return float(x[pos] if exact else x[nxt])
    if rule == "school":
        return float((x[pos] + x[nxt]) / 2 if exact else x[nxt])
    raise ValueError(f"qrule must be one of {QRULES}, not {rule!r}")


def _cdf_and_variance(d, x, q):
    """The estimated CDF at ``q``, F(q) = mean of I(x <= q), and its design variance."""
    w = d.weight_values
    pos = w != 0  # negative weights (unbounded linear calibration) count, as in R
    y = (x <= q).astype(float)
    N = w.sum()
    p = float(w @ y / N)
    u = np.where(pos, (y - p) / N, 0.0)
    return p, float(d.statistic_vcov(lambda W: ((W.T @ y) / W.sum(axis=0))[:, None], u[:, None])[0, 0])


def _score_interval(d, x, p, df, level, rule):
    """R ``ffullerCI``: the interval of the quantile by inverting the score test of F(q) = p.

    As R: each bound is a root (``uniroot``, tolerance 1 / (100 sqrt(n)))
    of (p - F(q)) / se(F(q)) -/+ t over [min + IQR / 100, max - IQR / 100],
    then mapped through the quantile rule at the *unweighted* share of the
    rows at or below it (R's ``mean(x <= qlow)``). n, the IQR, min, max and
    that share are taken over the rows R's design object holds
    (:attr:`held_rows`): a domain's rows only, unless calibrated.
    """
    from ramlab.design._rcompat import uniroot

    tq = _tcrit(df, level)

    def score(theta, limit):
        F, var = _cdf_and_variance(d, x, theta)
        with np.errstate(divide="ignore"):  # outside the data's range: F = 0 or 1, no variance
            return (p - F) / np.sqrt(var) - limit

    rows = d.held_rows
    held = x if rows is None else x[rows]
    q25, q75 = np.percentile(held, [25, 75])  # R IQR(): type 7
    lower, upper = held.min() + (q75 - q25) / 100, held.max() - (q75 - q25) / 100
    tol = 1 / (100 * np.sqrt(held.size))
    w = d.weight_values
    return tuple(quantile_rule(x, w, float(np.mean(held <= uniroot(lambda t: score(t, limit), lower, upper, tol))),
                               rule) for limit in (tq, -tq))


def _cdf_interval(d, x, qhat, df, level, interval_type):
    """R ``woodruffCI``'s confidence interval for the CDF at ``qhat``."""
    from scipy import stats

    from ramlab.design._rcompat import expit

    p, var = _cdf_and_variance(d, x, qhat)
    se = np.sqrt(var)
    alpha = 1 - level
    qt = _tcrit(df, level)
    if interval_type == "mean":
        return p - qt * se, p + qt * se
    if interval_type == "xlogit":
        c, s = np.log(p / (1 - p)), se / (p * (1 - p))
        # R's expit, exp(eta) / (1 + exp(eta)): 0 far below, NaN (Inf / Inf) beyond eta = 709.78
        return expit(c - qt * s), expit(c + qt * s)
    if interval_type == "asin":
        c, s = np.arcsin(np.sqrt(p)), se / (2 * np.sqrt(p * (1 - p)))
        return np.sin(c - qt * s) ** 2, np.sin(c + qt * s) ** 2
    n_eff = p * (1 - p) / var
    n_eff *= (stats.t.ppf(alpha / 2, d.n_held_rows - 1) / stats.t.ppf(alpha / 2, df)) ** 2
    return (stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1),
            stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p)))


def _replicate_se(d, x, q, p, rule):
    """R ``repCI``: the SE of the quantile recomputed with every replicate's weights,
    centred as R ``svrVar`` (on the replicates' mean, or on ``q`` with ``mse``)."""
    engine = d.variance_engine
    thetas = [quantile_rule(x, W[:, r], p, rule) for W in engine.replicate_blocks() for r in range(W.shape[1])]
    return float(np.sqrt(engine.vcov_of(np.array(thetas)[:, None], np.array([q]))[0, 0]))


def _tcrit(df, level):
    """R's ``qt(1 - alpha / 2, df)`` (``df`` is a design's degf: a finite count)."""
    from scipy import stats

    return stats.t.ppf(1 - (1 - level) / 2, df)


def _one(d, x, probs, *, ci, level, interval_type, rule):
    """Rows (estimate[, se, ci_low, ci_high]) of the quantiles of one domain."""
    w = d.weight_values
    rows = []
    df = d.degf() if ci else None
    for p in probs:
        q = quantile_rule(x, w, p, rule)
        if not ci:
            rows.append((q,))
            continue
        if interval_type == "score":
            lo, hi = _score_interval(d, x, p, df, level, rule)
        elif interval_type == "quantile":
            half = _tcrit(df, level) * _replicate_se(d, x, q, p, rule)
            lo, hi = q - half, q + half
        else:
            lo_p, hi_p = _cdf_interval(d, x, q, df, level, interval_type)
            lo = np.nan if (np.isnan(lo_p) or lo_p < 0) else quantile_rule(x, w, lo_p, rule)
            hi = np.nan if (np.isnan(hi_p) or hi_p > 1) else quantile_rule(x, w, hi_p, rule)
        rows.append((q, (hi - lo) / (2 * _tcrit(df, level)), lo, hi))
    return rows


def quantile(design, var, probs, *, ci, by, interval_type, qrule, level, na_rm):
    """:meth:`SurveyDesign.quantile` (R ``svyquantile``): see its docstring (and its defaults)."""
    from scipy import stats

    if qrule not in QRULES:
        raise ValueError(f"qrule must be one of {QRULES}, not {qrule!r}")
    if interval_type not in INTERVAL_TYPES:
        raise ValueError(f"interval_type must be one of {INTERVAL_TYPES}, not {interval_type!r}")
    if interval_type == "score" and ci and not design.variance_engine.linearised:
        # R's svyquantile.svyrep.design has no score interval either
        raise ValueError('interval_type="score" needs a linearised design; on a replicate design use '
                         '"mean", "beta", "xlogit", "asin" or "quantile"')
    if interval_type == "quantile" and ci:
        if design.variance_engine.linearised:
            # R's svyquantile.survey.design has no "quantile" interval either
            raise ValueError('interval_type="quantile" needs a replicate design (R repCI); on a '
                             'linearised design use "mean", "beta", "xlogit", "asin" or "score"')
        if design.type in ("JK1", "JKn"):
            warn("Jackknife replicate weights may not give valid standard errors for "
                          'quantiles (R svyquantile, interval.type = "quantile")')
    probs = [float(p) for p in np.atleast_1d(probs)]
    x = column(design.data, var, "variable").to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(x)
    base = design
    if missing.any():
        if not na_rm and (missing & design.variance_engine.weighed_rows).any():
            raise ValueError(f"{var!r} has missing values: give na_rm=True to leave them out")
        base = design.subset(~missing)
    x = np.where(missing, 0.0, x)
    columns = ["estimate", "se", "ci_low", "ci_high"] if ci else ["estimate"]
    opts = dict(ci=ci, level=level, interval_type=interval_type, rule=qrule)
    if by is None:
        return pd.DataFrame(_one(base, x, probs, **opts), columns=columns, index=pd.Index(probs, name="p"))
    codes, glabels, present = groups(base, by)
    frames, keys = [], []
    z = stats.norm.ppf(1 - (1 - level) / 2)
    for g in present:
        rows = _one(base.subset(codes == g), x, probs, **opts)
        if ci:  # R confint(svyby): quantile -/+ qnorm * se, not the Woodruff interval
            rows = [(q, se, q - z * se, q + z * se) for q, se, _, _ in rows]
        frames.append(pd.DataFrame(rows, columns=columns, index=probs))  # named by concat below
        keys.append(glabels[g])
    names = as_list(by)
    out = pd.concat(frames, keys=keys, names=names + ["p"])
    return out.droplevel("p") if len(probs) == 1 else out
