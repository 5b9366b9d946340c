"""Estimation: the cells of one question in every banner column, with their covariance.

References: R survey 4.1-1 ``svyby``, ``svymean``, ``svyratio``,
``svyquantile`` (qrule "math"); Lumley (2010), *Complex Surveys*, ch. 2-3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ramlab.design import quantile_rule
from ramlab.errors import TableError
from ramlab.tables._medians import column_medians
from ramlab.tables._options import PERCENT, TOTAL
from ramlab.variance import Coded


def weighted_quantile(x, w, p=0.5):
    """Weighted quantile as R ``survey`` 4.1 ``svyquantile(qrule = "math")``.

    The default rule of ``svyquantile`` since survey 4.1: rows with zero weight
    are dropped, the values sorted, and with ``cumw`` the cumulated weights the
    quantile is ``x[pos]`` where ``pos`` is the last index with
    ``cumw <= p * sum(w)`` when that cumulated weight equals ``p * sum(w)``
    exactly, else ``x[pos + 1]`` (R: ``survey:::qrule_math`` and ``survey:::qs``).
    Cumulated sums are taken in extended precision, as R's ``cumsum``
    (:func:`ramlab.design.quantile_rule`, which this is with ``rule="math"``).

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
    if not (w != 0).any():
        return np.nan
    return quantile_rule(x, w, p, "math")


@dataclass(frozen=True)
class Gradient:
    """The delta-method gradient of one estimate in every column of a table.

    ``G`` has one row per column (C) then one per complement of a non-total
    column (C - 1, "the rest of the base") and one column per atom total of
    each table column (C * K); ``S = G V G'``; ``complement`` holds the
    complement estimates (NaN for the total column). On a linearised design,
    the row of an estimate whose linearised values are 0 on every row (a
    value constant in the column, or a group inside one PSU) is 0, so that
    its variance and covariances are exactly 0 (see ``_zero_influence``).
    """

    G: np.ndarray
    S: np.ndarray
    complement: np.ndarray
    # on a replicate design: the 2C - 1 estimates (columns, then complements)
    # in every replicate (R, 2C - 1) and in the full sample (2C - 1,)
    replicates: np.ndarray | None = None
    full: np.ndarray | None = None


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
    vcov_of: object = None  # a replicate design's (thetas, coef) -> covariance; None: linearised

    def _position(self, column):
        if self.keep is not None:
            if column not in self.keep:
                raise TableError("contrast(): this column has no respondents for the question")
            column = self.keep.index(column)
        return column

    def gradient(self, row, column):
        """Gradient of row ``(item, label)`` in table column position `column`."""
        return self.gradients[self.rows[row]].G[self._position(column)]

    def variance(self, terms):
        """Variance of ``sum c * estimate(row, column)`` over ``terms`` = [(c, row, column), ...].

        Delta method on ``V`` (linearised), or, on a replicate design, the
        spread of the combination recomputed in every replicate (R
        ``svycontrast`` of a ``svyrepstat``).
        """
        if self.vcov_of is None:
            g = sum(c * self.gradient(row, column) for c, row, column in terms)
            return max(float(g @ self.V @ g), 0.0)
        thetas, full = 0.0, 0.0
        for c, row, column in terms:
            grad = self.gradients[self.rows[row]]
            pos = self._position(column)
            thetas = thetas + c * grad.replicates[:, pos]
            full = full + c * grad.full[pos]
        return float(self.vcov_of(np.asarray(thetas)[:, None], np.atleast_1d(full))[0, 0])


@dataclass(frozen=True)
class BlockEstimates:
    """What :func:`compute_block` returns for one question.

    ``est``, ``se``: (estimates, C); ``n_unw``, ``w_base``: (groups, C)
    unweighted and weighted bases; ``gradients``: estimate -> :class:`Gradient`;
    ``V``, ``T``: covariance and (C, K) values of the atom totals; ``low``,
    ``high``: (estimates, C) the medians' Woodruff intervals at 95 % (NaN for
    the other rows, whose intervals follow from ``est`` and ``se``).
    """

    est: np.ndarray
    se: np.ndarray
    n_unw: np.ndarray
    w_base: np.ndarray
    gradients: dict
    V: np.ndarray
    T: np.ndarray
    low: np.ndarray
    high: np.ndarray


