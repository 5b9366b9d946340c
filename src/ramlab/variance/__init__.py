"""The variance engine: linearisation of design-based estimators in one place.

Where to look:

- ``_engine.py``: :class:`VarianceEstimator`, the interface every design class's
  engine implements (the seam between R's ``survey.design2`` and
  ``svyrep.design`` methods), and :class:`Linearisation`, R ``svyrecvar``;
- ``_multistage.py``: :func:`multistage_vcov`, the stratified multistage
  formula with finite population corrections and the lonely-PSU options
  (R ``multistage``, ``onestage``, ``onestrat``);
- ``_calibration.py``: :class:`Calibration` (the record weighting returns) and
  :func:`residualise`, the calibration step (R ``svyrecvar`` with
  ``greg_calibration``, Deville & Sarndal 1992);
- ``_domains.py``: :class:`DomainPlan`, the covariance of totals crossed with
  many domains (banner columns) without the wide matrix;
- ``_replicates.py``: :class:`ReplicateVariance`, the replicate-weight engine
  (R ``svrVar``), and the replicate weights R makes (``jk1weights``,
  ``jknweights``, ``brrweights``); tests in ``tests/design/test_replicate.py``;
- ``_hadamard.py``: :func:`hadamard`, R's Hadamard matrices for BRR and Fay
  (R ``hadamard``, ``paley`` and its stored matrices);
- ``_linalg.py``: shared pure helpers (:func:`pinv_sym`, :func:`rowsum`, ...).

Tests: ``tests/design/`` (``test_design.py`` against R svymean/svytotal on the
lonely-PSU, fpc and multistage designs; ``test_domain_vcov.py`` for the domain
plan); ``tests/weighting/`` for the calibration step.
"""

from ramlab.variance._calibration import (
    Calibration,
    CalibrationModel,
    CellIndicators,
    cells_from_codes,
    residualise,
)
from ramlab.variance._domains import Coded, DomainPlan
from ramlab.variance._engine import Linearisation, VarianceEstimator
from ramlab.variance._hadamard import hadamard
from ramlab.variance._linalg import dense_codes, group_rows, pinv_sym, qr_rank, rowsum
from ramlab.variance._multistage import (
    LONELY_PSU_OPTIONS,
    Stage,
    multistage_vcov,
    row_psu_scale,
    row_psu_vcov,
)
from ramlab.variance._replicates import (
    REPLICATE_TYPES,
    ReplicateVariance,
    brr_factors,
    jk1_weights,
    jkn_weights,
    replicate_scales,
    replicate_vcov,
)

__all__ = [
    "LONELY_PSU_OPTIONS", "REPLICATE_TYPES", "Calibration", "CalibrationModel", "CellIndicators",
    "Coded", "DomainPlan", "Linearisation", "ReplicateVariance", "Stage", "VarianceEstimator",
    "brr_factors", "cells_from_codes", "dense_codes", "group_rows", "hadamard", "jk1_weights",
    "jkn_weights", "multistage_vcov", "pinv_sym", "qr_rank", "replicate_scales", "replicate_vcov",
    "residualise", "row_psu_scale", "row_psu_vcov", "rowsum",
]
