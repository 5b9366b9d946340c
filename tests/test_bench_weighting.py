"""The weighting benchmark runs end to end at a small size and prints its figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_weighting.py"


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
    assert all(v > 0 for v in figures.values())
