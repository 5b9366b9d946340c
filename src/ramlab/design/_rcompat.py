"""R-compatibility numerics of ``svyciprop``: R's own algorithms, step for step.

R's "logit" and "likelihood" intervals come out of ``svyglm``'s IRLS, which
stops at R's tolerance, and of ``confint``'s profile, interpolated by R's
spline. To agree with R to 1e-8 rather than to R's tolerance, ramlab runs the
same steps: :func:`glm_intercept` (R ``glm.fit`` for ``y ~ 1``),
:func:`likelihood_ci` (``MASSprofile_glm``, ``spline(method = "fmm")``,
``approx``), with R's clamped ``logit_linkinv``. And R's ``uniroot`` (:func:`uniroot`),
whose steps decide ``svyquantile``'s score interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["binomial_deviance", "expit", "glm_intercept", "intercept_var", "likelihood_ci", "logit_linkinv", "uniroot"]


_DBL_EPS = np.finfo(float).eps


def logit_linkinv(eta):
    """R's C_logit_linkinv: e / (1 + e), e = exp(eta) clamped to DBL_EPSILON below
    eta = -30 and to 1 / DBL_EPSILON above 30 (so eps / (1 + eps) at the bottom, as R)."""
    eta = np.asarray(eta, dtype=float)
    e = np.where(eta < -30, _DBL_EPS, np.where(eta > 30, 1 / _DBL_EPS, np.exp(np.clip(eta, -30, 30))))
    return e / (1 + e)


def binomial_deviance(y, mu, W):
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(y > 0, y * np.log(y / mu), 0.0)
        t2 = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
    return 2 * float(W @ (t1 + t2))




def expit(x):
    """R survey's ``expit``: ``exp(eta) / (1 + exp(eta))``, to the last bit (not 1 / (1 + exp(-eta))).

    As R's, NaN (Inf / Inf) above eta = 709.78, where exp overflows; quietly.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / (1.0 + e)


def glm_intercept(y, W, epsilon=1e-8, maxit=25, *, info=False, start=None):
    """Intercept of R's ``glm.fit`` for a quasi-binomial model ``y ~ 1``.

    Reproduces R's IRLS (binomial initialisation, convergence when the
    relative change of deviance is below ``epsilon``), so that the estimate
    of ``svyciprop(method = "logit" | "likelihood")`` -- expit of the fitted
    intercept -- agrees with R to the digit, not only to R's tolerance.

    ``start``: R's ``glm.fit(start = )``, as ``svyglm`` refits each
    replicate of a replicate design from the full-sample coefficient.

    With ``info=True`` also returns the sum of the working weights of the
    last IRLS iteration. R's ``glm.fit`` keeps the QR of that last weighted
    fit, whose weights come from the *previous* iterate's mu, so the model
    -based ("naive") variance of the intercept is 1 / that sum, not
    1 / sum(W mu (1 - mu)) at the final mu; the two differ by up to ~1e-3
    relative for small proportions at R's default ``epsilon``.
    """
    good0 = W > 0
    y = np.where(good0, y, 0.0)
    if start is None:
        mustart = (W * y + 0.5) / (W + 1)
        eta = np.log(mustart / (1 - mustart))
    else:  # R glm.fit(start = ): eta from the starting coefficient
        eta = np.full_like(y, float(start))
    mu = logit_linkinv(eta)
    devold = binomial_deviance(y, mu, W)
    coef = float(eta[good0][0]) if good0.any() else 0.0
    ww_sum = float("nan")
    for _ in range(maxit):
        mu_eta = np.maximum(mu * (1 - mu), _DBL_EPS)
        good = good0 & (mu_eta != 0)
        z = eta[good] + (y - mu)[good] / mu_eta[good]
        ww = W[good] * mu_eta[good] ** 2 / (mu[good] * (1 - mu[good]))
        ww_sum = float(ww.sum())
        coef = float(ww @ z / ww_sum)
        eta = np.full_like(y, coef)
        mu = logit_linkinv(eta)
        dev = binomial_deviance(y, mu, W)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            break
        devold = dev
    return (coef, ww_sum) if info else coef


