"""Contrasts of estimates with their joint covariance (R ``svycontrast``).

Linear contrasts: c'theta, variance c'Vc. Nonlinear ones (an expression in
the estimates' names): the delta method, g'Vg with g the gradient at the
estimates, as R's ``svycontrast`` with a ``quote()``-d expression (R takes
the derivatives symbolically; ramlab by complex-step differentiation, exact
to rounding for the functions allowed). Tests: ``tests/design/test_ratio.py``,
``tests/design/test_contrast_ratio_corners.py``.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

__all__ = ["contrast"]

_FUNCTIONS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log10": np.log10, "log2": np.log2,
              "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "asin": np.arcsin}
_OPERATORS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide,
              ast.Pow: np.power}


def _evaluate(node, values, expr):
    """Value of an arithmetic expression tree: numbers, names, + - * / ** and _FUNCTIONS."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, values, expr)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise KeyError(f"contrast {expr!r}: {node.id!r} is not an estimate ({list(values)})")
        return values[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left, values, expr),
                                         _evaluate(node.right, values, expr))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _evaluate(node.operand, values, expr)
        return -v if isinstance(node.op, ast.USub) else v
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and len(node.args) == 1 and not node.keywords):
        return _FUNCTIONS[node.func.id](_evaluate(node.args[0], values, expr))
    raise ValueError(f"contrast {expr!r}: only numbers, estimate names, + - * / ** and "
                     f"{sorted(_FUNCTIONS)} are allowed")


def _nonlinear(expr, coef):
    """Value and gradient of ``expr`` at the estimates (complex step, h = 1e-20)."""
    tree = ast.parse(expr, mode="eval")
    names = list(coef.index)
    base = {k: complex(v) for k, v in coef.items()}
    value = float(np.real(_evaluate(tree, base, expr)))
    grad = np.empty(len(names))
    h = 1e-20
    for i, k in enumerate(names):
        shifted = dict(base)
        shifted[k] = base[k] + 1j * h
        grad[i] = np.imag(_evaluate(tree, shifted, expr)) / h
    return value, grad


def _linear(weights, coef):
    if isinstance(weights, dict):
        unknown = [k for k in weights if k not in coef.index]
        if unknown:
            raise KeyError(f"contrast: {unknown[0]!r} is not an estimate ({list(coef.index)})")
        c = np.array([float(weights.get(k, 0.0)) for k in coef.index])
    else:
        c = np.asarray(weights, dtype=float)
        if c.shape != (len(coef),):
            raise ValueError(f"contrast: {len(coef)} weights needed, not {c.shape}")
    return float(c @ coef.to_numpy()), c


def contrast(estimates, spec):
    """:meth:`SurveyDesign.contrast` (R ``svycontrast``): see its docstring."""
    frame, vcov = estimates
    coef = frame["estimate"] if isinstance(frame, pd.DataFrame) else pd.Series(frame)
    V = np.asarray(vcov, dtype=float)
    several = isinstance(spec, dict) and spec and all(isinstance(v, (dict, str, list, tuple, np.ndarray))
                                                     for v in spec.values())
    items = spec.items() if several else [("contrast", spec)]
    rows, grads = [], []
    for label, one in items:
        value, g = _nonlinear(one, coef) if isinstance(one, str) else _linear(one, coef)
        rows.append((label, value))
        grads.append(g)
    G = np.vstack(grads)
    cov = G @ V @ G.T
    labels = [r[0] for r in rows]
    out = pd.DataFrame({"estimate": [r[1] for r in rows], "se": np.sqrt(np.diag(cov))}, index=labels)
    return out, pd.DataFrame(cov, index=labels, columns=labels)
