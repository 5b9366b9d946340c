"""The SE benchmark and its numpy floor run end to end at a small size."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_se.py"


def test_benchmark_runs_small_and_the_floor_computes_ramlabs_se(capsys):
    spec = importlib.util.spec_from_file_location("bench_se", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figures = mod.main(["--n", "20000", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "n = 20,000 rows" in out
    for line in ("mean of a numeric variable", "proportions of a 10-level factor", "peak memory"):
        assert re.search(rf"{line}.* x ", out), out
    # The floor is an independent numpy implementation of the same estimator (R
    # svyrecvar's calibration residuals): ramlab and it agree to rounding error.
    assert figures["numeric_difference"] < 1e-12
    assert figures["factor_difference"] < 1e-12
    assert all(np.isfinite(v) and v >= 0 for v in figures.values())
    assert figures["numeric_ratio"] > 0 and figures["factor_ratio"] > 0 and figures["memory_ratio"] > 0
