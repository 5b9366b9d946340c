"""pytest configuration shared by the suite: hypothesis profiles.

Property-based tests (tests/test_properties.py) run under one of three
profiles, chosen by ``HYPOTHESIS_PROFILE``, else ``ci`` when ``CI`` is set
(``.ci/run`` sets ``CI=true``), else ``dev``:

* ``ci``: few examples, derandomised (the same examples on every run, so CI
  never fails on a draw it did not make before), under a minute in all;
* ``dev``: the default locally, a few more random examples;
* ``long``: on demand (``HYPOTHESIS_PROFILE=long make test`` or
  ``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_properties.py``),
  many examples, for hunting.
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the test extra is not installed: test_properties.py skips
    settings = None

if settings is not None:
    _common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.register_profile("ci", max_examples=40, derandomize=True, print_blob=True, **_common)
    settings.register_profile("dev", max_examples=60, **_common)
    settings.register_profile("long", max_examples=1000, **_common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
