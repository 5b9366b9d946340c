"""Weighting: raking, calibration, post-stratification, trimming, weight diagnostics.

Users call the design's methods (:meth:`ramlab.Design.rake`, ``calibrate``,
``poststratify``, ``trim``); each calls the function here of the same name
plus ``_weights``, which returns a :class:`Reweighting` (new weights and a
:class:`ramlab.variance.Calibration` record) that the design applies.

Where to look: ``_weighting.py`` (R ``rake``, ``calibrate``/``grake``,
``postStratify``, ``trimWeights``; Kalton & Flores-Cervantes 2003);
tests in ``tests/weighting/test_weighting.py`` (against R and the textbook
weights) and ``tests/test_weighting_every_survey.py``.
"""

from ramlab.variance import Calibration
from ramlab.weighting._weighting import (
    Reweighting,
    calibrate_weights,
    poststratify_weights,
    rake_weights,
    trim_weights,
    weight_summary,
)

__all__ = [
    "Calibration", "Reweighting", "calibrate_weights", "poststratify_weights", "rake_weights",
    "trim_weights", "weight_summary",
]
