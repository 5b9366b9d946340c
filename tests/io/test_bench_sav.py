"""The read_sav benchmark runs end to end at a small size and prints its figures."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sav.py"


def test_benchmark_runs_small(capsys):
    spec = importlib.util.spec_from_file_location("bench_sav", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figures = mod.main(["--small"])
    out = capsys.readouterr().out
    for key in ("pyreadstat.read_sav", "ramlab.read_sav", "time ratio", "max RSS", "tracemalloc"):
        assert key in out
    assert set(figures) == {"pyreadstat_s", "read_sav_s", "time_ratio", "rss_ratio", "tracemalloc_ratio"}
    assert all(v > 0 for k, v in figures.items() if k != "rss_ratio")
    # At 2,000 rows the growth of the resident set may be below one page: only its form is checked.
    assert isinstance(figures["rss_ratio"], float) and not math.isinf(figures["rss_ratio"])
