"""The report factory: parameterised notebooks executed with papermill, rendered with nbconvert.

Uses the statistics only through ramlab's public API.
"""