def compute_block(design, block, columns, w, opts, column_masks, plan=None, nonzero=None):
    """Estimates, standard errors, bases and gradients of one question.

    The influence matrix has one block of K columns per table column: the
    atoms of the question (answer indicators, respondent indicator, numeric
    values) times the column's domain indicator. ``design.total_vcov`` gives
    the joint covariance V of the C*K weighted totals in one call; every
    estimate is a function of these totals and gets its covariance by the
    delta method, ``G V G'`` (exactly 0 where the estimate's linearised
    values are 0 on every row). ``nonzero``: the rows whose weight is not 0
    (``w != 0``), those R's domains hold; a negative weight (an unbounded
    linear calibration) counts, with its sign.
    """
    X = block.atoms
    if nonzero is None:
        nonzero = w != 0
    in_base = block.base_mask & nonzero
    if plan is None:
        plan = design.domain_plan(column_masks)
    # U = X (x) M row by row, the (n, C*K) matrix never formed: the design
    # groups rows by their banner pattern (Design.domain_plan), and gives
    # the (C, K) weighted totals of the atoms from the same sums. The atoms
    # are 0 outside the base (Block); rows of zero weight are set to 0 too
    # (coded atoms: a zero weight adds nothing to the sums per cell).
    Xb = X if isinstance(X, Coded) or nonzero.all() else X * in_base[:, None]
    if plan.engine is not design.variance_engine:
        raise ValueError("the domain plan was made for another design")
    V, T, counts = plan.total_vcov(Xb, totals=True, counts=True)
    V = np.asarray(V, dtype=float)
    engine = design.variance_engine
    # a replicate design recomputes every estimate in each replicate (R svyby
    # on a svyrep.design) rather than linearising it: (R, C, K) atom totals
    Tr = None if engine.linearised else plan.replicate_totals(Xb).reshape(-1, len(columns), block.width)
    n_unw, w_base, counts = _bases(block, columns, plan, in_base, T, counts)
    zero = None
    if Tr is None:
        zero = _zero_influence(block, opts.cells, plan, Xb, in_base, counts, engine.variance_units())
    del Xb
    C = len(columns)
    E = len(block.estimates)
    est = np.full((E, C), np.nan)
    se = np.full((E, C), np.nan)
    low = np.full((E, C), np.nan)  # the medians' own intervals (Woodruff); NaN elsewhere
    high = np.full((E, C), np.nan)
    gradients = {}
    for e, spec_e in enumerate(block.estimates):
        if spec_e.kind == "median":
            est[e], se[e], low[e], high[e] = column_medians(
                design, block.numeric, block.numeric_ok & in_base, w, columns, plan,
                column=block.columns_used[0] if len(block.columns_used) == 1 else None)
            continue
        values, G, comp = _gradient(spec_e, T, opts.cells, block.width, C)
        est[e] = values
        if Tr is None:
            G[zero[e]] = 0.0  # linearised values 0 on every row: variance and covariances exactly 0
            S = G @ V @ G.T
            gradients[e] = Gradient(G, S, comp)
        else:
            vr, cr = _values(spec_e, Tr, opts.cells)
            thetas, full = np.hstack([vr, cr[:, 1:]]), np.concatenate([values, comp[1:]])
            S = engine.vcov_of(thetas, full)
            gradients[e] = Gradient(G, S, comp, thetas, full)
        se[e] = np.sqrt(np.clip(np.diag(S)[:C], 0.0, None))
    return BlockEstimates(est, se, n_unw, w_base, gradients, V, T, low, high)


def _bases(block, columns, plan, in_base, T, counts=None):
    """Unweighted and weighted bases per group (item of a grid) and column.

    ``counts``: the plan's (C, codes + 1) numbers of rows of nonzero weight
    per column and code of coded atoms (atoms are 0 outside the base), or None;
    returned with the bases (counted here when None and the atoms are coded).
    The unweighted base counts the rows of nonzero weight that answered (R
    ``unwtd.count``: a negative weight counts, a weight of 0 does not).
    Raises :class:`EmptyGroups` when a banner column has no respondent in
    the question's base (a TableError when the total column has none).
    """
    codes, table = plan.codes, plan.table  # (n,), (P, C)
    P = table.shape[0]
    B = np.column_stack([b for (_, _, b) in block.groups])  # (K, groups)
    if isinstance(block.atoms, Coded):
        if counts is None:  # respondents per (domain pattern, answer code), then per column
            q = block.atoms.codes
            A = len(block.atoms.values) + 1
            counts = table.T @ np.bincount(codes[in_base] * A + np.where(q < 0, A - 1, q)[in_base],
                                           minlength=P * A).reshape(P, A)
        answered = np.vstack([block.atoms.values @ B > 0, np.zeros((1, B.shape[1]), dtype=bool)])
        n_unw = (counts @ answered.astype(float)).T  # (groups, C)
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
    return n_unw, w_base, counts


