"""Medians of a numeric question in every banner column, with their Woodruff SE and interval.

R survey 4.1 ``svyby(~x, ~g, design, svyquantile, quantiles = 0.5, ci = TRUE)``:
each column is a domain; the median is the quantile rule "math"
(:func:`ramlab.design.quantile_rule`), the interval is Woodruff's
(``interval.type = "mean"``): a t interval for the domain's CDF at the
median, F(q) = mean of I(x <= q) with its linearised SE, on the domain's
design df (R ``degf`` of the domain design), mapped back through the rule;
the SE is R's (ci_high - ci_low) / (2 t).

Speed: the rows are sorted by value once per question; for each banner
variable a stable sort by group makes each group's rows a contiguous,
value-sorted segment. The rule needs the cumulative weights, which R sums in
extended precision: they are summed here in double precision, with a bound
on the difference; a segment whose comparison with p falls within that bound
(in practice: ties of integer-like sums) is decided by the exact rule.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ramlab.design import quantile_rule
from ramlab.variance import Coded

_EPS = np.finfo(float).eps
# the CDF's atoms: I(x <= median of the row's group), and 1 (the domain)
_CDF_ATOMS = np.array([[1.0, 1.0], [0.0, 1.0]])


def column_medians(design, x, ok, w, columns, plan, *, level=0.95):
    """Median, SE, lower and upper bound of ``x`` in each column (R ``svyquantile``).

    Parameters
    ----------
    design : SurveyDesign
    x : ndarray (n,)
        Values (anything where ``ok`` is False).
    ok : ndarray (n,) of bool
        Rows of the question's domain with a value and a positive weight.
    w : ndarray (n,)
    columns : list of Column
    plan : DomainPlan
        The banner's domain plan (``codes``, ``table``: each row's columns).
    level : float

    Returns
    -------
    (estimate, se, low, high), each (C,): NaN for a column without rows.
    """
    C = len(columns)
    out = np.full((4, C), np.nan)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    order = idx[np.argsort(x[idx])]
    ws = w[order]
    codes = plan.codes
    exact = bool(np.all(w == np.floor(w))) and float(w.sum()) < 2.0 ** 53
    by_variable = {}
    for c, col in enumerate(columns):
        by_variable.setdefault(col.variable, []).append(c)
    for cs in by_variable.values():
        # each row's group (len(cs): in none of the variable's columns), from its domain pattern
        lut = np.full(plan.table.shape[0], len(cs), dtype=np.int16 if len(cs) < 32767 else np.int64)
        for g, c in enumerate(cs):
            lut[plan.table[:, c] > 0] = g
        segments = _segments(lut[codes[order]], order, ws, len(cs))
        q = np.array([_rule(seg, x, w, 0.5, exact) for seg in segments])
        out[0, cs] = q
        group = lut[codes]
        p, var = _domain_cdf(design, plan, x, ok & (group < len(cs)), group, q, cs)
        df = _domain_degf(design, ok, group, len(cs))
        tq = _critical(df, level)
        half = tq * np.sqrt(var)
        for g, c in enumerate(cs):
            if segments[g] is None or not np.isfinite(half[g]):
                continue
            lo_p, hi_p = p[g] - half[g], p[g] + half[g]
            lo = np.nan if lo_p < 0 else _rule(segments[g], x, w, lo_p, exact)
            hi = np.nan if hi_p > 1 else _rule(segments[g], x, w, hi_p, exact)
            out[1:, c] = (hi - lo) / (2 * tq[g]), lo, hi
    return out


def _critical(df, level):
    """R's ``qt(1 - alpha / 2, df)``, ``qnorm`` for infinite df, NaN for df <= 0."""
    with np.errstate(invalid="ignore"):
        tq = stats.t.ppf(1 - (1 - level) / 2, np.where(df > 0, df, np.nan))
    return np.where(np.isinf(df), stats.norm.ppf(1 - (1 - level) / 2), tq)


