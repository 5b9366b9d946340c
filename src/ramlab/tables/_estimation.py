"""Estimation: the cells of one question in every banner column, with their covariance.

References: R survey 4.1-1 ``svyby``, ``svymean``, ``svyratio``,
``svyquantile`` (qrule "math"); Lumley (2010), *Complex Surveys*, ch. 2-3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ramlab.errors import TableError
from ramlab.tables._options import PERCENT, TOTAL
from ramlab.variance import Coded


def weighted_quantile(x, w, p=0.5):
    """Weighted quantile as R ``survey`` 4.1 ``svyquantile(qrule = "math")``.

    The default rule of ``svyquantile`` since survey 4.1: rows with zero weight
    are dropped, the values sorted, and with ``cumw`` the cumulated weights the
    quantile is ``x[pos]`` where ``pos`` is the last index with
    ``cumw <= p * sum(w)`` when that cumulated weight equals ``p * sum(w)``
    exactly, else ``x[pos + 1]`` (R: ``survey:::qrule_math`` and ``survey:::qs``).
    Cumulated sums are taken in extended precision, as R's ``cumsum``.

    Parameters
    ----------
    x, w : array_like
        Values and weights (NaN values must be given zero weight).
    p : float
        Probability in [0, 1].

    Examples
    --------
    >>> from ramlab.tables import weighted_quantile
    >>> weighted_quantile([1, 2, 3, 4], [1, 1, 1, 1], 0.5)
    2.0
    >>> weighted_quantile([1, 2, 3, 4], [1, 1, 1, 5], 0.5)
    4.0
    """
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    keep = w != 0
    x, w = x[keep], w[keep]
    if x.size == 0:
        return np.nan
    order = np.argsort(x, kind="stable")
    return _quantile_sorted(x[order], w[order], p)


def _quantile_sorted(xs, ws, p):
    cumw = np.cumsum(ws.astype(np.longdouble)).astype(float)
    total = cumw[-1]
    below = np.nonzero(cumw <= p * total)[0]
    pos = below[-1] if below.size else 0  # survey:::last() gives 1 when none
    if p - cumw[pos] / total == 0:
        return float(xs[pos])
    return float(xs[min(pos + 1, xs.size - 1)])


@dataclass(frozen=True)
class Gradient:
    """The delta-method gradient of one estimate in every column of a table.

    ``G`` has one row per column (C) then one per complement of a non-total
    column (C - 1, "the rest of the base") and one column per atom total of
    each table column (C * K); ``S = G V G'``; ``complement`` holds the
    complement estimates (NaN for the total column).
    """

    G: np.ndarray
    S: np.ndarray
    complement: np.ndarray


class EmptyGroups(Exception):
    """Banner columns (positions) without respondents in a question's base."""

    def __init__(self, columns):
        super().__init__(columns)
        self.columns = list(columns)


@dataclass(frozen=True)
class QuestionCovariance:
    """The joint covariance ``V`` of a question's atom totals and its rows' gradients.

    ``keep`` lists the table columns the question was computed on when some
    banner groups had no respondent in its base (None: every column).
    """

    V: np.ndarray
    rows: dict  # (item, row label) -> estimate position
    gradients: dict  # estimate position -> Gradient
    keep: list | None = None

    def gradient(self, row, column):
        """Gradient of row ``(item, label)`` in table column position `column`."""
        if self.keep is not None:
            if column not in self.keep:
                raise TableError("contrast(): this column has no respondents for the question")
            column = self.keep.index(column)
        return self.gradients[self.rows[row]].G[column]


@dataclass(frozen=True)
class BlockEstimates:
    """What :func:`compute_block` returns for one question.

    ``est``, ``se``: (estimates, C); ``n_unw``, ``w_base``: (groups, C)
    unweighted and weighted bases; ``gradients``: estimate -> :class:`Gradient`;
    ``V``, ``T``: covariance and (C, K) values of the atom totals.
    """

    est: np.ndarray
    se: np.ndarray
    n_unw: np.ndarray
    w_base: np.ndarray
    gradients: dict
    V: np.ndarray
    T: np.ndarray


def compute_block(design, block, columns, w, opts, column_masks, plan=None):
    """Estimates, standard errors, bases and gradients of one question.

    The influence matrix has one block of K columns per table column: the
    atoms of the question (answer indicators, respondent indicator, numeric
    values) times the column's domain indicator. ``design.total_vcov`` gives
    the joint covariance V of the C*K weighted totals in one call; every
    estimate is a function of these totals and gets its covariance by the
    delta method, ``G V G'``.
    """
    X = block.atoms
    positive = w > 0
    in_base = block.base_mask & positive
    if plan is None:
        plan = design.domain_plan(column_masks)
    # U = X (x) M row by row, the (n, C*K) matrix never formed: the design
    # groups rows by their banner pattern (Design.domain_plan), and gives
    # the (C, K) weighted totals of the atoms from the same sums. The atoms
    # are 0 outside the base (Block); rows of zero weight are set to 0 too
    # (coded atoms: a zero weight adds nothing to the sums per cell).
    Xb = X if isinstance(X, Coded) or positive.all() else X * in_base[:, None]
    if plan.engine is not design.variance_engine:
        raise ValueError("the domain plan was made for another design")
    V, T = plan.total_vcov(Xb, totals=True)
    V = np.asarray(V, dtype=float)
    del Xb
    n_unw, w_base = _bases(block, columns, plan, in_base, T)
    C = len(columns)
    E = len(block.estimates)
    est = np.full((E, C), np.nan)
    se = np.full((E, C), np.nan)
    gradients = {}
    for e, spec_e in enumerate(block.estimates):
        if spec_e.kind == "median":
            est[e] = _median_by_column(block, columns, plan, in_base, w)
            continue
        values, G, comp = _gradient(spec_e, T, opts.cells, block.width, C)
        est[e] = values
        S = G @ V @ G.T
        se[e] = np.sqrt(np.clip(np.diag(S)[:C], 0.0, None))
        gradients[e] = Gradient(G, S, comp)
    return BlockEstimates(est, se, n_unw, w_base, gradients, V, T)