# rows whose values are compared first (_zero_influence): two values there settle most domains
_PREFIX = 1 << 16


def _is_ratio(spec_e, cells):
    """Whether the estimate is the ratio ``a't / b't`` of its column (as :func:`_values`)."""
    return spec_e.a is not None and not (cells in ("count", "row%") and spec_e.kind in PERCENT)


def _zero_influence(block, cells, plan, Xb, in_base, counts, units):
    """Where an estimate's linearised values are 0 on every row: (E, 2C - 1) bool.

    In column c (or its complement, the rest of the base), a ratio
    ``a't / b't`` has the linearised values ``(a'x_i - r b'x_i) / b't``
    (``r`` the ratio): 0 on every row of nonzero weight when ``a'x_i / b'x_i``
    is the same on every row where ``b'x_i != 0`` (the value answered, for a
    mean; 0 or 1 for a proportion; ``b'x_i``, a respondent indicator, is 1
    there, so the quotient is exact) and ``a'x_i = 0`` where ``b'x_i = 0``. Its
    variance and covariances are then exactly 0 on a linearised design,
    calibrated or not (the residual of 0 is 0), where ``G V G'`` leaves the
    rounding of large terms that cancel (R: about 1e-15). Without calibration
    they are 0 too when the column's rows that carry an atom lie in one of
    ``units`` (:meth:`~ramlab.variance.Linearisation.variance_units`): the
    ratio's values sum to its domain total, 0, in every unit. Decided per
    code of coded atoms (``counts``: (C, codes + 1) rows per column and code),
    per domain pattern of the plan for dense ones, then per column.
    """
    E, C = len(block.estimates), plan.C
    zero = np.zeros((E, 2 * C - 1), dtype=bool)
    ratios = [e for e, spec_e in enumerate(block.estimates) if _is_ratio(spec_e, cells)]
    if not ratios:
        return zero
    P = plan.table.shape[0]
    if units is not None or not isinstance(Xb, Coded):
        inside = plan.table != 0
        D = np.hstack([inside, inside[:, :1] & ~inside[:, 1:]])  # (P, 2C - 1) patterns of each domain
    if isinstance(Xb, Coded):  # per code, from the codes present in each domain
        A = np.column_stack([block.estimates[e].a for e in ratios])
        B = np.column_stack([block.estimates[e].b for e in ratios])
        num, den = Xb.values @ A, Xb.values @ B  # (codes, ratios)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = num / den  # inf or NaN where den is 0: not one finite value
        live = (num != 0) | (den != 0)
        present = (np.vstack([counts[:, :-1], counts[:1, :-1] - counts[1:, :-1]]) > 0).T  # (codes, 2C - 1)
        zero[ratios] = _one_value(present, np.where(live, q, np.inf), np.where(live, q, -np.inf)).T
    else:  # per domain pattern, then per domain; a prefix of the rows first, where two values settle most
        n = Xb.shape[0]
        for e in ratios:
            a, b = block.estimates[e].a, block.estimates[e].b
            for rows in (slice(0, _PREFIX), slice(None)) if n > _PREFIX else (slice(None),):
                low, high = _ranges(Xb[rows].T, plan.codes[rows], P, a, b)
                zero[e] = _one_value(D, low[:, None], high[:, None])[:, 0]
                if not zero[e].any():
                    break
    if units is not None:
        if isinstance(Xb, Coded):
            carry = np.append((Xb.values != 0).any(axis=1), False)[Xb.codes] & in_base  # code -1: none
        else:
            carry = (Xb != 0).any(axis=1) & in_base
        low, high = _extremes(np.where(carry, plan.codes, P), P, units.astype(float))
        zero[ratios] |= _one_value(D, low[:P, None], high[:P, None])[:, 0]
    return zero


