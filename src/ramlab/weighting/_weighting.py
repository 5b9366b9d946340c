"""Weighting: raking, calibration, post-stratification, trimming.

Each function takes a :class:`ramlab.design.Design` (read through its
public ``data``, ``n`` and ``weight_values``) and returns what it computed,
a :class:`Reweighting`: the new weights and a
:class:`ramlab.variance.Calibration` record. :meth:`Design.apply_weighting`
makes the new design, which remembers the record, so that its standard
errors residualise influence values as R ``survey`` does (``svyrecvar``
with a ``greg_calibration`` record: Deville & Sarndal 1992 linearisation).

References
----------
R survey 4.1-1 (Lumley): ``rake``, ``calibrate.survey.design2``, ``grake``,
``regcalibrate.survey.design2``, ``postStratify.survey.design``,
``trimWeights.survey.design2``.
Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in survey
sampling. JASA 87, 376-382.
Kalton, G. and Flores-Cervantes, I. (2003). Weighting methods. Journal of
Official Statistics 19, 81-97.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ramlab.categories import factor, missing_as_level
from ramlab.errors import BoundsError, ConvergenceError, MarginError, WeightError
from ramlab.variance import (
    Calibration,
    CalibrationModel,
    CellIndicators,
    cells_from_codes,
    pinv_sym,
)

__all__ = [
    "Reweighting",
    "calibrate_weights",
    "poststratify_weights",
    "rake_weights",
    "trim_weights",
    "weight_summary",
]


@dataclass(frozen=True, eq=False)
class Reweighting:
    """What a weighting step computed, for :meth:`Design.apply_weighting`.

    Attributes
    ----------
    weights : ndarray (n,)
        The new weights.
    calibration : Calibration or None
        The record the variance needs (:class:`ramlab.variance.Calibration`);
        None for a step that leaves the calibrations as they are (trimming,
        as R's ``trimWeights``).
    replicates : ndarray (n, R) or None
        The replicate weights of a replicate design, each reweighted the
        same way (R's ``rake`` & co. on a ``svyrep.design``).
    """

    weights: np.ndarray
    calibration: Calibration | None
    replicates: np.ndarray | None = None


# --------------------------------------------------------------------------
# weight summary
# --------------------------------------------------------------------------


def weight_summary(weights):
    """Summary of a set of weights.

    Parameters
    ----------
    weights : array-like, pandas.Series or Design
        Weights (a design's ``weights``). Zero weights (rows outside a
        domain) are left out.

    Returns
    -------
    pandas.Series with
        ``n`` (number of positive weights), ``sum``,
        ``kish_deff`` = n * sum(w^2) / sum(w)^2 (Kish 1965 design effect due
        to unequal weighting), ``n_eff`` = n / kish_deff, ``efficiency`` =
        1 / kish_deff, ``min``, ``max``, ``max_min_ratio`` and ``cv`` =
        standard deviation (population form, ddof=0) / mean.

    Examples
    --------
    >>> from ramlab import weight_summary
    >>> weight_summary([10.0, 10.0, 10.0, 20.0, 20.0, 20.0, 0.0]).round(3)
    n                 6.000
    sum              90.000
    kish_deff         1.111
    n_eff             5.400
    efficiency        0.900
    min              10.000
    max              20.000
    max_min_ratio     2.000
    cv                0.333
    Name: weight_summary, dtype: float64
    """
    if hasattr(weights, "total_vcov"):  # a Design
        weights = weights.weights
    w = np.asarray(weights, dtype=float).ravel()
    if np.isnan(w).any() or np.isinf(w).any() or (w < 0).any():
        raise WeightError("weights must be finite and non-negative", variable=getattr(weights, "name", None))
    w = w[w > 0]
    n = w.size
    s = w.sum()
    s2 = (w * w).sum()
    deff = n * s2 / s**2 if n else np.nan
    mean = s / n if n else np.nan
    return pd.Series(
        {
            "n": float(n),
            "sum": s,
            "kish_deff": deff,
            "n_eff": n / deff if n else np.nan,
            "efficiency": 1.0 / deff if n else np.nan,
            "min": w.min() if n else np.nan,
            "max": w.max() if n else np.nan,
            "max_min_ratio": w.max() / w.min() if n else np.nan,
            "cv": w.std(ddof=0) / mean if n else np.nan,
        },
        name="weight_summary",
    )


# --------------------------------------------------------------------------
# categorical terms
# --------------------------------------------------------------------------


def _coded(var, series, w, role):
    """Codes and labels of a weighting variable (:func:`ramlab.categories.factor`).

    Missing values are refused among weighted rows; rows outside a domain
    (zero weight) with a missing value get an extra, untargeted level.
    """
    codes, labels = factor(series)
    miss = codes < 0
    if miss.any():
        bad = int((miss & (w > 0)).sum())
        if bad:
            raise MarginError(f"{role} {var!r} has {bad} missing values among weighted rows",
                              variable=var)
    return missing_as_level(codes, labels)


def _category_targets(var, labels, margin, scale):
    """Targets (K,) aligned on the labels (NaN: no target), with validation."""
    items = list(margin.items())
    idx = labels.get_indexer([k for k, _ in items])
    missing_cats = [k for (k, _), i in zip(items, idx) if i < 0]
    if missing_cats:
        raise MarginError(
            f"margin of {var!r}: category {missing_cats[0]!r} does not exist in the data "
            f"(categories: {[c for c in labels if c is not None]})",
            variable=var,
            category=missing_cats[0],
        )
    targets = np.full(len(labels), np.nan)
    vals = np.array([float(v) for _, v in items])
    if np.any(~np.isfinite(vals)) or np.any(vals < 0):
        bad = items[int(np.flatnonzero(~np.isfinite(vals) | (vals < 0))[0])][0]
        raise MarginError(f"margin of {var!r}: target of {bad!r} is negative or not finite",
                          variable=var, category=bad)
    targets[idx] = vals * scale
    return targets


def _check_support(var, labels, targets, sums, *, what, noun, zero_target_ok, where=""):
    """Each category's weighted sample against its target.

    Refused: respondents without a target, a positive target without
    respondents and, unless ``zero_target_ok``, respondents with a target
    of 0.
    """
    labels = [lab.item() if isinstance(lab, np.generic) else lab for lab in labels]  # 2, not np.int64(2)
    for k, tk in enumerate(targets):
        if np.isnan(tk):
            if sums[k] > 0:
                raise MarginError(
                    f"{where}{what} of {var!r}: category {labels[k]!r} has respondents but no {noun}",
                    variable=var, category=labels[k],
                )
        elif tk > 0 and sums[k] <= 0:
            raise MarginError(
                f"{where}{what} of {var!r}: category {labels[k]!r} has no respondents ({noun} {float(tk)!r})",
                variable=var, category=labels[k],
            )
        elif tk == 0 and sums[k] > 0 and not zero_target_ok:
            raise MarginError(
                f"{where}{what} of {var!r}: category {labels[k]!r} has respondents but a {noun} of 0",
                variable=var, category=labels[k],
            )


# --------------------------------------------------------------------------
# raking
# --------------------------------------------------------------------------


def _normalise_margins(margins, population):
    if not isinstance(margins, dict) or not margins:
        raise MarginError("margins must be a non-empty dict {column: {category: count}}")
    out = {}
    for var, m in margins.items():
        if isinstance(m, pd.DataFrame) and m.shape[1] == 2:
            # R style: data.frame(<var> = categories, Freq = counts)
            m = dict(zip(m.iloc[:, 0], m.iloc[:, 1]))
        if isinstance(m, pd.Series):
            m = m.to_dict()
        if not isinstance(m, dict) or not m:
            raise MarginError(f"margin of {var!r} must be a non-empty mapping category -> count",
                              variable=var)
        if population is not None:
            s = float(sum(m.values()))
            if abs(s - 1.0) > 1e-6:
                raise MarginError(
                    f"margin of {var!r}: proportions sum to {s!r}, not 1", variable=var
                )
        out[var] = m
    return out


def _rake_setup(design, margins, population, w, tol):
    """Validate margins and build the cell index of their cross-classification."""
    data = design.data
    scale = 1.0 if population is None else float(population)
    terms = []
    for var, m in margins.items():
        if var not in data.columns:
            raise MarginError(f"margin variable {var!r} is not in the data", variable=var)
        codes, labels = _coded(var, data[var], w, "margin variable")
        targets = _category_targets(var, labels, m, scale)
        terms.append((var, codes, len(labels), targets, labels))
    # totals must agree
    sums = [(var, np.nansum(t)) for var, _, _, t, _ in terms]
    ref_var, ref = sums[0]
    for var, s in sums[1:]:
        if abs(s - ref) > max(tol, 1e-12) * max(abs(ref), 1.0):
            raise MarginError(
                f"margins disagree: {ref_var!r} totals {ref!r} but {var!r} totals {s!r}",
                variable=var,
            )
    Ks = [t[2] for t in terms]
    cell, ncell, cell_codes = _cell_index([t[1] for t in terms], Ks, design.n)
    return terms, cell, ncell, cell_codes


def _ipf_cells(cw, cell_codes, Ks, targets, tol, max_iter):
    """Raking of cell totals ``cw`` to the margins (iterative proportional fitting,
    finished by Newton steps on the log-linear parameters when IPF is slow).

    Returns the adjustment factor per cell and the number of iterations.
    """
    cur = cw.copy()
    tgt = [np.nan_to_num(t, nan=0.0) for t in targets]
    has_t = [~np.isnan(t) for t in targets]

    def errors(c):
        e = 0.0
        for cc, K, t, h in zip(cell_codes, Ks, tgt, has_t):
            s = np.bincount(cc, weights=c, minlength=K)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(t > 0, np.abs(s - t) / t, np.where(h, np.abs(s), 0.0))
            e = max(e, float(rel.max()))
        return e

    it = 0
    err = errors(cur)
    while err > tol and it < max_iter:
        it += 1
        if it <= 30:
            for cc, K, t in zip(cell_codes, Ks, tgt):
                s = np.bincount(cc, weights=cur, minlength=K)
                with np.errstate(divide="ignore", invalid="ignore"):
                    f = np.where(s > 0, t / s, 1.0)
                cur *= f[cc]
        else:
            # Newton step on the raking equations (same solution as IPF)
            X = cells_from_codes(cell_codes, Ks)
            t_all = np.concatenate(tgt)
            s_all = X.rmatvec(cur)
            delta = pinv_sym(X.gram(cur)) @ (t_all - s_all)
            xd = X.matvec(delta)
            step = 1.0
            for _ in range(30):
                trial = cur * np.exp(np.clip(step * xd, -700, 700))
                e_trial = errors(trial)
                if np.isfinite(e_trial) and e_trial < err:
                    break
                step /= 2
            cur = trial
        err = errors(cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(cw > 0, cur / cw, 1.0)
    return g, it, err


def rake_weights(design, margins, *, tol=1e-10, max_iter=100, cap=None, population=None):
    """Rake the weights of a design to population margins (:meth:`Design.rake`).

    Parameters
    ----------
    design : Design
        Its weights are the seed.
    margins : dict
        ``{column: {category: population count}}`` (a Series, or a
        two-column DataFrame of categories and counts as R's ``rake`` takes,
        will do for the inner mapping); with ``population``,
        ``{column: {category: proportion}}`` (each margin summing to 1).
    tol : float
        Largest relative error |weighted margin - target| / target allowed
        on any category of any margin.
    max_iter : int
        Maximum number of iterations (sweeps over the margins).
    cap : (float, float), optional
        Lower and upper limits on the final weights (None for no limit).
        The result is w_i = clip(d_i * g_cell(i), lo, hi) with every margin
        met within ``tol``, g_cell(i) the raking factor of row i's cell: R's
        ``calibrate(calfun = "raking", bounds = cap, bounds.const = TRUE)``.
        The raking of the limited weights converges more slowly than the
        raking without limits: it may run max(``max_iter``, 1000) sweeps.
    population : float, optional
        Population size, when the margins are proportions.

    Returns
    -------
    Reweighting
        The raked weights and their calibration record; the design that
        :meth:`Design.apply_weighting` makes of it has the standard errors of R's
        ``calibrate(calfun = "raking")`` on the same margins (residuals of
        the regression on the margins' indicators weighted by the seed
        weights, times the final weights).

    Raises
    ------
    MarginError
        Unknown variable or category, missing values, a category with no
        respondents, a category with respondents and no target, margins
        whose totals disagree.
    ConvergenceError
        The relative error did not fall below ``tol`` in ``max_iter``
        iterations.
    BoundsError
        ``cap`` cannot be met together with the margins (a category whose
        rows cannot reach its target within the limits is named), or was
        not met in max(``max_iter``, 1000) sweeps.

    Notes
    -----
    Raking only depends on the cells of the cross-classification of the
    margin variables: the seed weights are summed per cell once, the
    iterative proportional fitting (Deming & Stephan 1940) runs on the cell
    totals, and the per-cell factor is applied to the rows once. Same
    solution as R ``rake()`` / ``calibrate(calfun = "raking")``.
    """
    margins = _normalise_margins(margins, population)
    w0 = design.weight_values
    terms, cell, ncell, cell_codes = _rake_setup(design, margins, population, w0, tol)
    Ks = [t[2] for t in terms]
    targets = [t[3] for t in terms]
    setup = (terms, cell, ncell, cell_codes, Ks, targets)
    w_new, cw = _rake_one(w0, setup, tol, max_iter, cap)
    cells = cells_from_codes(cell_codes, Ks)
    model = CalibrationModel(cell=cell, cells=cells, Z=None, names=tuple(t[0] for t in terms))
    G = cells.gram(cw)
    A = design.replicate_weight_values
    reps = None
    if A is not None:
        reps = np.empty_like(A)
        for r in range(A.shape[1]):
            reps[:, r] = _rake_one(A[:, r], setup, tol, max_iter, cap, where=f"replicate {r + 1}: ")[0]
    return Reweighting(w_new, Calibration("rake", model, w0, w_new, G), reps)


def _rake_one(w0, setup, tol, max_iter, cap, where=""):
    """Raked weights of one set of seed weights ``w0``, and its cell totals."""
    terms, cell, ncell, cell_codes, Ks, targets = setup
    cw = np.bincount(cell, weights=w0, minlength=ncell)
    for (var, _, K, t, labels), cc in zip(terms, cell_codes):
        _check_support(var, labels, t, np.bincount(cc, weights=cw, minlength=K),
                       what="margin", noun="target", zero_target_ok=False, where=where)
    g, it, err = _ipf_cells(cw, cell_codes, Ks, targets, tol, max_iter)
    if err > tol:
        raise ConvergenceError(
            f"{where}raking did not converge: largest relative error {err:.3g} after {it} "
            f"iterations (tol {tol:g})",
            max_error=err,
            iterations=it,
        )
    w_new = np.take(g, cell)
    np.multiply(w_new, w0, out=w_new)
    if cap is not None:
        w_new = _capped(w0, w_new, setup, tol, max_iter, cap, where)
    return w_new, cw


def _capped(w0, w, setup, tol, max_iter, cap, where=""):
    """Raking with limits on the weights: w_i = clip(d_i * g_cell(i), lo, hi), every margin met.

    ``w`` is the raking without limits (d_i * g_cell(i)). Iterative
    proportional fitting on the clipped weights: each category of each
    margin in turn gets the factor f that brings the sum over its rows of
    clip(d_i * g_cell(i) * f, lo, hi) to its target, until the largest
    relative error is below ``tol``. Each sweep is a step of coordinate
    ascent on the dual of the raking distance with bounds on the weights
    (R ``calibrate(calfun = "raking", bounds.const = TRUE)`` solves the same
    problem by Newton steps), so the sweeps reach the solution when there
    is one; coordinate ascent is slower than Newton steps, hence at least
    1000 sweeps.
    """
    terms, cell, ncell, cell_codes, Ks, targets = setup
    lo, hi = cap
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    if lo > hi:
        raise BoundsError(f"cap lower limit {lo} is above the upper limit {hi}")
    rows = np.flatnonzero(w0 > 0)
    if not np.any((w[rows] < lo) | (w[rows] > hi)):
        return w
    d, c = w0[rows], cell[rows]
    cats = [cc[c] for cc in cell_codes]  # each row's category in each margin
    for (var, _, K, t, labels), cat in zip(terms, cats):
        n_k = np.bincount(cat, minlength=K)
        least = n_k * max(lo, 0.0)
        most = n_k * hi if np.isfinite(hi) else np.where(n_k > 0, np.inf, 0.0)
        out = np.flatnonzero((t < least * (1 - tol)) | (t > most * (1 + tol)))
        if out.size:
            k = out[0]
            reach = f"at least {float(least[k])!r}" if t[k] < least[k] else f"at most {float(most[k])!r}"
            raise BoundsError(
                f"{where}cap {cap} cannot be met: category {labels[k]!r} of {var!r} has a target of "
                f"{float(t[k])!r}, but its {n_k[k]} rows weigh {reach} within the limits"
            )
    g = np.ones(ncell)
    g[c] = w[rows] / d
    it, err = 0, np.inf
    while it < max(max_iter, 1000):
        it += 1
        for cat, K, t, cc in zip(cats, Ks, targets, cell_codes):
            g *= _clipped_factor(d * g[c], cat, K, t, lo, hi, tol)[cc]
        x = np.clip(d * g[c], lo, hi)
        err = 0.0
        for cat, K, t in zip(cats, Ks, targets):
            s = np.bincount(cat, weights=x, minlength=K)
            with np.errstate(divide="ignore", invalid="ignore"):
                err = max(err, float(np.max(np.where(t > 0, np.abs(s - t) / t, 0.0))))
        if err <= tol:
            break
    if err > tol:
        raise BoundsError(f"{where}cap {cap} cannot be met with the margins: largest relative error "
                          f"{err:.3g} after {it} iterations")
    capped = np.zeros_like(w)
    capped[rows] = x
    return capped


def _clipped_factor(v, cat, K, t, lo, hi, tol):
    """Per category k, f_k > 0 with sum over its rows of clip(v_i * f_k, lo, hi) = t_k.

    The sum is continuous, non-decreasing and piecewise linear in f_k:
    Newton steps, bisection when a step leaves the bracket of the root,
    to a thousandth of ``tol``. Categories without a positive target get 1.
    """
    f = np.ones(K)
    a, b = np.zeros(K), np.full(K, np.inf)  # sum(a) < t < sum(b)
    t = np.where(np.isnan(t), 0.0, t)
    for _ in range(100):
        x = v * f[cat]
        r = np.where(t > 0, t - np.bincount(cat, weights=np.clip(x, lo, hi), minlength=K), 0.0)
        todo = np.abs(r) > 1e-3 * tol * t
        if not todo.any():
            break
        slope = np.bincount(cat, weights=np.where((x > lo) & (x < hi), v, 0.0), minlength=K)
        a = np.where(todo & (r > 0), f, a)
        b = np.where(todo & (r < 0), f, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f + r / slope
        bisect = np.where(np.isfinite(b), 0.5 * (a + b), 2.0 * f)
        f = np.where(todo, np.where((slope > 0) & (step > a) & (step < b), step, bisect), f)
    return f


def _cell_index(codes_list, Ks, n):
    """Cell of each row in the cross-classification of categorical codes.

    Returns (cell, ncell, cell_codes) where cell_codes[m][c] is the category
    of term m in cell c. Cells are the full product when it is small,
    otherwise only the observed combinations.
    """
    P = 1.0
    for K in Ks:
        P *= float(K)
    if P <= max(4 * n, 1 << 16) and P < 2**31 - 1:
        P = int(P)
        # Horner scheme in the smallest integer type that holds the cells,
        # then one cast to intp (what bincount and indexing use natively).
        dtype = np.int16 if P < 2**15 else np.int32
        cell = codes_list[0].astype(dtype)
        for codes, K in zip(codes_list[1:], Ks[1:]):
            cell *= dtype(K)
            cell += codes
        cell = cell.astype(np.intp)
        strides = []
        stride = 1
        for K in reversed(Ks):
            strides.append(stride)
            stride *= K
        strides = strides[::-1]
        ar = np.arange(P)
        cell_codes = [(ar // st) % K for st, K in zip(strides, Ks)]
        return cell, P, cell_codes
    cell = np.zeros(n, dtype=np.int64)
    for codes, K in zip(codes_list, Ks):
        cell = pd.factorize(cell * K + codes.astype(np.int64))[0].astype(np.int64)
    ncell = int(cell.max()) + 1 if n else 0
    first = np.unique(cell, return_index=True)[1]
    cell_codes = [codes[first].astype(np.int64) for codes in codes_list]
    return cell, ncell, cell_codes


@dataclass(frozen=True, eq=False)
class _Spec:
    """Calibration model with its targets and R-parametrisation details."""

    model: CalibrationModel
    targets: np.ndarray
    names: tuple
    r_scale_pairs: tuple  # (target, sample total) per column of R's model matrix
    r_columns: tuple = ()  # the model's columns that are columns of R's model matrix
    r_intercept: float | None = None  # R's intercept total (categorical terms)

    def scale_pairs(self, w, s):
        """``r_scale_pairs`` for other weights ``w`` (sample totals ``s`` = X' w)."""
        head = [] if self.r_intercept is None else [(self.r_intercept, float(w.sum()))]
        return tuple(head + [(self.targets[i], s[i]) for i in self.r_columns])


def _numeric_total(var, s, spec, pos):
    """Values (a view when possible) and total of a numeric calibration variable."""
    try:
        total = float(spec)
    except (TypeError, ValueError):
        raise MarginError(f"total of {var!r} must be a number or a mapping", variable=var)
    if not np.isfinite(total):
        raise MarginError(f"total of {var!r} is not finite", variable=var)
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        raise MarginError(
            f"{var!r} is categorical: give its totals as {{category: count}}", variable=var
        )
    v = s.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(v.sum()):
        bad = ~np.isfinite(v) & pos
        if bad.any():
            raise MarginError(
                f"calibration variable {var!r} has {int(bad.sum())} missing or infinite "
                "values among weighted rows",
                variable=var,
            )
    return v, total


def _calibration_terms(data, w, totals):
    """Categorical terms (var, codes, K, targets, labels) and numeric ones (var, values, total)."""
    if not isinstance(totals, dict) or not totals:
        raise MarginError("totals must be a non-empty dict {column: {category: count} or total}")
    pos = w > 0
    cat, num = [], []
    for var, spec in totals.items():
        if var not in data.columns:
            raise MarginError(f"calibration variable {var!r} is not in the data", variable=var)
        s = data[var]
        if isinstance(spec, pd.Series):
            spec = spec.to_dict()
        if isinstance(spec, dict):
            if not spec:
                raise MarginError(f"totals of {var!r} are empty", variable=var)
            codes, labels = _coded(var, s, w, "calibration variable")
            cat.append((var, codes, len(labels), _category_targets(var, labels, spec, 1.0), labels))
        else:
            num.append((var, *_numeric_total(var, s, spec, pos)))
    return cat, num


def _categorical_columns(cat, w, n, population):
    """Cells, kept indicator columns, names, targets and R's scale pairs of the categorical terms."""
    names, targets, pairs, r_cols = [], [], [], []
    Ks = [c[2] for c in cat]
    cell, ncell, cell_codes = _cell_index([c[1] for c in cat], Ks, n)
    cw = np.bincount(cell, weights=w, minlength=ncell)
    keep = []
    sums = []
    for (var, codes, K, t, labels), cc in zip(cat, cell_codes):
        s_k = np.bincount(cc, weights=cw, minlength=K)
        _check_support(var, labels, t, s_k, what="totals", noun="total", zero_target_ok=True)
        # R drops all-zero columns with a zero total
        kt = ~np.isnan(t) & (s_k > 0)
        keep.append(kt)
        for k in np.flatnonzero(kt):
            # R's treatment contrasts drop the first level, even when it has
            # no column here (no respondents, total 0): the next one keeps its
            # column in R's model matrix, and its ratio in grake's rescaling
            if k:
                pairs.append((t[k], s_k[k]))
                r_cols.append(len(names))
            names.append(f"{var}={labels[k]}")
            targets.append(t[k])
        sums.append((var, float(np.nansum(t))))
    ref_var, ref = sums[0]
    for var, sm in sums[1:] + ([("population", float(population))] if population is not None else []):
        if abs(sm - ref) > 1e-9 * max(abs(ref), 1.0):
            raise MarginError(
                f"totals disagree: {ref_var!r} totals {ref!r} but {var!r} totals {sm!r}",
                variable=var,
            )
    pairs.insert(0, (ref, float(w.sum())))  # R's intercept
    return cell, cells_from_codes(cell_codes, Ks, keep), names, targets, pairs, r_cols, ref


def _build_model(design, totals, population):
    n = design.n
    w = design.weight_values
    cat, num = _calibration_terms(design.data, w, totals)
    if population is not None and not cat:
        # intercept column; with categorical terms it is already in their span
        num.insert(0, ("(Intercept)", np.ones(n), float(population)))
    names, targets, pairs, r_cols = [], [], [], []
    cell = cells = ref = None
    if cat:
        cell, cells, names, targets, pairs, r_cols, ref = _categorical_columns(cat, w, n, population)
    r_cols = r_cols + list(range(len(names), len(names) + len(num)))
    Z = None
    if num:
        # the data's own columns (no copy) unless a zero-weight row holds a
        # missing value, which must not reach the products
        pos = w > 0
        Z = tuple(v if np.isfinite(v.sum()) else np.where(pos, v, 0.0) for _, v, _ in num)
        for z, (_, _, total) in zip(Z, num):
            pairs.append((total, float(np.einsum("i,i->", w, z))))
        names.extend(var for var, _, _ in num)
        targets.extend(t for _, _, t in num)
    model = CalibrationModel(cell=cell, cells=cells, Z=Z, names=tuple(names))
    return _Spec(model, np.asarray(targets, dtype=float), tuple(names), tuple(pairs), tuple(r_cols), ref)


def _calfun(method, bounds):
    """R's calibration functions: returns FdF(u) -> (F(u), F'(u)), g = 1 + F.

    R ``cal.linear``, ``cal.raking``, ``cal.logit`` (bounds on g).
    """
    L, U = bounds
    if method == "linear":
        def FdF(u):
            F = np.clip(u + 1, L, U) - 1
            dF = ((u < U - 1) & (u > L - 1)).astype(float)
            return F, dF
    elif method == "raking":
        def FdF(u):
            with np.errstate(over="ignore"):
                e = np.exp(u)
            F = np.clip(e, L, U) - 1
            dF = np.where((u < U - 1) & (u > L - 1), e, 0.0)
            return F, dF
    elif method == "logit":
        if not (np.isfinite(L) and np.isfinite(U)):
            raise BoundsError("logit calibration needs finite bounds (lower < 1 < upper)")
        if not (L < 1 < U):
            raise BoundsError(f"logit calibration needs lower < 1 < upper, not {bounds}")
        A = (U - L) / ((U - 1) * (1 - L))
        a, b, c, d = L * (U - 1), U * (1 - L), U - 1, 1 - L
        k = A * (1 - L) * (U - 1) * (U - L)

        def FdF(u):
            # in place: few passes over the rows, few temporaries
            big = None
            if u.size and A * float(np.max(np.abs(u))) > 700:
                big = A * u > 700
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.multiply(u, A)
                np.exp(e, out=e)
                den = e * d
                den += c
                F = e * b
                F += a
                F /= den
                F -= 1
                # dF/du = A e (bc - ad) / den^2, bc - ad = (1-L)(U-1)(U-L)
                e *= k
                e /= den
                e /= den
            if big is not None and big.any():
                F[big] = U - 1
                e[big] = 0.0
            return F, e
    else:
        raise ValueError(f"method must be 'linear', 'raking' or 'logit', not {method!r}")
    return FdF


def calibrate_weights(design, totals, *, method="linear", bounds=None, population=None, tol=1e-12,
                      max_iter=100):
    """Calibrate the weights to population totals (R ``calibrate``, :meth:`Design.calibrate`).

    Parameters
    ----------
    design : Design
    totals : dict
        ``{categorical column: {category: count}, numeric column: total}``.
        Categorical columns are calibrated on all their categories (the
        intercept is implied); a model with numeric columns only has no
        intercept unless ``population`` is given. A Series will do for the
        inner mapping. The categorical columns' totals (and ``population``,
        when given with them) must agree within 1e-9 of the first column's
        total (1e-9 when it is below 1). A category without respondents and
        with a total of 0 gets no column, as in R (``calibrate`` drops
        all-zero columns of zero total).
    method : {"linear", "raking", "logit"}
        Calibration function (R ``calfun``).
    bounds : (float, float), optional
        Bounds on g = new weight / design weight. "linear" and "raking"
        truncate g at the bounds; "logit" needs finite bounds lower < 1 <
        upper. A lower bound of 0 that some rows reach gives them a weight
        of exactly 0: the linearised SEs of the design are then refused
        (:class:`ramlab.errors.WeightError`), as R's ``svyrecvar`` stops;
        a small positive lower bound (1e-8) gives R's SE for a bound
        tending to 0 when this is the design's only calibration.
    population : float, optional
        Population size: adds an intercept with this total.
    tol : float
        Convergence: every |misfit| / (1 + |total|) below ``tol`` (R's
        ``epsilon`` criterion).
    max_iter : int

    Returns
    -------
    Reweighting
        The new weights and their record; SEs use the residuals of the regression on the
        calibration variables weighted by the design weights, times the new
        weights (R greg_calibration).

    Notes
    -----
    As R's ``grake``: when every ratio population total / sample total
    (over the columns of R's model matrix: intercept, treatment contrasts,
    numeric columns) exceeds 20, the weights are first multiplied by the
    mean of those ratios, the bounds then apply to g divided by that factor,
    and the factor is put back in g at the end. Unbounded linear
    calibration is R's ``regcalibrate`` (no iteration, no rescaling).

    Raises
    ------
    MarginError, BoundsError, ConvergenceError
    WeightError
        Negative weights (those of an unbounded linear calibration): R's
        ``calibrate`` stops on them too.
    """
    L, U = _calibration_bounds(bounds)
    if method not in ("linear", "raking", "logit"):
        raise ValueError(f"method must be 'linear', 'raking' or 'logit', not {method!r}")
    FdF = _calfun(method, (L, U))
    if design.n == 0:  # (a design's weights are otherwise never all 0: WeightError)
        raise MarginError("calibration of a design without respondents: no total can be met")
    w = design.weight_values
    A = design.replicate_weight_values
    _refuse_negative_weights(w, A)
    spec = _build_model(design, totals, population)
    args = (spec, FdF, (L, U), tol, max_iter, method)
    w_new, G0 = _calibrate_one(w, *args, pairs=spec.r_scale_pairs)
    reps = None
    if A is not None:
        # R calibrate.svyrep.design: each replicate calibrated from its own weights
        reps = np.empty_like(A)
        for r in range(A.shape[1]):
            reps[:, r] = _calibrate_one(A[:, r], *args, where=f"replicate {r + 1}: ")[0]
    return Reweighting(w_new, Calibration(method, spec.model, w, w_new, G0), reps)


def _calibration_bounds(bounds):
    """(L, U) of ``calibrate_weights``'s ``bounds``: None, or a pair whose ends may be None (no bound)."""
    if bounds is None:
        bounds = (-np.inf, np.inf)
    L, U = (float(-np.inf if bounds[0] is None else bounds[0]),
            float(np.inf if bounds[1] is None else bounds[1]))
    if L > U:
        raise BoundsError(f"lower bound {L} is above upper bound {U}")
    return L, U


def _refuse_negative_weights(w, A):
    """WeightError on negative design or replicate weights, which R's calibrate refuses too."""
    for what, v in (("weights", w), ("replicate weights", A)):
        if v is not None and (v < 0).any():
            # R's calibrate takes sqrt(weights): it stops (NA/NaN/Inf in foreign function call)
            raise WeightError(
                f"calibration of negative weights: {int((v < 0).reshape(len(v), -1).any(axis=1).sum())} rows weigh below 0 "
                f"in the {what} (min {float(v.min()):.6g}), e.g. after an unbounded linear calibration; "
                "R's calibrate stops too: calibrate the design weights on all the totals at once, "
                "or give the first calibration bounds", variable="weight")


def _calibrate_one(w, spec, FdF, bounds, tol, max_iter, method, *, pairs=None, where=""):
    """Calibrated weights of one set of weights ``w``, and X' diag(w) X."""
    model, t = spec.model, spec.targets
    G0 = model.gram(w)
    s0 = model.rmatvec(w)
    empty = np.flatnonzero((s0[:model.kc] <= 0) & (t[:model.kc] > 0))
    if empty.size:  # only a replicate can lack a category the full sample has
        raise MarginError(f"{where}totals: category {spec.names[empty[0]]!r} has no respondents "
                          f"(total {float(t[empty[0]])!r})", category=spec.names[empty[0]])
    L, U = bounds
    if method == "linear" and not (np.isfinite(L) or np.isfinite(U)):
        g = 1.0 + model.matvec(pinv_sym(G0) @ (t - s0))
        w_new = w * g
        misfit = t - model.rmatvec(w_new)
        if np.any(np.abs(misfit) / (1 + np.abs(t)) > max(tol, 1e-9)):
            raise MarginError(f"{where}calibration totals are inconsistent with the model "
                              "(collinear totals disagree)")
    else:
        if pairs is None:
            pairs = spec.scale_pairs(w, s0)
        g = _grake(model, w, t, s0, FdF, (L, U), pairs, tol, max_iter, method, G0=G0)
        w_new = w * g
    w_new = np.where(w > 0, w_new, 0.0)
    if np.any(~np.isfinite(w_new)):
        raise ConvergenceError(f"{where}calibration produced non-finite weights")
    return w_new, G0


def _not_converged(method, bounds, achieved, max_iter):
    L, U = bounds
    if np.isfinite(L) or np.isfinite(U):
        raise BoundsError(
            f"calibration ({method}) cannot meet the totals within bounds ({L}, {U}): "
            f"largest relative misfit {achieved:.3g} after {max_iter} iterations"
        )
    raise ConvergenceError(
        f"calibration ({method}) did not converge: largest relative misfit "
        f"{achieved:.3g} after {max_iter} iterations",
        max_error=achieved,
        iterations=max_iter,
    )


def _grake(model, w, t, s0, FdF, bounds, pairs, tol, max_iter, method, G0=None):
    """Newton iterations of R ``grake``; returns g per row.

    ``G0`` = X^T diag(w) X, when known, gives the first Newton matrix for
    free (at eta = 0 every row has the same F').
    """
    L, U = bounds
    scales = np.array([pt / ps if ps != 0 else np.inf for pt, ps in pairs])
    scale = float(np.mean(scales)) if scales.size and np.min(scales) > 20 else None
    ww = w * scale if scale is not None else w
    s = s0 * scale if scale is not None else s0
    # Work on cells when the model has no numeric column: rows of a cell
    # share their x, hence their g.
    if model.Z is None:
        cww = np.bincount(model.cell, weights=ww, minlength=model.ncell)
        use = cww > 0
        X = model.cells.take(use)
        wv = cww[use]
        xeta = X.matvec
        gram = X.gram
        tot = X.rmatvec
    else:
        xeta = model.matvec
        gram = model.gram
        tot = model.rmatvec
        wv = ww
    p = t.shape[0]
    eta = np.zeros(p)
    u = np.zeros(wv.shape[0])
    Fu, deriv = FdF(u)
    misfit = t - s - tot(wv * Fu)
    it = 1
    first = True
    chord = False  # near the solution, reuse the last Newton matrix
    T = None
    achieved = np.inf
    while True:
        if first and G0 is not None and model.Z is not None and deriv.size and np.all(deriv == deriv[0]):
            T = G0 * (deriv[0] * (scale if scale is not None else 1.0))
        elif not chord or T is None:
            T = gram(wv * deriv)
        first = False
        deta = pinv_sym(T) @ misfit if np.any(T) else np.zeros(p)
        eta = eta + deta
        u = xeta(eta)
        Fu, deriv = FdF(u)
        while it < max_iter and (not np.all(np.isfinite(Fu)) or not np.all(np.isfinite(deriv))):
            it += 1
            deta = deta / 2
            eta = eta - deta
            u = xeta(eta)
            Fu, deriv = FdF(u)
        misfit = t - s - tot(wv * Fu)
        previous = achieved
        achieved = float(np.max(np.abs(misfit) / (1 + np.abs(t))))
        if achieved < tol:
            break
        # a chord step is enough once Newton has converged to 1e-6 and
        # still gains two digits a step; otherwise recompute the matrix
        chord = achieved < 1e-6 and achieved < previous / 100
        it += 1
        if it > max_iter:
            _not_converged(method, bounds, achieved, max_iter)
    if model.Z is None:
        g_cell = np.ones(model.ncell)
        g_cell[use] = 1 + Fu
        g = g_cell[model.cell]
    else:
        g = 1 + Fu
    if scale is not None:
        g = g * scale
    return g


# --------------------------------------------------------------------------
# post-stratification (R postStratify)
# --------------------------------------------------------------------------


def _poststrata_targets(columns, totals):
    """Normalise totals to a dict {tuple of labels: count}, each finite and non-negative."""
    out = {}
    if isinstance(totals, pd.DataFrame):
        if not all(c in totals.columns for c in columns):
            raise MarginError(f"totals must have the columns {columns} and a count column")
        count_cols = [c for c in totals.columns if c not in columns]
        if len(count_cols) != 1:
            raise MarginError("totals must have exactly one count column besides the strata columns")
        for row in totals.itertuples(index=False):
            vals = dict(zip(totals.columns, row))
            out[tuple(vals[c] for c in columns)] = float(vals[count_cols[0]])
    else:
        if isinstance(totals, pd.Series):
            totals = totals.to_dict()
        if len(columns) == 1 and isinstance(totals, dict) and columns[0] in totals and isinstance(totals[columns[0]], dict):
            totals = totals[columns[0]]
        for k, v in totals.items():
            key = k if isinstance(k, tuple) else (k,)
            if len(key) != len(columns):
                raise MarginError(f"post-stratum {k!r} does not name one category of each of {columns}")
            out[key] = float(v)
    for key, v in out.items():
        if not np.isfinite(v) or v < 0:
            raise MarginError(f"post-stratum {key!r}: population total {v!r} is negative or not finite",
                              variable=columns[0], category=key)
    return out


def _poststrata_cells(design, columns, targets, partial=False):
    """Cells of the post-strata, their labels and each cell's population total (NaN: none)."""
    data = design.data
    w = design.weight_values
    codes_list, Ks, labels_list = [], [], []
    for var in columns:
        if var not in data.columns:
            raise MarginError(f"post-stratification variable {var!r} is not in the data", variable=var)
        codes, labels = _coded(var, data[var], w, "post-stratification variable")
        codes_list.append(codes)
        Ks.append(len(labels))
        labels_list.append(labels)
    cell, ncell, cell_codes = _cell_index(codes_list, Ks, design.n)
    tcell = np.full(ncell, np.nan)
    for key, v in targets.items():
        idx = []
        for var, lab, k in zip(columns, labels_list, key):
            i = lab.get_indexer([k])[0]
            if i < 0:
                raise MarginError(f"post-stratum category {k!r} does not exist in {var!r}",
                                  variable=var, category=k)
            idx.append(i)
        # locate the cell
        match = np.ones(ncell, dtype=bool)
        for cc, i in zip(cell_codes, idx):
            match &= cc == i
        where = np.flatnonzero(match)
        if where.size == 0:
            if v > 0 and not partial:
                raise MarginError(f"post-stratum {key!r} has no respondents (total {v!r}); "
                                  "partial=True leaves it out", variable=columns[0], category=key)
            continue
        tcell[where[0]] = v
    return cell, ncell, cell_codes, labels_list, tcell


def poststratify_weights(design, columns, totals, *, partial=False):
    """Post-stratify the weights (R ``postStratify``, :meth:`Design.poststratify`).

    Parameters
    ----------
    design : Design
    columns : str or list of str
        Post-stratification variables; the post-strata are their
        cross-classification.
    totals : dict or DataFrame
        Population count per post-stratum: ``{category: count}`` for one
        column, ``{(cat1, cat2, ...): count}`` for several, or a DataFrame
        with the columns and one count column (as R's ``population``).
    partial : bool
        Leave out the post-strata of the population that have no
        respondents (R ``partial = TRUE``) instead of refusing them.

    Returns
    -------
    Reweighting
        Weights multiplied by population count / weighted sample count in
        each post-stratum; SEs residualise on the post-stratum indicators
        (R ``svyrecvar`` with postStrata).

    Raises
    ------
    MarginError
        A post-stratum of the sample missing from the totals or with a total
        of 0 (as R), a populated post-stratum with no (weighted) sample, a
        negative or non-finite total, missing values. A post-stratum whose
        rows weigh 0 or less in all (negative weights, from an unbounded
        linear calibration): R stops too when its total is 0 or missing, and
        otherwise turns the sign of its weights, which ramlab does not do.
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    w = design.weight_values
    targets = _poststrata_targets(columns, totals)
    cell, ncell, cell_codes, labels_list, tcell = _poststrata_cells(design, columns, targets, partial)
    cw = np.bincount(cell, weights=w, minlength=ncell)
    has_sample = cw > 0
    # rows of nonzero weight (some negative) weighing 0 or less in all: R stops or turns their sign
    not_positive = ~has_sample & (np.bincount(cell[w != 0], minlength=ncell) > 0)
    if not_positive.any():
        c = int(np.flatnonzero(not_positive)[0])
        key = _cell_key(labels_list, cell_codes, c)
        raise MarginError(f"post-stratum {key!r} weighs {float(cw[c]):.6g} in the sample: its rows of "
                          "negative weight (e.g. from an unbounded linear calibration) cancel or outweigh the others, "
                          "so no positive factor scales it to a population total; give that calibration bounds",
                          variable=columns[0], category=key)
    if partial:
        tcell = np.where(has_sample, tcell, np.nan)
    # R refuses a post-stratum of the sample with a population count of 0 or none
    for bad, what in ((has_sample & np.isnan(tcell), "has respondents but no population total"),
                      (has_sample & (tcell == 0), "has respondents but a population total of 0"),
                      (~has_sample & (np.nan_to_num(tcell) > 0), "has no respondents")):
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            key = _cell_key(labels_list, cell_codes, c)
            if what == "has no respondents":
                what += f" (total {float(tcell[c])!r}); partial=True leaves it out"
            raise MarginError(f"post-stratum {key!r} {what}", variable=columns[0], category=key)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_cell = np.where(has_sample, tcell / cw, 1.0)
    w_new = w * g_cell[cell]
    A = design.replicate_weight_values
    reps = None
    if A is not None:
        reps = np.empty_like(A)
        for r in range(A.shape[1]):
            reps[:, r] = _poststratify_replicate(A[:, r], cell, ncell, tcell, has_sample,
                                                 labels_list, cell_codes, columns, r)
    keep = np.flatnonzero(has_sample)
    # indicator model on the populated cells (empty cells: no column)
    lut = np.full(ncell, keep.size, dtype=np.int64)
    lut[keep] = np.arange(keep.size)
    cells = CellIndicators(lut[:, None], int(keep.size))
    model = CalibrationModel(cell=cell, cells=cells, Z=None, names=tuple(columns))
    return Reweighting(w_new, Calibration("poststratify", model, w, w_new, np.diag(cw[keep])), reps)


def _cell_key(labels_list, cell_codes, c):
    """Labels of cell ``c``, as plain Python values (``2``, not ``np.int64(2)``, in messages)."""
    labs = (lab[cc[c]] for lab, cc in zip(labels_list, cell_codes))
    return tuple(lab.item() if isinstance(lab, np.generic) else lab for lab in labs)


def _poststratify_replicate(a, cell, ncell, tcell, has_sample, labels_list, cell_codes, columns, r):
    """One replicate post-stratified to the same totals (R ``postStratify.svyrep.design``)."""
    cw = np.bincount(cell, weights=a, minlength=ncell)
    lost = has_sample & (cw <= 0)  # the full sample's post-strata all have a positive total
    if lost.any():
        c = int(np.flatnonzero(lost)[0])
        key = _cell_key(labels_list, cell_codes, c)
        raise MarginError(f"replicate {r + 1}: post-stratum {key!r} has no respondents "
                          f"(total {float(tcell[c])!r})", variable=columns[0], category=key)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(cw > 0, tcell / cw, 1.0)
    return a * g[cell]


# --------------------------------------------------------------------------
# trimming (R trimWeights)
# --------------------------------------------------------------------------


def trim_weights(design, *, lower=None, upper=None, strict=False):
    """Trim the weights to [lower, upper] (R ``trimWeights``, :meth:`Design.trim`).

    Weights outside the limits are set to the limit; the total trimmed
    amount is spread *equally* (additively) over the untrimmed rows, so the
    sum of weights is kept. With ``strict=True`` this is repeated until no
    weight exceeds the limits (R recurses the same way). Calibration records
    are kept, as R does, so SEs still account for earlier calibrations.

    Parameters
    ----------
    design : Design
    lower, upper : float, optional
        Limits on the weights (not on g).
    strict : bool

    Returns
    -------
    Reweighting
        The trimmed weights, with no new calibration record.

    Notes
    -----
    Only rows with a positive weight take part: on a domain design R's
    ``trimWeights`` would also hand the zero-weight rows of a calibrated
    design a share of the excess (bringing them back into the domain);
    ramlab keeps them at 0. On a full design the two agree exactly.
    """
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    if lo > hi:
        raise BoundsError(f"lower limit {lo} is above upper limit {hi}")
    w = _trimmed(design.weight_values, lo, hi, strict)
    A = design.replicate_weight_values
    reps = None
    if A is not None:  # each replicate trimmed the same way
        reps = np.column_stack([_trimmed(A[:, r], lo, hi, strict) for r in range(A.shape[1])])
    return Reweighting(w, None, reps)


def _trimmed(weights, lo, hi, strict):
    """Weights trimmed to [lo, hi], the excess spread over the rows inside (R ``trimWeights``)."""
    w = weights.copy()
    # Rows outside a domain keep their zero weight (R would hand them a share
    # of the trimmed excess when the design is calibrated; ramlab does not).
    idx = np.flatnonzero(w > 0)
    pw = w[idx]
    for _ in range(10000):
        outside = (pw < lo) | (pw > hi)
        if not outside.any():
            break
        new = np.clip(pw, lo, hi)
        trimmings = pw - new
        k = int((~outside).sum())
        if k == 0:
            raise BoundsError(f"every weight is outside the limits [{lo}, {hi}]")
        new[~outside] += trimmings.sum() / k
        # R stores 1/w and reads 1/(1/w) back
        pw = 1.0 / (1.0 / new)
        if not strict:
            break
    else:
        raise BoundsError(f"trimming to [{lo}, {hi}] does not converge")
    w[idx] = pw
    return w
