"""Domain plans: the linearised covariance of totals crossed with many domains.

A banner table estimates every question in every column (a domain), with
the joint covariance of all of them. :class:`DomainPlan` computes
``total_vcov`` of the influence values crossed with the domain indicators
without forming that wide matrix, when the design allows.

Notes
-----
With ``x_i = w_i u_i`` and ``a_i = table[g_i] (x) x_i``, calibration
residuals are ``r_i = a_i - sum_l F_li B_l`` with ``F_l = w_new X_l`` and
``B_l = G_l^- (Z_l' r^{(l-1)})``, ``Z_l = (w_old / w_new) X_l`` (R
``svyrecvar`` with ``greg_calibration``), and the covariance is
``sum_h c_h (sum_{i in h} r_i r_i' - s_h s_h' / n_h)``
(:func:`ramlab.variance.row_psu_scale`). Every sum over rows splits over the
cells of (stratum, domain pattern, calibration cells), in which only ``x_i``
varies: per cell, the sums of ``x_i``, of ``(w_old / w_new) x_i``, of
``c w_new x_i`` and of ``x_i x_i'`` suffice. Designs without this form use
the dense path (:meth:`ramlab.variance.Linearisation.total_vcov` of the wide
matrix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ramlab.variance._calibration import refuse_rows_sent_to_0
from ramlab.variance._linalg import dense_codes, group_rows, pinv_sym

__all__ = ["Coded", "DomainPlan"]


@dataclass(frozen=True)
class Coded:
    """Influence values given by a code per row: ``u_i = values[codes_i]``.

    The form of category indicators (a row of the identity per answer) and of
    anything linear in them (nets, centred proportions, scores). A code of -1
    (or ``len(values)``) gives a row of zeros. :meth:`DomainPlan.total_vcov`
    then sums per cell of (stratum x domain pattern x calibration cells) x code
    with a few weighted bincounts, and never forms the n x k matrix.

    Attributes
    ----------
    codes : ndarray (n,) of int
    values : ndarray (K, k)
    """

    codes: np.ndarray
    values: np.ndarray

    def dense(self):
        """The (n, k) matrix ``u``."""
        values = np.asarray(self.values, dtype=float)
        ext = np.vstack([values, np.zeros((1, values.shape[1]))])
        codes = np.asarray(self.codes)
        return ext[np.where(codes < 0, values.shape[0], codes)]


@dataclass(eq=False)
class _CalibrationSums:
    """Per-cell quantities of one calibration (the l-th), design-level sums included."""

    cal: object  # the Calibration record
    c: np.ndarray  # (n,) variance scale of each row
    I: np.ndarray  # (J, p) calibration indicators of each cell  # noqa: E741
    pinv: np.ndarray  # (p, p) G^-
    Fsum: np.ndarray | None = None  # (H, p) sum over stratum h of F
    FSF: list = field(default_factory=list)  # F_l' S F_m, for each calibration m
    ZF: list = field(default_factory=list)  # Z_l' F_m, for each earlier calibration m < l
    new_weights: bool = False  # every weight of the plan's design is 0 or this w_new
    old_weights: bool = False  # ... and none is 0: (w_old / w_new) w is w_old
    _ratio: np.ndarray | None = None

    @property
    def w_new(self):
        return self.cal.w_new

    @property
    def ratio(self):
        """(n,) w_old / w_new (computed once, when a dense ``u`` needs it)."""
        if self._ratio is None:
            self._ratio = self.cal.weight_ratio()
        return self._ratio

    @property
    def cw(self):
        """(n,) c * w_new."""
        return self.c * self.cal.w_new


@dataclass(eq=False)
class _Segments:
    """Rows ordered by cell within chunks of rows, and per-cell constants."""

    order: np.ndarray
    start: np.ndarray
    end: np.ndarray
    cell: np.ndarray
    w_s: np.ndarray  # weights in sorted order
    w_cell: np.ndarray | None  # the cell's weight when constant in every cell
    ratio: list  # per calibration: (sorted ratio, per-cell ratio or None)
    cw: list  # per calibration: (sorted c * w_new, per-cell value or None)


@dataclass(eq=False)
class _Factored:
    """The factored form of a plan: cells of (stratum x domain pattern x calibration cells)."""

    jc: np.ndarray  # (n,) cell of each row
    J: int
    w: np.ndarray  # (n,) weights
    cj: np.ndarray  # (J,) variance scale c of each cell
    hcode: np.ndarray  # (J,) stratum of each cell (dense)
    H: int
    ch: np.ndarray  # (H,) scale of each stratum
    nh: np.ndarray  # (H,) PSUs of each stratum
    D: np.ndarray  # (J, C) domain indicators of each cell
    cals: list  # _CalibrationSums, oldest first
    rep: np.ndarray | None = None  # (J,) a row of each cell
    segments: _Segments | None = None
    _cell_weights: object = None  # per-cell weights of the coded sums (see _coded_weights)


def _domain_codes(domains, n):
    """(codes (n,), table (G, C)): the distinct domain patterns and each row's."""
    if isinstance(domains, tuple):
        codes, table = domains
        codes = np.asarray(codes, dtype=np.int64)
        table = np.asarray(table, dtype=float)
        if table.ndim != 2 or codes.shape != (n,):
            raise ValueError("domains must be (codes (n,), table (G, C))")
        return codes, table
    M = np.asarray(domains)
    if M.ndim != 2 or M.shape[0] != n:
        raise ValueError(f"domains must have {n} rows")
    C = M.shape[1]
    if n and C <= 62 and M.dtype == bool:
        # the pattern of each row as bits, one column at a time
        bits = np.zeros(n, dtype=np.int64)
        for c in range(C):
            bits |= M[:, c].astype(np.int64) << c
        codes, rep = dense_codes(bits)
        return codes, M[rep].astype(float)
    if n and C <= 62 and np.all((M == 0) | (M == 1)):
        M = M.astype(float)
        bits = M.astype(np.int64) @ (np.int64(1) << np.arange(C, dtype=np.int64))
        codes, rep = dense_codes(bits)
        return codes, M[rep]
    table, codes = np.unique(M.astype(float), axis=0, return_inverse=True)
    return codes.ravel().astype(np.int64), table


