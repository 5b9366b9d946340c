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

from ramlab.variance._linalg import dense_codes, group_rows, pinv_sym

__all__ = ["DomainPlan"]


@dataclass(eq=False)
class _CalibrationSums:
    """Per-cell quantities of one calibration (the l-th), design-level sums included."""

    ratio: np.ndarray  # (n,) w_old / w_new
    cw: np.ndarray  # (n,) c * w_new
    w_new: np.ndarray  # (n,)
    I: np.ndarray  # (J, p) calibration indicators of each cell  # noqa: E741
    pinv: np.ndarray  # (p, p) G^-
    Fsum: np.ndarray | None = None  # (H, p) sum over stratum h of F
    FSF: list = field(default_factory=list)  # F_l' S F_m, for each calibration m
    ZF: list = field(default_factory=list)  # Z_l' F_m, for each calibration m


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
    segments: _Segments | None = None


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
    """Dense joint code of several code arrays (their cross-classification)."""
    joint = None
    span = 1
    for p, size in zip(parts, sizes):
        if size == 1:
            continue
        if joint is None:
            joint, span = p.astype(np.int64, copy=False), size
            continue
        if span * size > 4 * n + 16:
            joint, rep0 = dense_codes(joint)
            span = rep0.shape[0]
        joint = joint * size + p
        span *= size
    if joint is None:
        joint = np.zeros(n, dtype=np.int64)
    return dense_codes(joint)


def _calibration_sums(cals, c, jc, J, rep, hcode, H):
    out = []
    for cal in cals:
        out.append(_CalibrationSums(
            ratio=cal.weight_ratio(), cw=c * cal.w_new, w_new=cal.w_new,
            I=cal.model.cell_indicators()[cal.model.cell[rep]], pinv=pinv_sym(cal.gram),
        ))
    for A in out:
        wsum = np.bincount(jc, weights=A.w_new, minlength=J)
        A.Fsum = group_rows(wsum[:, None] * A.I, hcode, H)
        for B in out:
            cs = np.bincount(jc, weights=A.cw * B.w_new, minlength=J)
            A.FSF.append((A.I * cs[:, None]).T @ B.I)
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
    cals = engine.calibrations
    if not all(cal.model.is_categorical for cal in cals):
        return None
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
        cals=_calibration_sums(cals, c, jc, J, rep, hcode, H),
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
    out = v * wv[:, None]
    if not np.isfinite(out).all():
        out[wv == 0] = 0.0  # 0 * inf or nan outside the domain
    return out


def _cell_sums_direct(f, u):
    """Per-cell cross-products Q, sums T0 and calibration-weighted sums, by bincount."""
    k = u.shape[1]
    jc, J = f.jc, f.J
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


def _factored_vcov(f, C, k, Q, T0, Tr, Tf):
    """Covariance of the C*k domain totals from the per-cell sums."""
    D = f.D
    J = f.J
    CK = C * k
    # sum_j c_j (D_j D_j') (x) Q_j, as one matrix product
    E = ((D * f.cj[:, None])[:, :, None, None] * Q[:, None, :, :]).reshape(J, -1)
    V = (E.T @ D).reshape(C, k, k, C).transpose(0, 1, 3, 2).reshape(CK, CK)

    def spread(T):  # (J, C*k): row j is D_j (x) T_j
        return (D[:, :, None] * T[:, None, :]).reshape(J, CK)

    s = group_rows(spread(T0), f.hcode, f.H)
    Bs = []
    for a, A in enumerate(f.cals):
        ZA = A.I.T @ spread(Tr[a])
        for b in range(a):
            ZA = ZA - A.ZF[b] @ Bs[b]
        Bs.append(A.pinv @ ZA)
    for a, A in enumerate(f.cals):
        cross = (spread(Tf[a]).T @ A.I) @ Bs[a]
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

    def total_vcov(self, u, *, totals=False):
        """Covariance of the C*k domain totals (index c*k + j).

        The totals are ``sum_i w_i table[codes_i, c] u[i, j]``. With
        ``totals=True``, also returns these (C, k) totals (from the same
        cell sums).
        """
        engine = self.engine
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        n, k = u.shape
        if n != engine.n:
            raise ValueError(f"u must have {engine.n} rows, not {n}")
        f = self._factored
        if f is None:
            return self._dense_vcov(u, totals)
        if k <= 1 or (k <= 3 and f.segments is None):
            Q, T0, Tr, Tf = _cell_sums_direct(f, u)
        else:
            Q, T0, Tr, Tf = _cell_sums_sorted(f, u)
        V = _factored_vcov(f, self.C, k, Q, T0, Tr, Tf)
        if totals:
            return V, f.D.T @ T0
        return V

    def _dense_vcov(self, u, totals):
        engine = self.engine
        n, k = u.shape
        U = (u[:, None, :] * self.table[self.codes][:, :, None]).reshape(n, self.C * k)
        V = engine.total_vcov(U)
        if not totals:
            return V
        w = engine.weights
        x = u * w[:, None]
        x[w == 0] = 0.0
        P = self.table.shape[0]
        S = np.column_stack([np.bincount(self.codes, weights=x[:, j], minlength=P)
                             for j in range(k)])
        return V, self.table.T @ S
