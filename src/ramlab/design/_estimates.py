"""Means and totals, overall, by group and with design effects (R ``svymean``, ``svytotal``, ``svyby``).

Influence values of a mean in a domain: u_i = (y_i - ybar) / N_hat; of a
total: y_i. Their covariance comes from the design's variance engine
(:meth:`Design.total_vcov`). A categorical variable's influence values are
passed in coded form (:class:`ramlab.variance.Coded`: one row of values per
category), so that the engine sums them per cell and never forms the n x K
matrix of indicators. Tests: ``tests/design/test_design.py`` against R,
``tests/design/test_se_snapshot.py`` against the values before that path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._columns import as_list, categorical_column, column, factor_codes
from ramlab.errors import DesignError
from ramlab.variance import Coded

__all__ = ["estimate", "joint_estimate", "variable_matrix", "variables_matrix"]


def _variable(design, var):
    """A variable as category codes (-1 = missing) or numeric values (n,).

    Returns (values, labels, missing, categorical); ``missing`` is None when no
    value is missing (found without a boolean array).
    """
    s = column(design.data, var, "variable")
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == bool or s.dtype == object \
            or pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        codes, labels = factor_codes(s)
        missing = None if codes.size == 0 or codes.min() >= 0 else codes < 0
        return codes, list(labels), missing, True
    y = s.to_numpy(dtype=float, na_value=np.nan)
    missing = None if np.isfinite(y.sum()) else np.isnan(y)
    return y, [var], missing, False


def variable_matrix(design, var):
    """Matrix of a variable: numeric (n, 1) or category indicators (n, K).

    Returns (Y, labels, missing, categorical).
    """
    values, labels, missing, categorical = _variable(design, var)
    if missing is None:
        missing = np.zeros(design.n, dtype=bool)
    if categorical:
        return Coded(values, np.eye(len(labels))).dense(), labels, missing, True
    return values[:, None], labels, missing, False


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
    res = _estimate_domain(design, Y, missing, kind=kind, deff=False, na_rm=na_rm, cov=True,
                           variable=variables)
    V = res.pop("vcov")
    return pd.DataFrame(res, index=pd.Index(names)), pd.DataFrame(V, index=names, columns=names)


def groups(design, by):
    """Group codes (-1 = missing), labels and the groups with weight.

    ``by`` is a column or a list of columns (their cross-classification,
    labels are tuples), as R ``svyby(~a + b)``.
    """
    cols = as_list(by)
    pos = design.weight_values != 0  # negative weights count, as in R's svyby
    if len(cols) == 1:
        codes, labels = factor_codes(categorical_column(design.data, cols[0], "by variable"))
    else:
        parts = [factor_codes(categorical_column(design.data, c, "by variable")) for c in cols]
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
    if not (isinstance(deff, (bool, np.bool_)) or (isinstance(deff, str) and deff == "replace")):
        raise DesignError(f"deff must be False, True or \"replace\" (as R), not {deff!r}")
    Y, labels, missing, categorical = _variable(design, var)
    Y = (Y, len(labels)) if categorical else Y[:, None]
    if by is None:
        res = _estimate_domain(design, Y, missing, kind=kind, deff=deff, na_rm=na_rm, variable=var)
        index = pd.Index(labels, name=var if categorical else None)
        return pd.DataFrame(res, index=index)
    codes, glabels, present = groups(design, by)
    frames = []
    keys = []
    for g in present:
        d = design.subset(codes == g)
        res = _estimate_domain(d, Y, missing, kind=kind, deff=deff, na_rm=na_rm, variable=var)
        frames.append(pd.DataFrame(res, index=pd.Index(labels)))
        keys.append(glabels[g])
    if not frames:
        raise DesignError(
            f"no group of {by!r} has a respondent of positive weight (the by variable is missing "
            "on every row, or outside the subset)", variable=by)
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


def _estimate_domain(design, Y, missing, *, kind, deff, na_rm, variable, cov=False):
    """Estimates, SEs (and design effects, covariance) of variables in a domain design.

    ``Y`` is an (n, k) matrix of values or a categorical variable's
    ``(codes, K)``; ``missing`` a boolean array or None (nothing missing);
    ``variable`` names them in errors. Rows of zero weight (outside the
    domain) count for nothing, except on a replicate design, where a row
    counts when a replicate weighs it (as in R). A missing value makes the
    estimate NaN (R's svymean of a linearised design: NA), on a replicate
    design it is refused (R stops).
    """
    d = design
    any_missing = missing is not None and bool(missing.any())
    if na_rm and any_missing:
        d = design.subset(~missing)
    w = d.weight_values
    coded = isinstance(Y, tuple)
    k = Y[1] if coded else Y.shape[1]
    if any_missing and not d.variance_engine.linearised \
            and bool((missing & d.variance_engine.weighed_rows).any()):
        # R's replicate replicates are all NA there: svrVar stops
        raise DesignError(
            f"{variable!r} has missing values on rows the replicate weights weigh: R's "
            "svymean/svytotal of a replicate design stop there (\"All replicates contained NAs\"); "
            "give na_rm=True to leave them out", variable=variable)
    if any_missing and bool((missing & (w != 0)).any()):
        nan = np.full(k, np.nan)
        res = {"estimate": nan, "se": nan}
        if deff:
            res["deff"] = nan
        if cov:
            res["vcov"] = np.full((k, k), np.nan)
        return res
    psum = w.sum()
    if kind == "mean" and psum == 0:  # negative weights (a group of them) give a mean, as R
        raise DesignError(
            "mean of an empty domain: no row has a positive weight (every row is outside "
            "the subset" + (", or its value is missing)" if na_rm else ")")
        )
    if coded and d.variance_engine.linearised:
        codes = Y[0]
        ok = slice(None) if not any_missing else codes >= 0
        totals = np.bincount(codes[ok], weights=w[ok], minlength=k)
        ybar = totals / psum if psum != 0 else totals  # a total of an empty domain: 0, quietly
        # the influence values of each category: centred indicators for a mean
        values = (np.eye(k) - ybar) / psum if kind == "mean" else np.eye(k)
        V = d.total_vcov(Coded(codes, values))
    else:
        if coded:  # a replicate engine recomputes the statistic on the indicators
            Y = Coded(Y[0], np.eye(k)).dense()
        elif any_missing:
            Y = np.where(missing[:, None], 0.0, Y)
        totals = w @ Y
        ybar = totals / psum if psum != 0 else totals
        if kind == "mean":
            U = Y - ybar
            U /= psum
        else:
            U = Y  # each engine leaves out the rows it does not weigh
        if kind == "mean":
            V = d.statistic_vcov(lambda W: (W.T @ Y) / W.sum(axis=0)[:, None], U)
        else:
            V = d.total_vcov(U)
    est = ybar if kind == "mean" else totals
    se = np.sqrt(np.diag(V))
    res = {"estimate": est, "se": se}
    if cov:
        res["vcov"] = V
    if deff:
        res["deff"] = _design_effect(np.diag(V), w, Y, totals, ybar, psum, coded=coded, kind=kind, deff=deff)
    return res


def _design_effect(var, w, Y, totals, ybar, psum, *, coded, kind, deff):
    """Design effects: ``var`` over the variance under simple random sampling, as R's ``deff``.

    ``Y`` is the (n, k) value matrix; for a categorical variable (``coded``)
    the indicators' sums of squares come from ``totals`` instead.
    """
    nobs = int(np.count_nonzero(w))
    if nobs < 2 or psum == 0:
        # no variance under simple random sampling: svyvar's n / (n - 1) is
        # 1 / 0 for one respondent (R: 0 * Inf, NaN; see the test), and
        # weights summing to 0 have no mean
        return np.full(len(var), np.nan)
    # R svyvar: weighted variance with n / (n - 1), n = nonzero weights
    if coded:  # sum_i w_i (y_i - ybar)^2 of an indicator
        ss = totals * (1 - ybar) ** 2 + (psum - totals) * ybar**2
    else:
        ss = w @ ((Y - ybar) ** 2)
    var_y = ss / psum * nobs / (nobs - 1)
    if deff == "replace":  # R: svyvar / n, sampling with replacement
        vsrs = var_y / nobs
    else:  # R: svyvar * (N - n) / (N n), without replacement
        vsrs = var_y * (psum - nobs) / (psum * nobs)
    if kind == "total":
        vsrs = vsrs * psum**2
    if deff != "replace" and psum < nobs:
        vsrs = np.full(len(var), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return var / vsrs
