"""The linear-algebra and grouping helpers of the variance engine, against exact identities.

``pinv_sym`` (the G^- of every calibration residual and Newton step),
``qr_rank`` (R ``qr(X, tol)$rank``, the df of a replicate design),
``rowsum`` (R ``rowsum``), ``group_rows``, ``dense_codes`` and the weighted
cross-products of the multistage formula. Each is checked on matrices whose
answer is known exactly (a known rank, an invertible or rank-deficient Gram
matrix, sums by group written out), on each of its branches.
"""

from __future__ import annotations

import numpy as np
import pytest

from ramlab.variance import dense_codes, group_rows, pinv_sym, qr_rank, rowsum
from ramlab.variance._linalg import wcrossprod, wcrossprod_sym


def _gram(X):
    return X.T @ X


def test_pinv_sym_of_an_invertible_matrix_is_its_inverse_whatever_the_scales():
    """Columns of very different scales (a count, a total in euros): the sweeps work on the
    matrix scaled to unit diagonal, so no column falls under the tolerance."""
    rng = np.random.default_rng(1)
    scales = np.array([1e-6, 1.0, 1e3, 1e6])
    X = rng.normal(size=(40, 4)) * scales
    G = _gram(X)
    P = pinv_sym(G)
    np.testing.assert_allclose(P, P.T, rtol=1e-12)
    relative = scales[:, None] / scales[None, :]  # the size of the (i, j) term of P G
    np.testing.assert_allclose(P @ G * relative, np.eye(4), atol=1e-12)


def test_pinv_sym_leaves_out_a_later_collinear_column():
    """A column that earlier ones explain is left out (zero row and column), as R's
    pivoting QR moves it to the end; the others get the inverse of their own Gram matrix,
    and G G^- G = G."""
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(size=(3, 30))
    for X, dropped in [
        (np.column_stack([a, b, 2 * a - 3 * b, c]), 2),
        (np.column_stack([a, a, b, c]), 1),
        (np.column_stack([a, b, c, b + c]), 3),
    ]:
        G = _gram(X)
        P = pinv_sym(G)
        kept = [j for j in range(4) if j != dropped]
        assert np.all(P[dropped] == 0) and np.all(P[:, dropped] == 0)
        np.testing.assert_allclose(P[np.ix_(kept, kept)], np.linalg.inv(G[np.ix_(kept, kept)]), rtol=1e-8)
        np.testing.assert_allclose(G @ P @ G, G, atol=1e-9 * np.abs(G).max())


def test_pinv_sym_of_a_zero_column_of_one_column_and_of_nothing():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(size=20), np.zeros(20), rng.normal(size=20)])
    G = _gram(X)
    P = pinv_sym(G)
    assert np.all(P[1] == 0) and np.all(P[:, 1] == 0)
    np.testing.assert_allclose(P[np.ix_([0, 2], [0, 2])], np.linalg.inv(G[np.ix_([0, 2], [0, 2])]), rtol=1e-10)
    assert pinv_sym(np.zeros((0, 0))).shape == (0, 0)
    np.testing.assert_array_equal(pinv_sym(np.array([[4.0]])), [[0.25]])
    np.testing.assert_array_equal(pinv_sym(np.array([[0.0]])), [[0.0]])
    np.testing.assert_array_equal(pinv_sym(np.zeros((2, 2))), np.zeros((2, 2)))


@pytest.mark.parametrize(("eps", "counted"), [(1e-3, True), (1e-7, False)])
def test_pinv_sym_tolerance_is_on_the_scaled_pivot(eps, counted):
    """The pivot left to a column, relative to its squared norm, is its squared sine with
    the earlier columns: (1e-3)^2 = 1e-6 is above the tolerance 1e-10, (1e-7)^2 below."""
    rng = np.random.default_rng(4)
    a, b, e = rng.normal(size=(3, 50))
    e -= np.column_stack([a, b]) @ np.linalg.lstsq(np.column_stack([a, b]), e, rcond=None)[0]
    e *= np.linalg.norm(a + b) / np.linalg.norm(e)
    X = np.column_stack([a, b, a + b + eps * e])
    G = _gram(X)
    P = pinv_sym(G)
    if counted:
        np.testing.assert_allclose(P @ G, np.eye(3), atol=1e-6)
    else:
        assert np.all(P[2] == 0) and np.all(P[:, 2] == 0)


def test_qr_rank_of_matrices_of_known_rank():
    rng = np.random.default_rng(5)
    a, b, c = rng.normal(size=(3, 12))
    assert qr_rank(np.column_stack([a, b, c])) == 3
    assert qr_rank(np.column_stack([a, b, a + b, c])) == 3
    assert qr_rank(np.column_stack([a, np.zeros(12), a, 2 * a])) == 1
    assert qr_rank(np.zeros((12, 3))) == 0
    assert qr_rank(np.zeros((0, 3))) == 0 and qr_rank(np.zeros((5, 0))) == 0
    # fewer rows than columns: at most the number of rows, however many columns
    wide = rng.normal(size=(3, 7))
    assert qr_rank(wide) == 3
    assert qr_rank(np.column_stack([wide[:, :1], wide[:, :1], wide])) == 3