def _joint_cells(parts, sizes, n):
    """Dense joint code of several code arrays (their cross-classification).

    The codes so far are made dense before each part is crossed in: they stay
    below n x size (no int64 overflow, however many parts).
    """
    joint = np.zeros(n, dtype=np.int64)
    for p, size in zip(parts, sizes):
        if size > 1:
            joint = dense_codes(joint)[0] * size + p
    return dense_codes(joint)


def _calibration_sums(cals, c, jc, J, rep, hcode, H, w):
    out = []
    for cal in cals:
        out.append(_CalibrationSums(
            cal=cal, c=c, I=cal.model.cell_indicators()[cal.model.cell[rep]], pinv=pinv_sym(cal.gram),
        ))
    cj = c[rep]  # c is constant in a cell (cells are within strata)
    no_zero = bool((w != 0).all())
    for a, A in enumerate(out):
        wsum = np.bincount(jc, weights=A.w_new, minlength=J)
        A.Fsum = group_rows(wsum[:, None] * A.I, hcode, H)
        A.new_weights = bool(np.all((w == A.w_new) | (w == 0)))
        A.old_weights = A.new_weights and no_zero
        for B in out:
            cs = cj * np.bincount(jc, weights=A.w_new * B.w_new, minlength=J)
            A.FSF.append((A.I * cs[:, None]).T @ B.I)
        for B in out[:a]:
            zs = np.bincount(jc, weights=A.ratio * B.w_new, minlength=J)
            A.ZF.append((A.I * zs[:, None]).T @ B.I)
    return out