def _segments(group, order, ws, G):
    """Per group: (its rows in value order, their double cumulative weights), None when empty."""
    if G == 1 and not (group != 0).any():
        perm = None  # the total column: every row, already in value order
        bounds = [0, group.size]
    else:
        perm = np.argsort(group, kind="stable")  # 16-bit codes: a radix sort
        bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=G + 1))])
    rows = order if perm is None else order[perm]
    wv = ws if perm is None else ws[perm]
    out = []
    for g in range(G):
        a, b = bounds[g], bounds[g + 1]
        out.append((rows[a:b], np.cumsum(wv[a:b])) if b > a else None)
    return out


def _rule(segment, x, w, p, exact):
    """R's qrule "math" p-quantile of one value-sorted segment (:func:`quantile_rule`).

    R compares the cumulative weights, summed in extended precision, with
    ``p`` times their total. The double sums differ from R's by at most
    ``(m + 2) eps`` of the total (m rows): when no comparison falls within
    three times that, both decide alike; else the exact rule decides. Integer
    weights (with a total under 2**53) sum exactly: no bound needed.
    """
    if segment is None:
        return np.nan
    rows, S = segment
    m = S.size
    T = S[-1]
    t = p * T
    pos = int(np.searchsorted(S, t, side="right")) - 1
    if exact:
        pos = max(pos, 0)  # survey:::last gives 1 when no cumulative weight is under p
        return float(x[rows[pos if p - S[pos] / T == 0 else min(pos + 1, m - 1)]])
    e = 3 * (m + 2) * _EPS * T
    if (pos < 0 or S[pos] < t - e) and pos + 1 < m and S[pos + 1] > t + e:
        return float(x[rows[min(max(pos, 0) + 1, m - 1)]])
    keep = np.sort(rows)  # the rows in data order: the exact rule's stable sort, as R's order()
    return quantile_rule(x[keep], w[keep], p, "math")


def _domain_cdf(design, plan, x, ok, group, q, cs):
    """Each column's CDF at its median and the variance of that CDF (R ``svymean(x <= q)``).

    One coded total per banner variable: a row's atoms are I(x <= median of
    its group) and 1, in its own group's column; the plan gives the joint
    covariance of the domain totals, the ratio's variance by the delta method.
    """
    G = len(cs)
    qg = np.append(q, np.nan)[group]
    with np.errstate(invalid="ignore"):
        code = np.where(ok, np.where(x <= qg, 0, 1), -1)
    V, T = plan.total_vcov(Coded(code, _CDF_ATOMS), totals=True)
    V = np.asarray(V, dtype=float)
    p = np.full(G, np.nan)
    var = np.full(G, np.nan)
    for g, c in enumerate(cs):
        num, den = T[c]
        if not den > 0:
            continue
        p[g] = num / den
        grad = np.array([1.0, -p[g]]) / den
        block = V[2 * c:2 * c + 2, 2 * c:2 * c + 2]
        var[g] = max(float(grad @ block @ grad), 0.0)
    return p, var


def _domain_degf(design, ok, group, G):
    """R ``degf`` of each group's domain design: its PSUs minus its strata (rows ``ok``).

    On a design without a sampling structure (replicate weights), the
    domain design's own ``degf()``.
    """
    structure = getattr(design, "structure", None)
    if structure is None:
        return np.array([float(design.subset(ok & (group == g)).degf()) for g in range(G)])
    stage = structure.stages[0]
    g = group[ok].astype(np.int64)
    strata = stage.strata[ok]
    H = int(stage.strata.max()) + 1 if stage.strata.size else 1
    n_strata = np.count_nonzero(np.bincount(g * H + strata, minlength=(G + 1) * H).reshape(G + 1, H), axis=1)
    if not structure.ids or structure.ids[0] is None:
        n_psu = np.bincount(g, minlength=G + 1)  # each row its own PSU
    else:
        cluster = stage.cluster[ok]
        P = int(stage.cluster.max()) + 1
        if (G + 1) * P <= 4 * group.size + 16:
            n_psu = np.count_nonzero(np.bincount(g * P + cluster, minlength=(G + 1) * P).reshape(G + 1, P),
                                     axis=1)
        else:
            n_psu = np.bincount(np.unique(g * P + cluster) // P, minlength=G + 1)
    return (n_psu - n_strata)[:G].astype(float)
