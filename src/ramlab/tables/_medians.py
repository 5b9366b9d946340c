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
The CDFs' variances come from one coded total of the banner's domain plan
(a row's atoms: I(x <= its group's median) per banner variable, and 1).
On a replicate-weight design, each column is ``design.subset(...).quantile``:
the CDF at the column's median recomputed in every replicate, on the
column's replicate degf, as R's ``svyquantile.svyrep.design`` (checked in
``tests/design/test_replicate.py``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ramlab.design import quantile_rule
from ramlab.variance import Coded

_EPS = np.finfo(float).eps


def column_medians(design, x, ok, w, columns, plan, *, level=0.95, column=None):
    """Median, SE, lower and upper bound of ``x`` in each column (R ``svyquantile``).

    Parameters
    ----------
    design : SurveyDesign
    x : ndarray (n,)
        Values (anything where ``ok`` is False).
    ok : ndarray (n,) of bool
        Rows of the question's domain with a value and a nonzero weight (a
        negative weight counts, as in R).
    w : ndarray (n,)
    columns : list of Column
    plan : DomainPlan
        The banner's domain plan (``codes``, ``table``: each row's columns).
    level : float
    column : str, optional
        The data column of ``x``: on a design without linearisation
        (replicate weights), each column is ``design.subset(...).quantile``,
        whose CDF variance comes from the replicates as in R.

    Returns
    -------
    (estimate, se, low, high), each (C,): NaN for a column without rows.
    """
    C = len(columns)
    out = np.full((4, C), np.nan)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    if not design.variance_engine.linearised:
        if column is None:  # the plan's delta method below is not R's replicate variance
            raise ValueError("medians on a replicate design need the question's data column")
        for c, col in enumerate(columns):
            if (ok & col.mask).any():
                res = design.subset(ok & col.mask).quantile(column, 0.5, ci=True, na_rm=True, level=level)
                out[:, c] = res.loc[0.5, ["estimate", "se", "ci_low", "ci_high"]].to_numpy(dtype=float)
        return out
    order = idx[np.argsort(x[idx])]
    ws = w[order]
    codes = plan.codes
    sorted_codes = codes[order]  # the domain pattern of each row, in value order
    exact = _integer_sums(w)
    monotone = not (ws < 0).any()  # negative weights: cumulative sums that go down too
    by_variable = {}
    for c, col in enumerate(columns):
        by_variable.setdefault(col.variable, []).append(c)
    variables = list(by_variable.values())
    segments, groups = [], []
    for cs in variables:
        # each row's group (len(cs): in none of the variable's columns), from its domain pattern
        lut = np.full(plan.table.shape[0], len(cs), dtype=_small_int(len(cs) + 1))
        for g, c in enumerate(cs):
            lut[plan.table[:, c] > 0] = g
        segments.append(_segments(lut[sorted_codes], order, ws, len(cs), monotone=monotone))
        out[0, cs] = [_rule(seg, x, w, 0.5, exact) for seg in segments[-1]]
        groups.append(lut[codes])
    p, var = _domain_cdf(plan, x, ok, groups, [out[0, cs] for cs in variables], variables)
    for cs, segs, group in zip(variables, segments, groups):
        sizes = np.array([0 if seg is None else seg[0].size for seg in segs])
        tq = _critical(_domain_degf(design, ok, group, sizes), level)
        for g, c in enumerate(cs):
            half = tq[g] * np.sqrt(var[c])
            if segs[g] is None or not np.isfinite(half):
                continue
            lo_p, hi_p = p[c] - half, p[c] + half
            lo = np.nan if lo_p < 0 else _rule(segs[g], x, w, lo_p, exact)
            hi = np.nan if hi_p > 1 else _rule(segs[g], x, w, hi_p, exact)
            out[1:, c] = (hi - lo) / (2 * tq[g]), lo, hi
    return out


def _small_int(size):
    """The smallest signed integer type for codes below ``size`` (8 bits: one radix pass)."""
    return np.int8 if size < 127 else (np.int16 if size < 32767 else np.int64)


def _integer_sums(w):
    """True when every weight is an integer and their sum is under 2**53 (exact double sums)."""
    head = w[:4096]  # raked weights are not integers: decided on the first rows
    if not np.array_equal(head, np.floor(head)):
        return False
    return bool(np.array_equal(w, np.floor(w))) and float(w.sum()) < 2.0 ** 53


def _critical(df, level):
    """R's ``qt(1 - alpha / 2, df)``, ``qnorm`` for infinite df, NaN for df <= 0."""
    with np.errstate(invalid="ignore"):
        tq = stats.t.ppf(1 - (1 - level) / 2, np.where(df > 0, df, np.nan))
    return np.where(np.isinf(df), stats.norm.ppf(1 - (1 - level) / 2), tq)


def _segments(group, order, ws, G, *, monotone):
    """Per group: (its rows in value order, their double cumulative weights), None when empty.

    ``monotone``: no weight is negative (else the quantile rule cannot search the sums)."""
    if G == 1 and not (group != 0).any():
        perm = None  # the total column: every row, already in value order
        bounds = [0, group.size]
    else:
        perm = np.argsort(group, kind="stable")  # 8- or 16-bit codes: a radix sort
        sizes = [np.count_nonzero(group == g) for g in range(G)] if G <= 16 else np.bincount(group)[:G]
        bounds = np.concatenate([[0], np.cumsum(sizes)])
    rows = order if perm is None else order[perm]
    wv = ws if perm is None else ws[perm]
    out = []
    for g in range(G):
        a, b = bounds[g], bounds[g + 1]
        out.append((rows[a:b], _Cumulative(wv[a:b], monotone=monotone)) if b > a else None)
    return out


class _Cumulative:
    """The cumulative sums of a segment's weights, made where a search needs them.

    The sums of chunks of rows, cumulated, locate the chunk where the sums
    pass a value; the running sum is made inside that chunk only. Every sum
    is within ``(m + 2) eps`` of the total of its exact value (m rows), as a
    running sum over all the rows would be.
    """

    CHUNK = 2048

    def __init__(self, w, *, monotone):
        self.w = w
        self.m = w.size
        self.starts = np.arange(0, self.m, self.CHUNK)
        self.ends = np.cumsum(np.add.reduceat(w, self.starts))  # the sum up to each chunk's last row
        self.total = float(self.ends[-1])
        self.monotone = monotone  # else the sums go down too: no search

    def at(self, i):
        """The sum of the weights of rows 0..i."""
        k = i // self.CHUNK
        before = self.ends[k - 1] if k else 0.0
        return float(before + self.w[k * self.CHUNK:i + 1].sum())

    def search(self, t):
        """(pos, S[pos], S[pos + 1]): pos the last row whose running sum S is <= t (-1: none;
        S[-1] is then None), S[pos + 1] None when pos is the last row or undecided here."""
        k = int(np.searchsorted(self.ends, t, side="right"))  # chunks 0..k-1 end at or below t
        if k == self.ends.size:
            return self.m - 1, float(self.ends[-1]), None
        a = k * self.CHUNK
        before = float(self.ends[k - 1]) if k else 0.0
        local = before + np.cumsum(self.w[a:a + self.CHUNK])
        j = int(np.searchsorted(local, t, side="right"))  # local sums at or below t
        if j == local.size:  # the chunk's own sums end at or below t: left to the exact rule
            return a + j - 1, float(local[-1]), None
        s_pos = float(local[j - 1]) if j else (before if k else None)
        return a + j - 1, s_pos, float(local[j])


def _rule(segment, x, w, p, exact):
    """R's qrule "math" p-quantile of one value-sorted segment (:func:`quantile_rule`).

    R compares the cumulative weights, summed in extended precision, with
    ``p`` times their total. The double sums (:class:`_Cumulative`) differ
    from R's by at most ``(m + 2) eps`` of the total (m rows): when no
    comparison falls within three times that, both decide alike; else the
    exact rule decides. Integer weights (with a total under 2**53) sum
    exactly: no bound needed. With a negative weight (an unbounded linear
    calibration) the sums are not monotone: the exact rule decides.
    """
    if segment is None:
        return np.nan
    rows, S = segment
    if not S.monotone:
        keep = np.sort(rows)
        return quantile_rule(x[keep], w[keep], p, "math")
    m = S.m
    T = S.total
    t = p * T
    pos, s_pos, s_next = S.search(t)
    if exact:
        if pos < 0:  # survey:::last gives 1 when no cumulative weight is under p
            pos, s_pos = 0, S.at(0)
        return float(x[rows[pos if p - s_pos / T == 0 else min(pos + 1, m - 1)]])
    e = 3 * (m + 2) * _EPS * T
    if (pos < 0 or s_pos < t - e) and s_next is not None and s_next > t + e:
        return float(x[rows[min(max(pos, 0) + 1, m - 1)]])
    keep = np.sort(rows)  # the rows in data order: the exact rule's stable sort, as R's order()
    return quantile_rule(x[keep], w[keep], p, "math")


def _domain_cdf(plan, x, ok, groups, medians, variables):
    """Each column's CDF at its median and the variance of that CDF (R ``svymean(x <= q)``).

    Coded totals: a row's atoms are I(x <= median of its group), one per banner
    variable, and 1; the plan gives the joint covariance of the domain totals,
    each column's ratio (its variable's atom over 1) its variance by the delta
    method. One pass for up to 6 banner variables (64 codes), else one per variable.
    """
    C = plan.table.shape[1]
    p, var = np.full(C, np.nan), np.full(C, np.nan)
    chunks = [range(a, min(a + 6, len(variables))) for a in range(0, len(variables), 6)]
    for chunk in chunks:
        V = len(chunk)
        code = np.zeros(x.shape[0], dtype=np.int8)
        with np.errstate(invalid="ignore"):
            for bit, v in enumerate(chunk):
                below = np.less_equal(x, np.append(medians[v], np.nan)[groups[v]])
                code |= below.view(np.int8) << bit
        code = np.where(ok, code, np.int8(-1))
        patterns = ((np.arange(2 ** V)[:, None] >> np.arange(V)[None, :]) & 1).astype(float)
        cov, T = plan.total_vcov(Coded(code, np.column_stack([patterns, np.ones(2 ** V)])), totals=True)
        cov = np.asarray(cov, dtype=float)
        k = V + 1
        for bit, v in enumerate(chunk):
            for c in variables[v]:
                num, den = T[c, bit], T[c, V]
                if not abs(den) > 0:  # a negative total (negative weights) too, as R
                    continue
                p[c] = num / den
                grad = np.array([1.0, -p[c]]) / den
                at = [c * k + bit, c * k + V]
                var[c] = max(float(grad @ cov[np.ix_(at, at)] @ grad), 0.0)
    return p, var


def _domain_degf(design, ok, group, sizes):
    """R ``degf`` of each group's domain design: its PSUs minus its strata (rows ``ok``;
    ``sizes``: the number of these rows in each group).

    On a design without a sampling structure (replicate weights), the
    domain design's own ``degf()``.
    """
    G = sizes.size
    structure = getattr(design, "structure", None)
    if structure is None:
        return np.array([float(design.subset(ok & (group == g)).degf()) for g in range(G)])
    stage = structure.stages[0]
    H = int(stage.strata.max()) + 1 if stage.strata.size else 1
    clustered = bool(structure.ids) and structure.ids[0] is not None
    g = group[ok].astype(np.int64) if H > 1 or clustered else None
    if H == 1:
        n_strata = (sizes > 0).astype(np.int64)
    else:
        n_strata = np.count_nonzero(np.bincount(g * H + stage.strata[ok], minlength=(G + 1) * H)
                                    .reshape(G + 1, H)[:G], axis=1)
    if not clustered:
        n_psu = sizes  # each row its own PSU
    else:
        cluster = stage.cluster[ok]
        P = int(stage.cluster.max()) + 1
        if (G + 1) * P <= 4 * group.size + 16:
            n_psu = np.count_nonzero(np.bincount(g * P + cluster, minlength=(G + 1) * P)
                                     .reshape(G + 1, P)[:G], axis=1)
        else:
            n_psu = np.bincount(np.unique(g * P + cluster) // P, minlength=G + 1)[:G]
    return (n_psu - n_strata).astype(float)