def _form(XT, v):
    """``v @ XT`` (n,) for atoms given as (K, n): a row of ``XT`` for a unit vector."""
    nz = np.flatnonzero(v)
    if nz.size == 1 and v[nz[0]] == 1:
        return XT[nz[0]]
    out = np.zeros(XT.shape[1])
    for k in nz:  # no (nz, n) copy
        out += v[k] * XT[k]
    return out


def _ranges(XT, codes, P, a, b):
    """Least and greatest ``a'x / b'x`` per domain pattern, atoms ``XT`` given as (K, n).

    NaN where ``a'x != 0`` on a row where ``b'x = 0`` or a value is NaN; inf
    and -inf when no row has ``b'x != 0``.
    """
    num, den = _form(XT, a), _form(XT, b)
    route = np.where(den != 0, codes, P)  # rows where b'x = 0: P
    with np.errstate(invalid="ignore", over="ignore"):
        low, high = _extremes(route, P, num / np.where(den != 0, den, 1.0))  # in P: a'x
    if (low[P], high[P]) not in ((0.0, 0.0), (np.inf, -np.inf)):  # a'x != 0 where b'x = 0
        low[np.bincount(codes[(route == P) & (num != 0)], minlength=P + 1) > 0] = np.nan
    return low[:P], high[:P]


def _extremes(codes, P, values):
    """Least and greatest of ``values`` per code 0..P (NaN if one is NaN; inf, -inf if none)."""
    low, high = np.full(P + 1, np.inf), np.full(P + 1, -np.inf)
    np.minimum.at(low, codes, values)
    np.maximum.at(high, codes, values)
    return low, high


def _one_value(D, low, high):
    """(m, r): whether the ranges ``[low, high]`` ((P, r)) of the patterns (or codes) of
    each domain (column of ``D``, (P, m) bool) hold one finite value, or none."""
    low = np.where(D[:, :, None], low[:, None, :], np.inf).min(axis=0)
    high = np.where(D[:, :, None], high[:, None, :], -np.inf).max(axis=0)
    return np.isfinite(low) & (low == high) | (low == np.inf) & (high == -np.inf)


def _values(spec_e, T, cells):
    """Values and complements of one estimate from atom totals ``T`` (..., C, K).

    The complement of column c is the rest of the base (totals t_0 - t_c);
    NaN for the total column, where that rest is empty and for counts and
    row percentages.
    """
    num = T @ spec_e.a
    comp = np.full(num.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if cells == "count" and spec_e.kind in PERCENT:
            return num, comp
        if cells == "row%" and spec_e.kind in PERCENT:
            return np.where(num[..., :1] != 0, num / num[..., :1], np.nan), comp
        den = T @ spec_e.b
        dn = den[..., :1] - den
        comp = np.where(dn != 0, (num[..., :1] - num) / dn, np.nan)  # a negative total too, as R
        comp[..., 0] = np.nan
        return num / den, comp


def _gradient(spec_e, T, cells, K, C):
    """Values (C,), gradient G (2C-1, C*K) and complements (C,) of one estimate."""
    a, b = spec_e.a, spec_e.b
    G = np.zeros((2 * C - 1, C * K))
    diag_r = np.repeat(np.arange(C), K)
    diag_c = np.arange(C * K)
    values, comp = _values(spec_e, T, cells)
    num = T @ a
    if cells == "count" and spec_e.kind in PERCENT:
        G[diag_r, diag_c] = np.tile(a, C)
    elif cells == "row%" and spec_e.kind in PERCENT:
        G[diag_r, diag_c] = np.tile(a / num[0], C)
        G[:C, :K] -= values[:, None] * (a / num[0])[None, :]
    else:
        den = T @ b
        dn = den[0] - den
        with np.errstate(invalid="ignore", divide="ignore"):
            gb = (a[None, :] - values[:, None] * b[None, :]) / den[:, None]
            gn = (a[None, :] - comp[:, None] * b[None, :]) / dn[:, None]
        gb[~(np.abs(den) > 0)] = 0.0  # a domain's total may be negative: R divides by it
        gn[~(np.abs(dn) > 0)] = 0.0
        G[diag_r, diag_c] = gb.ravel()
        comp_r = np.repeat(np.arange(C, 2 * C - 1), K)
        G[comp_r, np.tile(np.arange(K), C - 1)] = gn[1:].ravel()
        G[comp_r, np.arange(K, C * K)] = -gn[1:].ravel()
    return values, G, comp
