"""The replicate benchmark runs end to end at a small size and prints its figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_replicate.py"


def test_benchmark_runs_small(capsys):
    spec = importlib.util.spec_from_file_location("bench_replicate", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figures = mod.main(["--n", "20000", "--replicates", "8", "--no-r"])
    out = capsys.readouterr().out
    assert "n = 20,000 rows x 8 bootstrap replicates" in out
    assert {"linearised_s", "replicate_s", "ratio", "memory_ratio"} <= set(figures)
    # tracemalloc counts allocations, not time: the raking of the replicates
    # needs less than the replicate matrix beyond its own output
    assert figures["memory_ratio"] < 1
    assert all(np.isfinite(v) and v >= 0 for v in figures.values())
