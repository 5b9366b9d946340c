"""Ratios of totals and variances (R ``svyratio``, ``svyvar``).

Linearised design: influence values of a ratio R = Y / X are
(y_i - R x_i) / X (R ``svyratio.survey.design2``); a variance is the mean
of (x_i - xbar)^2 n / (n - 1), its SE that mean's, xbar held fixed (R
``svyvar.survey.design``). Replicate design: the statistic recomputed with
each replicate's weights (R ``svyratio.svyrep.design``,
``svyvar.svyrep.design``). Tests: ``tests/design/test_ratio.py``,
``tests/design/test_contrast_ratio_corners.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._columns import as_list, column
from ramlab.design._estimates import groups
from ramlab.errors import DesignError

__all__ = ["ratio", "variance"]


def _numeric(design, var):
    s = column(design.data, var, "variable")
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        raise TypeError(f"{var!r} is not numeric: a ratio or a variance needs numbers")
    return s.to_numpy(dtype=float, na_value=np.nan)


def _domain(design, missing, na_rm, r_function):
    """The design with the rows of missing values left out (na_rm), or None when one is weighted.

    ``missing`` maps each variable to its (n,) missing values. A row counts
    when its weight is not 0: unbounded linear calibration can make weights
    negative, and R keeps those rows (``1 / design$prob``); on a replicate
    design, also when only replicates weigh it, and a missing value there is
    refused, as R's ``r_function`` stops.
    """
    either = np.logical_or.reduce(list(missing.values()))
    if not either.any():
        return design
    if na_rm:
        return design.subset(~either)
    weighed = design.variance_engine.weighed_rows
    if not (either & weighed).any():
        return design
    if not design.variance_engine.linearised:
        variable = next(v for v, m in missing.items() if (m & weighed).any())
        raise DesignError(
            f"{variable!r} has missing values on rows the replicate weights weigh: R's "
            f"{r_function} of a replicate design stops there (\"All replicates contained NAs\"); "
            "give na_rm=True to leave them out", variable=variable)
    return None


def _ratio_domain(d, y, x):
    if d is None:
        return np.nan, np.nan
    w = d.weight_values
    pos = d.variance_engine.weighed_rows  # a replicate design: also rows only replicates weigh, as R
    y0, x0 = np.where(pos, y, 0.0), np.where(pos, x, 0.0)
    Y, X = w @ y0, w @ x0
    r = Y / X
    u = np.where(pos, (y0 - r * x0) / X, 0.0)
    V = d.statistic_vcov(lambda W: ((W.T @ y0) / (W.T @ x0))[:, None], u[:, None])
    return float(r), float(np.sqrt(V[0, 0]))


def ratio(design, numerator, denominator, *, by=None, na_rm=False):
    """:meth:`SurveyDesign.ratio` (R ``svyratio``): see its docstring."""
    y = _numeric(design, numerator)
    x = _numeric(design, denominator)
    missing = {numerator: np.isnan(y), denominator: np.isnan(x)}
    name = f"{numerator}/{denominator}"
    if by is None:
        est, se = _ratio_domain(_domain(design, missing, na_rm, "svyratio"), y, x)
        return pd.DataFrame({"estimate": [est], "se": [se]}, index=pd.Index([name]))
    codes, glabels, present = groups(design, by)
    rows = [_ratio_domain(_domain(design.subset(codes == g), missing, na_rm, "svyratio"), y, x)
            for g in present]
    names = as_list(by)
    keys = [glabels[g] for g in present]
    index = pd.Index(keys, name=names[0]) if len(names) == 1 else pd.MultiIndex.from_tuples(keys, names=names)
    return pd.DataFrame(rows, columns=["estimate", "se"], index=index)


def _products(X, xbar):
    """(n, p*p) products (x_a - xbar_a)(x_b - xbar_b), column-major as R's matrix(v, ncol = p)."""
    dev = X - xbar
    p = X.shape[1]
    return dev[:, np.tile(np.arange(p), p)] * dev[:, np.repeat(np.arange(p), p)]


def variance(design, variables, *, na_rm=False):
    """:meth:`SurveyDesign.var` (R ``svyvar``): see its docstring."""
    variables = as_list(variables)
    X = np.column_stack([_numeric(design, v) for v in variables])
    d = _domain(design, {v: np.isnan(X[:, j]) for j, v in enumerate(variables)}, na_rm, "svyvar")
    # R svyvar.survey.design: n = the rows of nonzero weight of the design
    # given, counted before na.rm drops the missing ones; svyvar.svyrep.design:
    # the rows its replicate design holds once they are dropped
    n = int(np.count_nonzero(design.weight_values)) if design.variance_engine.linearised else None
    p = len(variables)
    # p x p entries in R's column-major order: (row variable, column variable)
    index = pd.Index(variables) if p == 1 else pd.MultiIndex.from_arrays(
        [np.tile(variables, p), np.repeat(variables, p)])
    if d is None:
        return pd.DataFrame({"estimate": np.nan, "se": np.nan}, index=index)
    w = d.weight_values
    pos = d.variance_engine.weighed_rows  # a replicate design: also rows only replicates weigh, as R
    X0 = np.where(pos[:, None], X, 0.0)
    n = d.n_held_rows if n is None else n
    N = w.sum()
    Z = _products(X0, (w @ X0) / N) * (n / (n - 1))
    est = (w @ Z) / N
    U = np.where(pos[:, None], (Z - est) / N, 0.0)

    def replicate_variances(W):
        out = np.empty((W.shape[1], p * p))
        for j in range(W.shape[1]):
            wj = W[:, j]
            Nj = wj.sum()
            out[j] = wj @ _products(X0, (wj @ X0) / Nj) * (n / (n - 1)) / Nj
        return out

    V = d.statistic_vcov(replicate_variances, U)
    return pd.DataFrame({"estimate": est, "se": np.sqrt(np.diag(V))}, index=index)
