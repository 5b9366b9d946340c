"""R's numerical routines that ``ramlab.design._rcompat`` runs step for step, against R.

Direct calls on chosen inputs, no design: R's ``splinefun``/``spline`` ("fmm"),
``approx``, ``uniroot`` (``R_zeroin2``), ``glm.fit`` of a quasi-binomial
``y ~ 1`` and the logit link's inverse and deviance
(``tests/fixtures/r/extra_rcompat.R`` -> ``extra_rcompat.json``; R writes every
result as 17 significant digits, so most comparisons are exact: the module's
purpose is R's digits, not R's tolerance).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from ramlab.design import _rcompat
from tests._rref import load_json

REF = load_json("extra_rcompat.json")


def _num(values):
    return np.array([np.nan if v == "NA" else float(v) for v in np.atleast_1d(values)])


@pytest.mark.parametrize("case", REF["splines"], ids=lambda c: c["id"])
def test_fmm_spline_coefficients_equal_r_splinefun(case):
    order = np.argsort(case["x"], kind="stable")
    x = np.asarray(case["x"], dtype=float)[order]
    y = np.asarray(case["y"], dtype=float)[order]
    b, c, d = _rcompat._fmm_spline(x, y)
    for name, got in (("b", b), ("c", c), ("d", d)):
        np.testing.assert_allclose(got, _num(case[name]), rtol=1e-14, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("case", REF["splines"], ids=lambda c: c["id"])
def test_spline_values_equal_r_spline(case):
    xout, yout = _rcompat._r_spline(np.array(case["x"], dtype=float), np.array(case["y"], dtype=float),
                                    case["n_out"])
    np.testing.assert_array_equal(xout, _num(case["xout"]))
    np.testing.assert_allclose(yout, _num(case["yout"]), rtol=1e-14, atol=1e-15)
    # where xout is a knot, R's spline returns the knot's y itself (dx = 0)
    at_knot = np.isin(xout, case["x"])
    knot_y = dict(zip(case["x"], case["y"]))
    assert at_knot.sum() >= 2
    np.testing.assert_array_equal(yout[at_knot], [knot_y[v] for v in xout[at_knot]])


@pytest.mark.parametrize("case", REF["approx"], ids=lambda c: c["id"])
def test_approx_equals_r_approx(case):
    got = _rcompat._r_approx(np.array(case["x"], dtype=float), np.array(case["y"], dtype=float),
                             np.array(case["xout"], dtype=float))
    np.testing.assert_allclose(got, _num(case["yout"]), rtol=1e-15, atol=0)


@pytest.mark.parametrize("case", REF["uniroot"], ids=lambda c: c["id"])
def test_uniroot_equals_r_uniroot(case):
    if case["f"] == "step":
        v = np.array(case["step_values"])
        p = float(case["p"])

        def f(x):
            return np.count_nonzero(v <= x) / v.size - p
    elif case["f"] == "kink":
        r, up, down, pu, pd = float(case["r"]), case["up"], float(case["down"]), case["pu"], case["pd"]

        def f(x):  # the R function's products, in its order
            d = x - r
            v = up if d > 0 else -down
            for _ in range(pu if d > 0 else pd):
                v = v * (d if d > 0 else -d)
            return v
    elif case["f"] == "asym":
        r, up, down = float(case["r"]), case["up"], float(case["down"])

        def f(x):
            return up if x > r else (-down if x < r else 0.0)
    elif case["f"] == "sign":
        r = float(case["r"])

        def f(x):
            return 1 if x > r else (-1 if x < r else 0)
    else:
        f = eval("lambda x: " + case["f"])  # the R expression, same operations in Python
    kwargs = {"maxiter": case["maxiter"]} if case["maxiter_given"] else {}  # else R's default, 1000
    root = _rcompat.uniroot(f, float(case["lower"]), float(case["upper"]), float(case["tol"]), **kwargs)
    assert root == float(case["root"])


def test_uniroot_refuses_ends_of_the_same_sign_as_r():
    with pytest.raises(ValueError, match=re.escape(REF["uniroot_same_sign_error"])):
        _rcompat.uniroot(lambda x: x * x + 1, -1, 1, 1e-8)
    with pytest.raises(ValueError, match=re.escape(REF["uniroot_same_sign_small_error"])):
        _rcompat.uniroot(lambda x: x * x + 0.25, -0.5, 0.5, 1e-8)


@pytest.mark.parametrize("case", REF["glm"], ids=lambda c: c["id"])
def test_glm_intercept_equals_r_glm_fit(case):
    y = np.array(case["y"], dtype=float)
    W = _num(case["W"])
    kwargs = {"start": case["start"]} if "start" in case else {}
    coef, ww_sum = _rcompat.glm_intercept(y, W, epsilon=case["epsilon"], maxit=case["maxit"], info=True, **kwargs)
    r_coef = _num(case["coef"])[0]
    assert coef == pytest.approx(r_coef, rel=1e-13)
    # summary.glm's cov.unscaled: 1 / the last iteration's working weights,
    # sum(W mu (1 - mu)), whose log moves by at most |d coef| (|1 - 2 mu| <= 1):
    # 25 iterations that do not converge (no_positive_200, coef near -27) carry
    # R's QR and ramlab's weighted mean 3e-13 apart
    assert 1 / ww_sum == pytest.approx(_num(case["cov_unscaled"])[0], rel=1e-13 + abs(coef - r_coef))
    assert _rcompat.glm_intercept(y, W, epsilon=case["epsilon"], maxit=case["maxit"], **kwargs) == coef
    if (case["epsilon"], case["maxit"]) == (1e-8, 25):  # R's glm.control() defaults are glm_intercept's
        assert _rcompat.glm_intercept(y, W, **kwargs) == coef


def test_logit_linkinv_equals_r_binomial_linkinv():
    got = _rcompat.logit_linkinv(np.array(REF["logit_linkinv"]["eta"], dtype=float))
    np.testing.assert_array_equal(got, _num(REF["logit_linkinv"]["mu"]))


def test_binomial_deviance_equals_r_dev_resids():
    ref = REF["binomial_deviance"]
    with warnings.catch_warnings():  # log(0) of y = 0 and y = 1 is masked, as R's y log(y / mu) = 0
        warnings.simplefilter("error")
        got = _rcompat.binomial_deviance(np.array(ref["y"]), np.array(ref["mu"]), np.array(ref["w"]))
    assert got == pytest.approx(float(ref["deviance"]), rel=1e-15)
