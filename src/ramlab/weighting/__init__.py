"""Weighting: raking, calibration, post-stratification, trimming, weight diagnostics."""

from ramlab.weighting._weighting import Calibration, calibrate, poststratify, rake, trim, weight_summary

__all__ = ["Calibration", "calibrate", "poststratify", "rake", "trim", "weight_summary"]