def _factor(engine, codes, table, max_cells):
    """The factored form of a plan on ``engine``, or None (dense path)."""
    n = engine.n
    if n == 0:
        return None
    rs = engine.row_psu_scale
    if rs is None:
        return None
    if engine.rows is not None and getattr(engine.structure, "lonely_psu_domain", None) == "adjust":
        return None  # a stratum may have one PSU among the domain's rows: dense path
    cals = engine.calibrations
    if not all(cal.model.is_categorical for cal in cals):
        return None
    refuse_rows_sent_to_0(cals)
    c, strata, n_h = rs
    parts = [strata, codes] + [cal.model.cell for cal in cals]
    sizes = [int(strata.max()) + 1, table.shape[0]] + [cal.model.cells.ncell for cal in cals]
    jc, rep = _joint_cells(parts, sizes, n)
    J = rep.shape[0]
    if J > max_cells:
        return None
    cj = c[rep]
    hcode, hrep = dense_codes(strata[rep])
    H = hrep.shape[0]
    return _Factored(
        jc=jc, J=J, w=engine.weights, cj=cj, hcode=hcode, H=H, ch=cj[hrep],
        nh=n_h[rep][hrep], D=table[codes[rep]],
        cals=_calibration_sums(cals, c, jc, J, rep, hcode, H, engine.weights), rep=rep,
    )


