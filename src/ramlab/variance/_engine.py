"""The variance engines behind a design: the seam between design classes.

R ``survey`` has one method of each statistic per design class
(``svymean.survey.design2`` takes the linearised variance, ``svyrecvar``;
``svymean.svyrep.design`` the replicate-weight variance, ``svrVar``).
ramlab's estimators are written once, against :class:`VarianceEstimator`:
a design class supplies the engine, and every estimator follows.

- :class:`Linearisation`: Taylor linearisation (R ``svyrecvar``): the
  influence values, weighted, residualised for each calibration
  (:func:`ramlab.variance.residualise`), then the stratified multistage
  formula (:func:`ramlab.variance.multistage_vcov`).
- A replicate-weights engine implements the same two methods from its
  replicate weights: ``total_vcov`` from the replicate totals of ``u``,
  ``statistic_vcov`` from the statistic recomputed with each replicate's
  weights.
"""

from __future__ import annotations

import abc

import numpy as np

from ramlab.variance._domains import DomainPlan
from ramlab.variance._multistage import multistage_vcov

__all__ = ["Linearisation", "VarianceEstimator"]


class VarianceEstimator(abc.ABC):
    """What every estimator asks of a design's variance engine.

    Attributes
    ----------
    n : int
        Number of rows.
    weights : ndarray (n,)
        The design's (final) weights, 0 outside a domain.
    """

    n: int
    weights: np.ndarray
    #: True when ``statistic_vcov(s, u)`` is ``total_vcov(u)`` (a linear engine)
    linearised: bool = True

    @abc.abstractmethod
    def total_vcov(self, u):
        """Covariance (k, k) of the estimated totals ``sum_i w_i u[i, j]``.

        ``u`` (n, k) or (n,) holds per-row values, 0 outside the domain.
        """

    def statistic_vcov(self, statistic, influence):
        """Covariance of a statistic of the weights.

        Parameters
        ----------
        statistic : callable
            ``statistic(weights)`` -> (k,) estimate computed with the given
            weights (n,). A replicate engine evaluates it once per
            replicate.
        influence : ndarray (n, k)
            Its influence values: the statistic is, to first order, the
            total of ``influence`` (what linearisation uses).

        The default is linearisation: ``total_vcov(influence)``.
        """
        return self.total_vcov(influence)


class Linearisation(VarianceEstimator):
    """Taylor-linearisation variance of a design (R ``svyrecvar``).

    Parameters
    ----------
    structure
        The sampling structure, with ``stages`` (sequence of
        :class:`ramlab.variance.Stage`) and ``row_psu_scale`` (see
        :func:`ramlab.variance.row_psu_scale`), computed lazily.
    weights : ndarray (n,)
    calibrations : tuple of Calibration
        Oldest first.
    rows : ndarray of int or None
        The rows R's design object holds (an uncalibrated subset holds only
        its domain's rows); None = all.
    lonely_psu : str
        See :data:`ramlab.variance.LONELY_PSU_OPTIONS`.
    """

    def __init__(self, structure, weights, calibrations, rows, lonely_psu):
        self.structure = structure
        self.weights = weights
        self.calibrations = tuple(calibrations)
        self.rows = rows
        self.lonely_psu = lonely_psu
        self.n = weights.shape[0]

    @property
    def row_psu_scale(self):
        """:func:`ramlab.variance.row_psu_scale` of the stages (or None)."""
        return self.structure.row_psu_scale

    def domain_plan(self, domains):
        """A :class:`DomainPlan` of ``domains`` on this engine."""
        return DomainPlan(self, domains)

    def total_vcov(self, u):
        """Linearisation covariance of the totals ``sum_i w_i u[i, j]``.

        Residualises the weighted influence values for each calibration
        (oldest first), then applies the stratified multistage formula.
        Reference: R survey ``svyrecvar``.
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        if u.shape[0] != self.n:
            raise ValueError(f"u must have {self.n} rows, not {u.shape[0]}")
        w = self.weights
        x = u * w[:, None]
        x[w == 0] = 0.0
        for cal in self.calibrations:
            x = cal.residualise(x)
        if self.rows is not None:
            x = x[self.rows]
        return multistage_vcov(x, self.structure.stages, lonely_psu=self.lonely_psu, rows=self.rows)