def _bases(block, columns, plan, in_base, T):
    """Unweighted and weighted bases per group (item of a grid) and column.

    Raises :class:`EmptyGroups` when a banner column has no respondent in
    the question's base (a TableError when the total column has none).
    """
    codes, table = plan.codes, plan.table  # (n,), (P, C)
    P = table.shape[0]
    B = np.column_stack([b for (_, _, b) in block.groups])  # (K, groups)
    if isinstance(block.atoms, Coded):
        # respondents per (domain pattern, answer code), then per group
        q = block.atoms.codes
        A = len(block.atoms.values) + 1
        counts = np.bincount(codes[in_base] * A + np.where(q < 0, A - 1, q)[in_base],
                             minlength=P * A).reshape(P, A)
        answered = np.vstack([block.atoms.values @ B > 0, np.zeros((1, B.shape[1]), dtype=bool)])
        n_unw = (table.T @ (counts @ answered.astype(float))).T  # (groups, C)
    else:
        answered = (block.atoms @ B) > 0
        n_unw = np.vstack([
            table.T @ np.bincount(codes, weights=(answered[:, g] & in_base).astype(float), minlength=P)
            for g in range(B.shape[1])
        ])  # (groups, C)
    w_base = (T @ B).T
    empty = [pos for pos in range(len(columns)) if n_unw[:, pos].max() == 0]
    if empty:
        if columns[empty[0]].variable == TOTAL:
            raise TableError(f"question {block.id!r} has no respondents in its base")
        raise EmptyGroups(empty)
    return n_unw, w_base


def _gradient(spec_e, T, cells, K, C):
    """Values (C,), gradient G (2C-1, C*K) and complements (C,) of one estimate."""
    a, b = spec_e.a, spec_e.b
    G = np.zeros((2 * C - 1, C * K))
    diag_r = np.repeat(np.arange(C), K)
    diag_c = np.arange(C * K)
    comp = np.full(C, np.nan)
    num = T @ a
    if cells == "count" and spec_e.kind in PERCENT:
        values = num
        G[diag_r, diag_c] = np.tile(a, C)
    elif cells == "row%" and spec_e.kind in PERCENT:
        values = num / num[0] if num[0] != 0 else np.full(C, np.nan)
        G[diag_r, diag_c] = np.tile(a / num[0], C)
        G[:C, :K] -= values[:, None] * (a / num[0])[None, :]
    else:
        den = T @ b
        with np.errstate(invalid="ignore", divide="ignore"):
            values = num / den
            gb = (a[None, :] - values[:, None] * b[None, :]) / den[:, None]
            # complements: the rest of the base outside column c (totals t_0 - t_c)
            dn = den[0] - den
            comp = np.where(dn > 0, (num[0] - num) / dn, np.nan)
            gn = (a[None, :] - comp[:, None] * b[None, :]) / dn[:, None]
        gb[~(den > 0)] = 0.0
        gn[~(dn > 0)] = 0.0
        comp[0] = np.nan
        G[diag_r, diag_c] = gb.ravel()
        comp_r = np.repeat(np.arange(C, 2 * C - 1), K)
        G[comp_r, np.tile(np.arange(K), C - 1)] = gn[1:].ravel()
        G[comp_r, np.arange(K, C * K)] = -gn[1:].ravel()
    return values, G, comp


def _median_by_column(block, columns, plan, in_base, w):
    """Weighted median of a numeric question in every column (R ``svyquantile``, qrule math).

    The rows are sorted by value once; the groups of one banner variable are
    disjoint, so a stable sort of the sorted rows by group makes each group's
    rows a contiguous, value-sorted segment (one pass per banner variable).
    """
    x = block.numeric
    ok = block.numeric_ok & in_base & (w != 0)
    order = np.argsort(np.where(ok, x, np.inf), kind="stable")
    order = order[ok[order]]
    out = np.full(len(columns), np.nan)
    by_variable = {}
    for c, col in enumerate(columns):
        by_variable.setdefault(col.variable, []).append(c)
    for cs in by_variable.values():
        # each row's group from its domain pattern (plan.codes, plan.table); len(cs):
        # in no column of the variable; 16-bit codes sort by radix
        lut = np.full(plan.table.shape[0], len(cs), dtype=np.int16 if len(cs) < 32767 else np.int64)
        for g, c in enumerate(cs):
            lut[plan.table[:, c] > 0] = g
        group = lut[plan.codes[order]]
        rows = order[np.argsort(group, kind="stable")]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=len(cs) + 1))])
        for g, c in enumerate(cs):
            seg = rows[bounds[g]:bounds[g + 1]]
            if seg.size:
                out[c] = _quantile_sorted(x[seg], w[seg], 0.5)
    return out
