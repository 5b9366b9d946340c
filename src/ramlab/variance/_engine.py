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

from ramlab.variance._calibration import prepare_residualise, refuse_rows_sent_to_0, residualise
from ramlab.variance._domains import Coded, DomainPlan
from ramlab.variance._multistage import multistage_vcov, row_psu_vcov

__all__ = ["Linearisation", "VarianceEstimator", "as_columns"]


def as_columns(u, n):
    """Per-row values as a float (n, k) matrix: a vector is one column, coded values dense."""
    if isinstance(u, Coded):
        u = u.dense()
    u = np.asarray(u, dtype=float)
    if u.ndim == 1:
        u = u[:, None]
    if u.shape[0] != n:
        raise ValueError(f"u must have {n} rows, not {u.shape[0]}")
    return u


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

    @property
    def all_positive(self):
        """True when no weight is 0 (no row outside the domain); computed once.

        Negative weights (unbounded linear calibration) count, as in R.
        """
        if getattr(self, "_all_positive", None) is None:
            self._all_positive = bool((self.weights != 0).all())
        return self._all_positive

    @property
    def weighed_rows(self):
        """Rows some weight counts (n,) bool: weight not 0 (a replicate engine adds its replicates')."""
        return self.weights != 0

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
        self._prepared = None  # per calibration: what residualise needs whatever u
        self._whole = None  # the plan of the whole sample (one domain)

    @property
    def row_psu_scale(self):
        """:func:`ramlab.variance.row_psu_scale` of the stages (or None)."""
        return self.structure.row_psu_scale

    def variance_units(self):
        """The sampling unit of each row at the deepest stage the variance sums over, or None.

        Without calibration, the covariance of totals is made of the totals
        of ``w u`` per unit of this stage and of the stages above (whose units
        contain these), each centred by a mean of such totals (R
        ``multistage``): values whose total is 0 in every unit add exactly
        nothing, whatever the strata, fpc or lonely-PSU rule. None for a
        calibrated design (its residuals do not sum per unit as ``w u``) or
        when each row is its own first-stage PSU.
        """
        if self.calibrations or self.row_psu_scale is not None:
            return None
        stages = self.structure.stages
        s = 0  # a later stage counts with a population size for it and the one above
        while s + 1 < len(stages) and stages[s].popsize is not None and stages[s + 1].popsize is not None:
            s += 1
        return stages[s].cluster

    def domain_plan(self, domains):
        """A :class:`DomainPlan` of ``domains`` on this engine."""
        return DomainPlan(self, domains)

    def whole_plan(self):
        """The :class:`DomainPlan` of the whole sample as one domain (built once).

        What :meth:`DomainPlan.total_vcov` needs of this design for coded
        influence values (:class:`ramlab.variance.Coded`); ``plan.factored``
        says whether the design allows it.
        """
        if self._whole is None:
            self._whole = DomainPlan(self, (np.broadcast_to(np.int64(0), (self.n,)), np.ones((1, 1))))
        return self._whole

    def total_vcov(self, u):
        """Linearisation covariance of the totals ``sum_i w_i u[i, j]``.

        Residualises the weighted influence values for each calibration
        (oldest first), then applies the stratified multistage formula
        (:func:`ramlab.variance.row_psu_vcov` when each row is its own PSU).
        ``u`` may be :class:`ramlab.variance.Coded` values: summed per cell
        and code by the plan of the whole sample when the design allows
        (:meth:`whole_plan`), without the n x k matrix.
        Reference: R survey ``svyrecvar``.
        """
        if isinstance(u, Coded):
            plan = self.whole_plan()
            if plan.factored:
                return plan.total_vcov(u)
        u = as_columns(u, self.n)
        w = self.weights
        x = u * w[:, None]
        if not self.all_positive:
            x[w == 0] = 0.0
        if self.calibrations and self._prepared is None:
            refuse_rows_sent_to_0(self.calibrations)
            self._prepared = [prepare_residualise(cal) for cal in self.calibrations]
        for cal, prepared in zip(self.calibrations, self._prepared or ()):
            x = residualise(cal, x, prepared=prepared)
        if self.rows is None:
            scale = self.row_psu_scale
            if scale is not None:
                return row_psu_vcov(x, scale)
            return multistage_vcov(x, self.structure.stages, lonely_psu=self.lonely_psu)
        return multistage_vcov(x[self.rows], self.structure.stages, lonely_psu=self.lonely_psu,
                               rows=self.rows,
                               domain_lonely=getattr(self.structure, "lonely_psu_domain", None) == "adjust")
