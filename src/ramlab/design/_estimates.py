"""Means and totals, overall, by group and with design effects (R ``svymean``, ``svytotal``, ``svyby``).

Influence values of a mean in a domain: u_i = (y_i - ybar) / N_hat; of a
total: y_i. Their covariance comes from the design's variance engine
(:meth:`Design.total_vcov`). Tests: ``tests/design/test_design.py`` against R.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._columns import as_list, column, factor_codes

__all__ = ["estimate", "joint_estimate", "variable_matrix", "variables_matrix"]


def variable_matrix(design, var):
    """Matrix of a variable: numeric (n, 1) or category indicators (n, K).

    Returns (Y, labels, missing, categorical).
    """
    s = column(design.data, var, "variable")
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == bool or s.dtype == object \
            or pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        codes, labels = factor_codes(s)
        missing = codes < 0
        K = len(labels)
        Y = np.zeros((design.n, K))
        ok = ~missing
        Y[np.flatnonzero(ok), codes[ok]] = 1.0
        return Y, list(labels), missing, True
    y = s.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(y)
    return y[:, None], [var], missing, False


def variables_matrix(design, variables):
    """Matrix of several variables side by side, with R's names (``stypeE``).

    Returns (Y, names, missing): missing where any variable is missing.
    """
    blocks, names = [], []
    missing = np.zeros(design.n, dtype=bool)
    for var in variables:
        Y, labels, miss, categorical = variable_matrix(design, var)
        blocks.append(Y)
        if categorical:
            names.extend(f"{var}{lab}" for lab in labels)
        else:
            names.append(var)
        missing |= miss
    return np.hstack(blocks), names, missing


def joint_estimate(design, variables, *, kind, na_rm):
    """Means or totals of several variables and their joint covariance (R ``vcov(svymean(~a + b))``).

    Returns (DataFrame with estimate and se, covariance DataFrame).
    """
    Y, names, missing = variables_matrix(design, variables)
    res = _estimate_domain(design, Y, missing, kind=kind, deff=False, na_rm=na_rm, cov=True)
    V = res.pop("vcov")
    return pd.DataFrame(res, index=pd.Index(names)), pd.DataFrame(V, index=names, columns=names)


def groups(design, by):
    """Group codes (-1 = missing), labels and the groups with weight.

    ``by`` is a column or a list of columns (their cross-classification,
    labels are tuples), as R ``svyby(~a + b)``.
    """
    cols = as_list(by)
    pos = design.weight_values > 0
    if len(cols) == 1:
        codes, labels = factor_codes(column(design.data, cols[0], "by"))
    else:
        parts = [factor_codes(column(design.data, c, "by")) for c in cols]
        codes = np.zeros(design.n, dtype=np.int64)
        missing = np.zeros(design.n, dtype=bool)
        for c, lab in parts:
            missing |= c < 0
            codes = codes * len(lab) + np.where(c < 0, 0, c)
        codes = np.where(missing, -1, codes)
        labels = np.empty(int(np.prod([len(lab) for _, lab in parts])), dtype=object)
        for i in range(labels.size):
            key, rest = [], i
            for _, lab in reversed(parts):
                key.append(lab[rest % len(lab)])
                rest //= len(lab)
            labels[i] = tuple(reversed(key))
    present = np.unique(codes[pos & (codes >= 0)])
    return codes, labels, present


def estimate(design, var, *, kind, by, deff, na_rm):
    """:meth:`Design.mean` and :meth:`Design.total`: see their docstrings."""
    Y, labels, missing, categorical = variable_matrix(design, var)
    if by is None:
        res = _estimate_domain(design, Y, missing, kind=kind, deff=deff, na_rm=na_rm)
        index = pd.Index(labels, name=var if categorical else None)
        return pd.DataFrame(res, index=index)
    codes, glabels, present = groups(design, by)
    frames = []
    keys = []
    for g in present:
        d = design.subset(codes == g)
        res = _estimate_domain(d, Y, missing, kind=kind, deff=deff, na_rm=na_rm)
        frames.append(pd.DataFrame(res, index=pd.Index(labels)))
        keys.append(glabels[g])
    if not frames:
        raise ValueError(f"no group of {by!r} has a positive weight")
    names = as_list(by)
    if len(names) == 1:
        gindex = pd.Index(keys, name=names[0])
    else:
        gindex = pd.MultiIndex.from_tuples(keys, names=names)
    if categorical:
        out = pd.concat(frames, keys=list(gindex), names=names + [var])
    else:
        out = pd.concat(frames)
        out.index = gindex
    return out


def _estimate_domain(design, Y, missing, *, kind, deff, na_rm, cov=False):
    d = design
    if na_rm and missing.any():
        d = design.subset(~missing)
    w = d.weight_values
    pos = w > 0
    Y = np.where(missing[:, None] & ~pos[:, None], 0.0, Y)
    has_na = bool((missing & pos).any())
    k = Y.shape[1]
    if has_na:
        nan = np.full(k, np.nan)
        res = {"estimate": nan, "se": nan}
        if deff:
            res["deff"] = nan
        if cov:
            res["vcov"] = np.full((k, k), np.nan)
        return res
    psum = w.sum()
    totals = w @ Y
    ybar = totals / psum
    if kind == "mean":
        U = np.where(pos[:, None], (Y - ybar) / psum, 0.0)
        est = ybar
        V = d.statistic_vcov(lambda W: (W.T @ Y) / W.sum(axis=0)[:, None], U)
    else:
        U = np.where(pos[:, None], Y, 0.0)
        est = totals
        V = d.total_vcov(U)
    se = np.sqrt(np.diag(V))
    res = {"estimate": est, "se": se}
    if cov:
        res["vcov"] = V
    if deff:
        nobs = int(pos.sum())
        # R svyvar: weighted variance with n / (n - 1), n = nonzero weights
        with np.errstate(divide="ignore", invalid="ignore"):
            var_y = (w @ ((Y - ybar) ** 2)) / psum * nobs / (nobs - 1)
            vsrs = var_y * (psum - nobs) / (psum * nobs)
        if kind == "total":
            vsrs = vsrs * psum**2
        if psum < nobs:
            vsrs = np.full(k, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            res["deff"] = np.diag(V) / vsrs
    return res