def _segments(f):
    """Rows ordered by cell within chunks of rows (segments).

    Sorting by (chunk, cell) rather than by cell keeps the gather of the
    rows of ``u`` local to a chunk (cache-friendly); the sums per cell add
    the segments of the cell.
    """
    jc, J = f.jc, f.J
    n = jc.shape[0]
    nchunk = max(1, min(n // 65536, 4096 // max(J, 1)))
    if nchunk > 1:
        size = -(-n // nchunk)
        key = (np.arange(n, dtype=np.int64) // size) * J + jc
    else:
        key = jc
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=nchunk * J)
    nz = np.flatnonzero(counts)
    starts = (np.cumsum(counts) - counts)[nz]
    seg_cell = nz % J
    _, first_seg = np.unique(seg_cell, return_index=True)
    first_row = starts[first_seg]  # a row of each cell, in sorted order
    cell_s = jc[order]

    def per_cell(v):
        """Sorted values, and the cell's value when constant in every cell."""
        vs = v[order]
        vc = vs[first_row]
        return vs, (vc if np.array_equal(vs, vc[cell_s]) else None)

    w_s, w_cell = per_cell(f.w)
    return _Segments(
        order=order, start=starts, end=starts + counts[nz], cell=seg_cell, w_s=w_s, w_cell=w_cell,
        ratio=[per_cell(A.ratio) for A in f.cals], cw=[per_cell(A.cw) for A in f.cals],
    )


def _weighted(v, wv):
    """``v * wv`` row by row; 0 on the rows of weight 0, even where ``v`` is NaN or inf
    (values outside a domain), without numpy's warning for ``0 * inf``."""
    with np.errstate(invalid="ignore"):  # 0 * inf = NaN, set to 0 below
        out = v * wv[:, None]
    if not np.isfinite(out).all():
        out[wv == 0] = 0.0
    return out


def _cell_sums_direct(f, u):
    """Per-cell cross-products Q, sums T0 and calibration-weighted sums, by bincount.

    When the weights are constant in every cell (:func:`_cell_weights`), the
    sums of ``u`` and of its cross-products per cell, scaled by each cell's
    weights, give them all.
    """
    k = u.shape[1]
    jc, J = f.jc, f.J
    per_cell = _cell_weights(f)
    if per_cell is not None and np.isfinite(u).all():
        U0 = np.column_stack([np.bincount(jc, weights=u[:, j], minlength=J) for j in range(k)])
        Q = np.empty((J, k, k))
        for a in range(k):
            for b in range(a, k):
                Q[:, a, b] = Q[:, b, a] = np.bincount(jc, weights=u[:, a] * u[:, b], minlength=J)
        L = len(f.cals)
        S, extra = [], 2 + L
        for A in f.cals:
            S.append(per_cell[1] if A.new_weights else per_cell[extra])
            extra += not A.new_weights
        return (Q * per_cell[1][:, None, None], U0 * per_cell[0][:, None],
                [U0 * per_cell[2 + l][:, None] for l in range(L)], [U0 * (f.cj * s)[:, None] for s in S])
    x = _weighted(u, f.w)

    def sums(weight):
        v = x if weight is None else x * weight[:, None]
        return np.column_stack([np.bincount(jc, weights=v[:, j], minlength=J) for j in range(k)])

    Q = np.empty((J, k, k))
    for a in range(k):
        for b in range(a, k):
            Q[:, a, b] = Q[:, b, a] = np.bincount(jc, weights=x[:, a] * x[:, b], minlength=J)
    return Q, sums(None), [sums(A.ratio) for A in f.cals], [sums(A.cw) for A in f.cals]


def _cell_sums_sorted(f, u):
    """As :func:`_cell_sums_direct`, over the rows sorted by segment (many columns)."""
    if f.segments is None:
        f.segments = _segments(f)
    s = f.segments
    k = u.shape[1]
    J = f.J
    wc = s.w_cell
    if wc is not None:
        # weights constant in each cell: sums of u, scaled per cell
        xs = np.take(u, s.order, axis=0)
        zero = wc == 0
        wz = np.where(zero, 0.0, wc)
        if zero.any() and not np.isfinite(xs).all():
            xs[s.w_s == 0] = 0.0  # NaN or inf outside the domain: no inf * 0 in the sums
    else:
        xs = _weighted(np.take(u, s.order, axis=0), s.w_s)
    Q = np.zeros((J, k, k))
    T0 = np.zeros((J, k))
    ones = np.ones(int((s.end - s.start).max()))
    for a, b, j in zip(s.start.tolist(), s.end.tolist(), s.cell.tolist()):
        seg = xs[a:b]
        Q[j] += seg.T @ seg
        T0[j] += ones[:b - a] @ seg
    if wc is not None:
        T0 = np.where(zero[:, None], 0.0, T0 * wz[:, None])
        Q = np.where(zero[:, None, None], 0.0, Q * (wz * wz)[:, None, None])

    def weighted_sums(vs, vc):
        if vc is not None:
            return T0 * vc[:, None]
        xw = _weighted(xs, s.w_s) if wc is not None else xs
        return group_rows(np.add.reduceat(xw * vs[:, None], s.start, axis=0), s.cell, J)

    return Q, T0, [weighted_sums(*p) for p in s.ratio], [weighted_sums(*p) for p in s.cw]


# The coded sums keep about 12 significant digits of a variance when it is at least
# this fraction of its uncalibrated, uncentred second moment (2e-16 / 1e-4).
_CANCELLATION = 1e-4
_MAX_CODED = 1 << 22  # cells x codes x max(domains, values) of the coded sums and their algebra
_BLOCK = 1 << 16  # rows per block of the coded sums: bincount inputs stay in cache


def _block_weights(f, a, b):
    """The weights summed per (cell, code), on rows a:b: w, w^2, then per calibration l
    ``(w_old / w_new) w`` (``w_old`` itself when every weight is 0 or ``w_new``) and,
    for the calibrations where that is not w^2, ``w_new w``."""
    wb = f.w[a:b]
    out = [wb, wb * wb]
    out += [A.cal.w_old[a:b] if A.old_weights else A.ratio[a:b] * wb for A in f.cals]
    out += [A.w_new[a:b] * wb for A in f.cals if not A.new_weights]
    return out


def _cell_weights(f):
    """:func:`_block_weights` per cell, (m, J), when each is constant within every cell
    (a raked design: the weights are functions of the calibration cells); else None.
    Checked once per plan."""
    if f._cell_weights is None:
        jc, rep = f.jc, f.rep

        def per_cell(v):
            vc = v[rep]
            return vc if np.array_equal(v, vc[jc]) else None

        f._cell_weights = False
        w = per_cell(f.w) if rep is not None else None
        parts = [w]
        for A in f.cals:
            if w is None:
                break
            if A.old_weights:
                parts.append(per_cell(A.cal.w_old))
            else:
                ratio = per_cell(A.ratio)
                parts.append(None if ratio is None else ratio * w)
        for A in f.cals:
            if w is not None and not A.new_weights:
                w_new = per_cell(A.w_new)
                parts.append(None if w_new is None else w_new * w)
        if all(v is not None for v in parts):
            f._cell_weights = np.vstack([w, w * w] + parts[1:])
    return None if f._cell_weights is False else f._cell_weights


def _cell_sums_coded(f, coded, *, counts=False):
    """Per (cell, code) sums of w, w^2 and, per calibration, w_old-type and w_new w weights.

    Returns (W, W2, R, S, N): (J, K) arrays; ``R[l]`` sums ``(w_old / w_new) w``
    and ``S[l]`` sums ``w_new w`` of calibration l (``S[l]`` is W2 when every
    weight is 0 or that w_new); code 0 is the row of zeros (``coded`` code -1),
    code m + 1 is ``coded`` code m. With ``counts``, ``N`` counts the rows of
    nonzero weight (R ``unwtd.count``: a negative weight counts; else None). When the weights are constant in every cell,
    one unweighted bincount gives them all; otherwise one weighted bincount
    per sum. Rows are taken in blocks: no temporary of n values.
    """
    codes = np.asarray(coded.codes)
    K = coded.values.shape[0] + 1
    J, jc = f.J, f.jc
    size = J * K
    per_cell = _cell_weights(f)
    L = len(f.cals)
    if per_cell is not None:
        n_rows = np.zeros(size)
        for a in range(0, codes.shape[0], _BLOCK):
            n_rows += np.bincount(_joint(jc, codes, K, a), minlength=size)
        n_rows = n_rows.reshape(J, K)
        sums = per_cell[:, :, None] * n_rows[None]
        N = n_rows * (per_cell[0] != 0)[:, None] if counts else None
    else:
        m = 2 + L + sum(not A.new_weights for A in f.cals)
        sums = np.zeros((m + counts, size))
        for a in range(0, codes.shape[0], _BLOCK):
            joint = _joint(jc, codes, K, a)
            for i, v in enumerate(_block_weights(f, a, a + _BLOCK)):
                sums[i] += np.bincount(joint, weights=v, minlength=size)
            if counts:
                sums[m] += np.bincount(joint, weights=f.w[a:a + _BLOCK] != 0, minlength=size)
        sums = sums.reshape(-1, J, K)
        N = sums[m] if counts else None
    S, extra = [], 2 + L
    for A in f.cals:
        S.append(sums[1] if A.new_weights else sums[extra])
        extra += not A.new_weights
    return sums[0], sums[1], [sums[2 + l] for l in range(L)], S, N


def _checked_codes(coded):
    """``coded`` with its codes ``len(values)`` made -1 (both a row of zeros, which the
    sums per code take as code -1 only); codes outside -1..len(values) refused."""
    codes = np.asarray(coded.codes)
    m = np.shape(coded.values)[0]
    if codes.size == 0:
        return coded
    lo, hi = codes.min(), codes.max()
    if lo < -1 or hi > m:
        raise ValueError(f"codes of u must be in -1..{m} (-1 and {m}: a row of zeros), "
                         f"not {lo if lo < -1 else hi}")
    if hi == m:
        return Coded(np.where(codes == m, -1, codes), coded.values)
    return coded


def _joint(jc, codes, K, a):
    """Joint (cell, code + 1) codes of the rows of block ``a``."""
    joint = jc[a:a + _BLOCK] * K
    joint += codes[a:a + _BLOCK]
    joint += 1
    return joint


def _coded_vcov(f, C, coded, totals, counts):
    """:meth:`DomainPlan.total_vcov` of :class:`Coded` influence values."""
    W, W2, R, S, N = _cell_sums_coded(f, coded, counts=counts)
    A = np.vstack([np.zeros((1, coded.values.shape[1])), np.asarray(coded.values, dtype=float)])
    J, K = W.shape
    k = A.shape[1]
    D = f.D
    # sum_j c_j (D_j D_j') (x) A' diag(W2_j) A: per pair of domains and code first
    X = (D[:, :, None] * W2[:, None, :]).reshape(J, C * K)
    M = ((D * f.cj[:, None]).T @ X).reshape(C, C, K)
    AA = (A[:, :, None] * A[:, None, :]).reshape(K, k * k)  # row m: A_m A_m'
    V0 = (M.reshape(C * C, K) @ AA).reshape(C, C, k, k).transpose(0, 2, 1, 3).reshape(C * k, C * k)
    T0 = W @ A
    V = _factored_vcov(f, C, k, V0, T0, [r @ A for r in R], [(s * f.cj[:, None]) @ A for s in S])
    # The expanded sums lose the digits that the variance has fewer than its raw
    # second moment (a calibrated margin, a category that is a stratum: the
    # residuals are ~0). For one domain, None then: the caller residualises row
    # by row instead. (Across domains, as the expanded dense path, the totals of
    # calibrated domain sizes keep a noise of ~1e-16 of their second moment.)
    if C == 1 and np.any(np.diag(V) < _CANCELLATION * np.diag(V0)):
        return None
    out = (V,) + ((D.T @ T0,) if totals else ()) + ((np.roll(D.T @ N, -1, axis=1),) if counts else ())
    return out if len(out) > 1 else V


def _cross_products(f, C, k, Q):
    """sum_j c_j (D_j D_j') (x) Q_j, as one matrix product."""
    D = f.D
    E = ((D * f.cj[:, None])[:, :, None, None] * Q[:, None, :, :]).reshape(f.J, -1)
    return (E.T @ D).reshape(C, k, k, C).transpose(0, 1, 3, 2).reshape(C * k, C * k)


def _crossed(f, I, T):
    """``I' (D (x) T)``, (p, C*k): row ``j`` of ``D (x) T`` is ``D_j (x) T_j``; ``I`` (J, p).

    The (J, C*k) matrix is never formed: ``(I (x) T)' D``, (p*k, C), then reordered.
    """
    J, p = I.shape
    k = T.shape[1]
    C = f.D.shape[1]
    M = (I[:, :, None] * T[:, None, :]).reshape(J, p * k).T @ f.D
    return M.reshape(p, k, C).transpose(0, 2, 1).reshape(p, C * k)


def _factored_vcov(f, C, k, V, T0, Tr, Tf):
    """Covariance of the C*k domain totals from the per-cell sums.

    ``V`` is the cross-product term :func:`_cross_products`; ``T0`` (J, k) the
    cells' totals of x, ``Tr[l]`` and ``Tf[l]`` their totals weighted by
    ``w_old / w_new`` and by ``c w_new`` of calibration l.
    """
    D = f.D
    if f.H == 1:
        s = (D.T @ T0).reshape(1, C * k)
    elif f.H <= C:
        s = _crossed(f, np.eye(f.H)[f.hcode], T0)
    else:
        s = group_rows((D[:, :, None] * T0[:, None, :]).reshape(f.J, C * k), f.hcode, f.H)
    Bs = []
    for a, A in enumerate(f.cals):
        ZA = _crossed(f, A.I, Tr[a])
        for b in range(a):
            ZA = ZA - A.ZF[b] @ Bs[b]
        Bs.append(A.pinv @ ZA)
    for a, A in enumerate(f.cals):
        cross = _crossed(f, A.I, Tf[a]).T @ Bs[a]
        V = V - cross - cross.T
        for b in range(len(f.cals)):
            V = V + Bs[a].T @ A.FSF[b] @ Bs[b]
        s = s - A.Fsum @ Bs[a]
    sw = s * np.sqrt(f.ch / f.nh)[:, None]
    return V - sw.T @ sw


class DomainPlan:
    """Influence values crossed with domains, prepared for one variance engine.

    Made by :meth:`ramlab.design.Design.domain_plan`. Immutable once built
    (apart from a cache); holds no data of any particular ``u``.

    Parameters
    ----------
    engine : Linearisation
        The design's variance engine.
    domains : ndarray (n, C) of bool/0-1, or tuple (codes, table)
        Domain indicators of each row, or the same in factored form:
        ``codes`` (n,) int in 0..G-1 and ``table`` (G, C) float.
    """

    MAX_CELLS = 20000

    def __init__(self, engine, domains):
        self.engine = engine
        self.codes, self.table = _domain_codes(domains, engine.n)
        self.C = self.table.shape[1]
        self._factored = _factor(engine, self.codes, self.table, self.MAX_CELLS)

    @property
    def factored(self):
        """True when the plan uses the factored form (no n x C*k matrix)."""
        return self._factored is not None

    def total_vcov(self, u, *, totals=False, counts=False):
        """Covariance of the C*k domain totals (index c*k + j).

        The totals are ``sum_i w_i table[codes_i, c] u[i, j]``; ``u`` is an
        (n, k) array or :class:`Coded` values (summed per cell and code, no
        n x k matrix, on a factored plan). With
        ``totals=True``, also returns these (C, k) totals (from the same
        cell sums). With ``counts=True``, also the (C, K + 1) numbers of rows
        of nonzero weight in each domain per code of a :class:`Coded` ``u``
        (the last: code -1), from the same pass over the rows; None when
        ``u`` is not summed per code.
        """
        engine = self.engine
        f = self._factored
        if isinstance(u, Coded):
            if np.shape(u.codes) != (engine.n,):
                raise ValueError(f"u must have {engine.n} codes, not {np.shape(u.codes)}")
            u = _checked_codes(u)
            K = np.shape(u.values)[0] + 1
            if f is not None and f.J * K * max(self.C, np.shape(u.values)[1]) <= _MAX_CODED:
                out = _coded_vcov(f, self.C, u, totals, counts)
                if out is not None:
                    return out
                f = None  # cancellation in one domain: residuals row by row (n x k values)
            u = u.dense()
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        n, k = u.shape
        if n != engine.n:
            raise ValueError(f"u must have {engine.n} rows, not {n}")
        if f is None:
            return self._with_counts(self._dense_vcov(u, totals), counts)
        if k <= 1 or (k <= 3 and f.segments is None):
            Q, T0, Tr, Tf = _cell_sums_direct(f, u)
        else:
            Q, T0, Tr, Tf = _cell_sums_sorted(f, u)
        V = _factored_vcov(f, self.C, k, _cross_products(f, self.C, k, Q), T0, Tr, Tf)
        return self._with_counts((V, f.D.T @ T0) if totals else V, counts)

    @staticmethod
    def _with_counts(out, counts):
        if not counts:
            return out
        return (*out, None) if isinstance(out, tuple) else (out, None)

    def replicate_totals(self, u):
        """(R, C*k) domain totals (index c*k + j) under each replicate weight column.

        For a replicate engine only (``engine.linearised`` False): what a
        statistic of the domain totals is recomputed from, replicate by
        replicate (R's ``svyby`` on a ``svyrep.design``).
        """
        if isinstance(u, Coded):
            u = u.dense()
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        n, k = u.shape
        U = (u[:, None, :] * self.table[self.codes][:, :, None]).reshape(n, self.C * k)
        return self.engine.replicate_totals(U)

    def _dense_vcov(self, u, totals):
        engine = self.engine
        n, k = u.shape
        w = engine.weights
        if not np.isfinite(u).all():
            # NaN or inf on rows no weight column weighs (full sample or
            # replicate): they count for nothing, and no inf * 0 below. A NaN
            # on a row some weight counts stays, and makes the covariance NaN.
            u = np.where(engine.weighed_rows[:, None], u, 0.0)
        U = (u[:, None, :] * self.table[self.codes][:, :, None]).reshape(n, self.C * k)
        V = engine.total_vcov(U)
        if not totals:
            return V
        x = u * w[:, None]
        x[w == 0] = 0.0
        P = self.table.shape[0]
        S = np.column_stack([np.bincount(self.codes, weights=x[:, j], minlength=P)
                             for j in range(k)])
        return V, self.table.T @ S
