"""Small linear-algebra and grouping helpers shared by variance and weighting.

Pure functions on numpy arrays. Written with elementwise numpy and
``np.bincount`` where a BLAS call would be slower on tiny matrices or many
threads would fight over a loaded machine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense_codes", "group_rows", "pinv_sym", "qr_rank", "rowsum", "wcrossprod", "wcrossprod_sym"]


def _sweep(G, tol):
    """Gauss-Jordan sweeps of G scaled to unit diagonal: (swept matrix, swept columns, scale)."""
    G = np.asarray(G, dtype=float)
    p = G.shape[0]
    d = np.sqrt(np.clip(np.diag(G), 0, None))
    ok = d > 0
    dd = np.where(ok, d, 1.0)
    A = G / dd[:, None] / dd[None, :]
    swept = np.zeros(p, dtype=bool)
    for k in range(p):
        piv = A[k, k]
        if not ok[k] or piv <= tol:
            continue
        col = A[:, k].copy()
        row = A[k, :].copy()
        A -= np.multiply.outer(col, row) / piv
        A[:, k] = col / piv
        A[k, :] = row / piv
        A[k, k] = -1.0 / piv
        swept[k] = True
    return A, swept, dd


def pinv_sym(G, tol=1e-10):
    """Symmetric generalised inverse of a positive semi-definite matrix.

    Gauss-Jordan sweeps on the diagonal, in column order, of the matrix
    scaled to unit diagonal; a column whose remaining pivot is below ``tol``
    is collinear with earlier ones and left out (as R's pivoting QR moves it
    to the end). G G^- G = G, which is all a projection (residuals, Newton
    steps in the column space) needs. Written with elementwise numpy only:
    multithreaded BLAS/LAPACK calls on tiny matrices are very slow on a
    loaded machine.
    """
    G = np.asarray(G, dtype=float)
    if G.shape[0] == 0:
        return G.copy()
    A, swept, dd = _sweep(G, tol)
    inv = np.where(np.logical_and.outer(swept, swept), -A, 0.0)
    return inv / dd[:, None] / dd[None, :]


def qr_rank(X, tol=1e-5, block=65536):
    """Rank of X (n, p) as R's ``qr(X, tol)$rank`` (LINPACK ``dqrdc2``).

    Columns are taken in order; one counts when the part of it not
    explained by the columns already counted keeps at least ``tol`` of its
    norm. As ``dqrdc2``'s limited pivoting, a column that does not count is
    set aside and takes no dimension: an unpivoted QR would spend one on its
    rounding noise, and undercount the rank of a matrix with fewer rows than
    columns (a domain of a replicate design). The columns are compressed to
    their triangular factor over blocks of rows (no n x p copy), which keeps
    their inner products.
    """
    n, p = X.shape
    if n == 0 or p == 0:
        return 0
    R = np.zeros((0, p))
    for a in range(0, n, block):
        R = np.linalg.qr(np.vstack([R, X[a:a + block]]), mode="r")
    basis = np.zeros((R.shape[0], 0))
    rank = 0
    for j in range(p):
        col = R[:, j]
        norm = np.sqrt(col @ col)
        if norm == 0:
            continue
        r = col - basis @ (basis.T @ col)
        r -= basis @ (basis.T @ r)  # twice is enough (Giraud et al. 2005)
        rn = np.sqrt(r @ r)
        if rn >= tol * norm:
            basis = np.column_stack([basis, r / rn])
            rank += 1
    return rank


def rowsum(x, codes, size):
    """Sums of ``x`` (n,) or (n, k) grouped by ``codes`` (0..size-1), R ``rowsum``.

    One ``np.bincount`` per column; a single group is a plain column sum.
    """
    if x.ndim == 1:
        return np.bincount(codes, weights=x, minlength=size)
    if size == 1:
        return x.sum(axis=0, keepdims=True)
    out = np.empty((size, x.shape[1]))
    for j in range(x.shape[1]):
        out[:, j] = np.bincount(codes, weights=x[:, j], minlength=size)
    return out


def group_rows(A, codes, size):
    """Row sums of ``A`` (m, q) grouped by ``codes`` (0..size-1), for a few rows.

    Unlike :func:`rowsum`, meant for small ``m`` and many columns: a one-hot
    matrix product while it stays small, ``np.add.at`` otherwise.
    """
    if size == 1:
        return A.sum(axis=0, keepdims=True)
    if size * A.shape[0] <= 4_000_000:
        onehot = np.zeros((size, A.shape[0]))
        onehot[codes, np.arange(A.shape[0])] = 1.0
        return onehot @ A
    out = np.zeros((size, A.shape[1]))
    np.add.at(out, codes, A)
    return out


def dense_codes(codes):
    """Dense codes 0..m-1 of non-negative integer ``codes`` and one row index per code.

    Linear time (bincount and a lookup table) when the codes are not too
    sparse; the sorted order of the original codes is kept.
    """
    n = codes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    K = int(codes.max()) + 1
    if K <= 4 * n + 16:
        present = np.bincount(codes, minlength=K) > 0
        lut = np.cumsum(present) - 1
        dense = lut[codes]
        rep = np.empty(int(present.sum()), dtype=np.int64)
        rep[dense] = np.arange(n)  # any row of each code will do
        return dense, rep
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return inverse.ravel().astype(np.int64), first


def wcrossprod(A, w, B):
    """A^T diag(w) B; elementwise (no BLAS threads) for a few columns."""
    if A.shape[1] * B.shape[1] <= 64:
        return np.einsum("pi,p,pj->ij", A, w, B, optimize=False)
    return (A * w[:, None]).T @ B


def wcrossprod_sym(A, w):
    """A^T diag(w) A for w >= 0, scaling a copy of A by sqrt(w) once."""
    if A.shape[1] <= 8:
        return wcrossprod(A, w, A)
    B = A * np.sqrt(w)[:, None]
    return B.T @ B