def _fmm_spline(x, y):
    """Coefficients of R's ``spline(method = "fmm")`` (Forsythe, Malcolm & Moler)."""
    n = x.size
    b = np.zeros(n)
    c = np.zeros(n)
    d = np.zeros(n)
    if n < 2:
        return b, c, d
    if n < 3:
        t = (y[1] - y[0]) / (x[1] - x[0])
        b[:] = t
        return b, c, d
    nm1 = n - 1
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, nm1):
        d[i] = x[i + 1] - x[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0] = -d[0]
    b[nm1] = -d[n - 2]
    c[0] = c[nm1] = 0.0
    if n > 3:
        c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
        c[nm1] = c[n - 2] / (x[nm1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
        c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
        c[nm1] = -c[nm1] * d[n - 2] * d[n - 2] / (x[nm1] - x[n - 4])
    for i in range(1, n):
        t = d[i - 1] / b[i - 1]
        b[i] = b[i] - t * d[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[nm1] = c[nm1] / b[nm1]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[nm1] = (y[nm1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[nm1])
    for i in range(nm1):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[nm1] = 3.0 * c[nm1]
    d[nm1] = d[n - 2]
    return b, c, d


def _r_spline(x, y, n_out):
    """R ``spline(x, y, n = n_out)`` with the default "fmm" method."""
    order = np.argsort(x, kind="stable")
    x = np.asarray(x, dtype=float)[order]
    y = np.asarray(y, dtype=float)[order]
    b, c, d = _fmm_spline(x, y)
    xout = np.linspace(x[0], x[-1], n_out)
    i = np.clip(np.searchsorted(x, xout, side="right") - 1, 0, x.size - 1)
    dx = xout - x[i]
    return xout, y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


def _r_approx(x, y, xout):
    """R ``approx(x, y, xout)`` (linear, ties averaged, NA outside the range)."""
    df = pd.DataFrame({"x": x, "y": y}).groupby("x", sort=True)["y"].mean()
    xs, ys = df.index.to_numpy(), df.to_numpy()
    out = np.interp(xout, xs, ys)
    return np.where((xout < xs[0]) | (xout > xs[-1]), np.nan, out)


def intercept_var(d, y, mu):
    """Design variance of the logit intercept of ``svyglm(y ~ 1, quasibinomial)``.

    As R's ``vcov(svyglm)``: the linearisation variance of the estimating
    function at the fitted mu, w (y - mu) / (N mu (1 - mu)). R's IRLS stops
    at its default tolerance, so mu is not exactly the weighted proportion;
    taking the variance at the proportion moves the logit interval by up to
    6e-8 and the likelihood interval (through its profile step) by more.

    On a replicate design, R (``svyglm.svyrep.design``) refits the model
    with each replicate's weights (scaled to sum 1), starting from the
    full-sample coefficient, and takes the replicates' variance.
    """
    w = d.weight_values
    u = np.where(w > 0, (y - mu) / w.sum(), 0.0)
    if d.variance_engine.linearised:
        return float(d.total_vcov(u)[0, 0]) / (mu * (1 - mu)) ** 2
    beta = float(np.log(mu / (1 - mu)))

    def refit(W):
        return np.array([[glm_intercept(y, W[:, j] / W[:, j].sum(), start=beta)]
                         for j in range(W.shape[1])])

    return float(d.statistic_vcov(refit, (u / (mu * (1 - mu)))[:, None])[0, 0])


def likelihood_ci(d, y, df, level, *, answered):
    """Profile-likelihood interval of R ``svyciprop(method = "likelihood")``.

    As R (``confint.svyglm(method = "likelihood")``, ``MASSprofile_glm``,
    ``confint_profile``): the quasi-binomial deviance of the intercept-only
    model (prior weights w / mean(w)) is profiled at up to 9 points on each
    side of the estimate, in steps of zmax/5 standard errors; the signed
    root (D(beta) - D(beta_hat)) / phi, phi the design-based variance of the
    Pearson residuals, is interpolated by R's "fmm" spline and inverted
    linearly at +- qt(alpha/2, df) * sqrt(lambda), lambda the ratio of the
    design-based to the model-based variance of the intercept.

    Both variances are taken as R's ``svyglm`` leaves them after IRLS stops
    at its default tolerance: the design variance at the fitted mu, the
    model-based one from the last iteration's working weights. Taking them
    at the exact proportion instead moves the interval by up to 6e-4
    relative for small proportions (the profile step and lambda change).

    ``answered`` (boolean, one per row): the rows whose answer is known.
    R's glm leaves the others out (``na.omit``) after it has scaled the
    weights by their mean over every row of the design, so they count
    only in the F quantile's degrees of freedom, nobs - 1.
    """
    from scipy import stats

    rows = d.held_rows
    w_all = d.weight_values if rows is None else d.weight_values[rows]
    yy = y if rows is None else y[rows]
    W = w_all / w_all.mean()
    B0, ww_sum = glm_intercept(yy, W, info=True)
    mu = float(logit_linkinv(B0))
    D0 = binomial_deviance(yy, np.full_like(yy, mu), W)
    pos = w_all > 0
    r = np.where(pos, (yy - mu) / np.sqrt(mu * (1 - mu)), 0.0)
    n = int(pos.sum())
    rbar = (w_all @ r) / w_all.sum()
    phi = (w_all @ ((r - rbar) ** 2)) / w_all.sum() * n / (n - 1)
    # R: object$naive.cov, from the QR of glm.fit's last iteration (weights
    # of the previous iterate), see glm_intercept
    naive = 1.0 / ww_sum
    cov = intercept_var(d, y, mu)
    lam = cov / naive
    # R: qnorm instead of qt when ddf = Inf; df is the design's degf, an integer
    alpha = stats.norm.cdf(stats.t.ppf((1 - level) / 2, df) * np.sqrt(lam)) / 2
    nobs = int(np.count_nonzero(answered if rows is None else answered[rows]))
    # R: sqrt(qf(alpha, 1, nobs - 1, lower.tail = FALSE)), the same as this t
    # quantile (F(1, v) = t(v)^2); scipy's f.isf loses digits below 1e-9 and
    # is inf below ~1e-20 (alpha is 3e-26 on a domain with df = 1)
    zmax = stats.t.isf(alpha / 2, nobs - 1)
    zi, bi_all = _profile(yy, W, B0, D0, phi, np.sqrt(cov), zmax)
    sx, sy = _r_spline(bi_all, zi, 3 * zi.size)
    unscaled = 2 * alpha
    cutoff = np.array([stats.norm.ppf(unscaled), stats.norm.isf(unscaled)])
    lo, hi = _r_approx(sy, sx, cutoff)
    return expit(lo), expit(hi)


def _profile(yy, W, B0, D0, phi, se_b, zmax):
    """R ``MASSprofile_glm`` of the intercept: signed roots of the deviance at up to
    9 steps of zmax/5 standard errors on each side, sorted by root."""
    delta = zmax / 5
    zi = [0.0]
    bi_all = [B0]
    for sgn in (-1, 1):
        step = 0
        z = 0.0
        while True:
            step += 1
            if not (step < 10 and abs(z) < zmax):
                break
            bi = B0 + sgn * step * delta * se_b
            m = float(logit_linkinv(bi))
            zz = (binomial_deviance(yy, np.full_like(yy, m), W) - D0) / phi
            zz = max(zz, 0.0)
            z = sgn * np.sqrt(zz)
            zi.append(z)
            bi_all.append(bi)
    zi = np.array(zi)
    bi_all = np.array(bi_all)
    order = np.argsort(zi, kind="stable")
    return zi[order], bi_all[order]


def uniroot(f, lower, upper, tol, maxiter=1000):
    """R ``uniroot(f, c(lower, upper), tol = tol)$root``: R's ``R_zeroin2``, step for step.

    Brent's zeroin as R's C code runs it (its inverse quadratic
    interpolation and acceptance test, ``tol_act = 2 eps |b| + tol / 2``).
    On a step function (``svyquantile``'s score interval) the root is only
    defined to within ``tol``, and which point within it comes out depends
    on every step: scipy's ``brentq`` differs from R's when several jumps lie
    within ``tol`` of each other.
    """
    a, b = float(lower), float(upper)
    fa, fb = f(a), f(b)
    if not fa * fb <= 0:
        raise ValueError(f"f() values at end points not of opposite sign ({fa!r}, {fb!r})")
    if fa == 0:
        return a
    if fb == 0:
        return b
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _DBL_EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # linear interpolation
                t1 = fb / fa
                p, q = cb * t1, 1.0 - t1
            else:  # inverse quadratic interpolation
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b