@pytest.mark.parametrize(("eps", "rank"), [(1e-3, 3), (1e-4, 3), (1e-6, 2), (1e-8, 2)])
def test_qr_rank_counts_a_column_when_its_new_part_keeps_tol_of_its_norm(eps, rank):
    """R ``qr(X, tol = 1e-5)$rank``: the third column's part orthogonal to the first two has
    relative norm ~eps; it counts when that is at least 1e-5."""
    rng = np.random.default_rng(6)
    a, b, e = rng.normal(size=(3, 40))
    e -= np.column_stack([a, b]) @ np.linalg.lstsq(np.column_stack([a, b]), e, rcond=None)[0]
    col = a - b
    X = np.column_stack([a, b, col + eps * np.linalg.norm(col) / np.linalg.norm(e) * e])
    assert qr_rank(X, tol=1e-5) == rank


def test_qr_rank_by_blocks_of_rows_equals_in_one_block():
    """The columns compressed over blocks of rows (a short last block included) keep their
    inner products, hence the rank."""
    rng = np.random.default_rng(7)
    a, b, c = rng.normal(size=(3, 23))
    X = np.column_stack([a, b, a - 2 * b, c, b + c])
    for block in (1, 4, 5, 22, 23, 65536):
        assert qr_rank(X, block=block) == 3
    # a rank reached only with the rows of the last block
    Y = np.zeros((10, 3))
    Y[:, 0] = 1.0
    Y[9, 1] = 1.0
    Y[:, 2] = Y[:, 0] + Y[:, 1]
    assert qr_rank(Y, block=4) == 2



def test_qr_rank_of_one_row_of_one_column_and_after_a_zero_column():
    """A nonzero row, or column, has rank 1 (a domain of one respondent, a design of one
    replicate: R's degf 0); a zero column (a replicate that weighs no row of a domain) takes
    no dimension, and the columns after it still count."""
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2, 6))
    assert qr_rank(a[None, :]) == 1
    assert qr_rank(a[:, None]) == 1
    assert qr_rank(np.column_stack([np.zeros(6), a, b])) == 2

def test_rowsum_is_r_rowsum():
    codes = np.array([2, 0, 2, 3, 0, 2])
    x = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(rowsum(x, codes, 5), [2 + 5, 0, 1 + 3 + 6, 4, 0])
    X = np.column_stack([x, -x, x * x])
    expected = np.array([[7, -7, 4 + 25], [0, 0, 0], [10, -10, 1 + 9 + 36], [4, -4, 16], [0, 0, 0]], float)
    np.testing.assert_array_equal(rowsum(X, codes, 5), expected)
    np.testing.assert_array_equal(rowsum(X, np.zeros(6, dtype=np.int64), 1), X.sum(axis=0, keepdims=True))


@pytest.mark.parametrize("size", [1, 2, 3, 5000])
def test_group_rows_sums_rows_by_code(size):
    """One group: the column sums (as a row); small: a one-hot product; size x rows above
    4e6: ``np.add.at``."""
    rng = np.random.default_rng(8)
    m = 1000
    codes = rng.integers(0, size, size=m)
    A = rng.normal(size=(m, 3))
    expected = np.zeros((size, 3))
    for i, g in enumerate(codes):
        expected[g] += A[i]
    out = group_rows(A, codes, size)
    assert out.shape == (size, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("codes", [[5, 2, 5, 9, 2, 0], [10**9, 7, 10**9, 3 * 10**12, 7, 0]])
def test_dense_codes_keep_the_order_of_the_codes(codes):
    """Dense and sparse codes alike: 0..m-1 in the sorted order of the codes, and a row of each."""
    codes = np.array(codes, dtype=np.int64)
    dense, rep = dense_codes(codes)
    np.testing.assert_array_equal(dense, [2, 1, 2, 3, 1, 0])
    assert rep.shape == (4,)
    np.testing.assert_array_equal(dense[rep], np.arange(4))
    np.testing.assert_array_equal(codes[rep], np.unique(codes))
    empty, rep0 = dense_codes(np.zeros(0, dtype=np.int64))
    assert empty.shape == rep0.shape == (0,)


@pytest.mark.parametrize("k", [2, 9])
def test_weighted_cross_products(k):
    """A' diag(w) B by elementwise sums (few columns) or a matrix product; A' diag(w) A."""
    rng = np.random.default_rng(9)
    A, B = rng.normal(size=(2, 30, k))
    w = rng.uniform(0.0, 3.0, size=30)
    expected = sum(w[i] * np.outer(A[i], B[i]) for i in range(30))
    np.testing.assert_allclose(wcrossprod(A, w, B), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wcrossprod(A, w, B[:, :1]), expected[:, :1], rtol=1e-12, atol=1e-12)
    expected_sym = sum(w[i] * np.outer(A[i], A[i]) for i in range(30))
    np.testing.assert_allclose(wcrossprod_sym(A, w), expected_sym, rtol=1e-12, atol=1e-12)
