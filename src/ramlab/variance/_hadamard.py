"""R's Hadamard matrices (survey ``hadamard``, ``paley``), for BRR and Fay replicates.

R survey 4.1-1 builds ``hadamard(n)``, a matrix with more than ``n`` rows,
from four stored matrices (``survey:::hadamard.list``, of orders 4, 16, 28
and 36), Paley's construction (``paley``) and doubling
(``hadamard.doubler``: ``[[H, H], [H, 1 - H]]``). Its entries are 0/1, with
a first row of 1. :func:`hadamard` follows the same steps, so it gives R's
matrix, entry for entry, for every ``n``
(tests/design/test_replicate_weights.py compares it with R).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["hadamard"]

# R survey 4.1-1, survey:::hadamard.list[[3]] and [[4]] (orders 28 and 36),
# row by row, each row's 0/1 entries read as one hexadecimal number. The
# orders 4 and 16 ([[1]] and [[2]]) are [[1]] doubled twice and four times.
_STORED_28 = (
    "fffffff 9c71c78 83cd378 83b2e66 9a0f8d6 952c5ae 8cd239e 58aa7f0 45b59d4 46cbcac "
    "561774a 4b64e9a 5959b26 2d1eae8 3666b34 2b3b51c 31d74b2 32f89ca 2ced646 ea545e4 "
    "f1632cc f09ce1c e54ad52 e6392b2 e8a792a dffe000 bf81f80 7f8007e"
)
_STORED_36 = (
    "fffffffff 5c7dc8564 b8fb90ac8 71f721592 e3ee42b24 c7dc8564a 8fb90ac96 1f721592e "
    "3ee42b25c 7dc8564b8 fb90ac970 f721592e2 ee42b25c6 dc8564b8e b90ac971e 721592e3e "
    "e42b25c7c c8564b8fa 90ac971f6 21592e3ee 42b25c7dc 8564b8fb8 0ac971f72 1592e3ee4 "
    "2b25c7dc8 564b8fb90 ac971f720 592e3ee42 b25c7dc84 64b8fb90a c971f7214 92e3ee42a "
    "25c7dc856 4b8fb90ac 971f72158 2e3ee42b2"
)
_SIZES = (4, 16, 28, 36)  # R's hadamard.sizes
_MAX_PRIME = 7919  # the largest of R paley()'s small.primes


def _unpack(rows, order):
    bits = np.array([[int(r, 16) >> (order - 1 - j) & 1 for j in range(order)] for r in rows.split()])
    return bits.astype(np.int8)


def _double(H, times=1):
    """R ``hadamard.doubler``, ``times`` times."""
    for _ in range(times):
        H = np.block([[H, H], [H, 1 - H]])
    return H


def _stored(size):
    if size == 28:
        return _unpack(_STORED_28, 28)
    if size == 36:
        return _unpack(_STORED_36, 36)
    return _double(np.ones((1, 1), dtype=np.int8), int(math.log2(size)))


def _is_small_prime(p):
    """In R paley()'s ``small.primes``: the primes 3 mod 4 up to 7919."""
    return 3 <= p <= _MAX_PRIME and p % 4 == 3 and all(p % d for d in range(3, math.isqrt(p) + 1, 2))


def _paley_matrix(p):
    """R ``paley(prime = p)``: order p + 1; entry (i, j) of the p x p core is 0
    where (i + j) mod p is 0 or a quadratic residue, 1 elsewhere; a first row
    and column of 1."""
    residue = np.zeros(p, dtype=bool)
    residue[np.arange(p) ** 2 % p] = True
    # row i of the core is residue[(i + j) mod p]: a view, no p x p index array
    core = np.lib.stride_tricks.sliding_window_view(np.concatenate([residue, residue]), p)[:p]
    H = np.ones((p + 1, p + 1), dtype=np.int8)
    H[1:, 1:] = ~core
    return H


def _paley(n, nmax):
    """R ``paley(n, nmax)``: a Paley matrix (doubled, maybe) of order > n, or None."""
    nceil = nn = n + 4 - n % 4
    if n % 4 + 4 == n % 8:
        while nn % 8 == 0:
            nn //= 2
        if _is_small_prime(nn - 1):
            return _double(_paley_matrix(nn - 1), int(math.log2(nceil // nn)))
    if n > _MAX_PRIME:
        return None
    p = next(q for q in range(max(n, 3), _MAX_PRIME + 1) if _is_small_prime(q))
    if p + 1 > nceil + 4 and nceil + 4 < nmax:
        return _paley(nceil + 3, 2 * (nceil + 3))
    if p > nmax:
        return None
    return _paley_matrix(p)


def hadamard(n):
    """R ``survey:::hadamard(n)``: a 0/1 Hadamard matrix of order above ``n``.

    The stored matrix of order 4, 16, 28 or 36 when ``n`` is at most 4 below
    it; otherwise the stored order that doubles to the nearest size above
    ``n``, or Paley's construction (R ``paley``) when that size is more than
    4 above ``n`` and a Paley order fits, else the stored matrix doubled.

    Parameters
    ----------
    n : int
        Number of strata (rows 2 to n + 1 are used).

    Returns
    -------
    ndarray of int8 (m, m)
        m > n; first row all 1.
    """
    # R first returns a stored matrix when n is at most 4 below its order; the
    # rule below then picks that order too (4 doubled twice for 16: the same
    # matrix), so that shortcut is left out
    sizes = [size * 2 ** max(0, math.ceil(math.log2((n + 1) / size))) for size in _SIZES]
    best = int(np.argmin([s - n for s in sizes]))
    H = _paley(n, sizes[best]) if sizes[best] - n > 4 else None
    if H is None:
        H = _double(_stored(_SIZES[best]), int(math.log2(sizes[best] // _SIZES[best])))
    return H
