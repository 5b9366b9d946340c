"""Standard errors after raking pinned to 1e-12 against the snapshot taken before the
speed work of issue 14 (tests/fixtures/snapshots/make_se_snapshot.py).

The R references (tests/fixtures/r/) check these estimators to 1e-6; this guard is
tighter, so that a faster variance path cannot change the figures unnoticed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SNAPSHOTS = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots"
EXPECTED = json.loads((SNAPSHOTS / "se_after_raking.json").read_text())


def _maker():
    spec = importlib.util.spec_from_file_location("make_se_snapshot", SNAPSHOTS / "make_se_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def computed():
    return _maker().compute()


def test_snapshot_covers_every_case(computed):
    assert sorted(computed) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_se_unchanged(computed, case):
    got, want = computed[case], EXPECTED[case]
    np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["se"], want["se"], rtol=1e-12, atol=0)
