"""The weighting benchmark runs end to end at a small size and prints its figures."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_weighting.py"


def test_benchmark_runs_small(capsys):
    spec = importlib.util.spec_from_file_location("bench_weighting", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figures = mod.main(["--n", "20000", "--repeat", "2"])
    out = capsys.readouterr().out
    for key in ("baseline", "rake", "calibrate linear", "calibrate logit", "SE of a mean", "peak memory"):
        assert key in out
    assert set(figures) == {"baseline_s", "rake_ratio", "linear_s", "logit_s", "linear_numeric_s",
                            "logit_numeric_s", "se_s", "memory_ratio"}
    # What a small run can check without timing noise: the raking it times really
    # reaches its tolerance, and its memory stays within the target (< 10 x the
    # input columns; tracemalloc counts allocations, not time, so this is stable).
    assert "n = 20,000 rows" in out
    err = float(re.search(r"max relative margin error ([0-9.e+-]+)\)", out)[1])
    assert err <= 1e-10
    assert figures["memory_ratio"] < 10
    se = float(re.search(r"\(se = ([0-9.e+-]+)\)", out)[1])
    assert 0 < se < 1  # y has SD ~ 14 over 20,000 rows: an SE of the mean near 0.1
    assert all(np.isfinite(v) and v > 0 for v in figures.values())
