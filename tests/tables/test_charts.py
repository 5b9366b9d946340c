"""Tests of ramlab.tables.charts: figures, house style, labels, synthetic mark, PNG export."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from ramlab import TableError, charts  # noqa: E402
from ramlab.design import Design  # noqa: E402
from ramlab.io.spec import Base, Question  # noqa: E402
from ramlab.tables import crosstab, trend  # noqa: E402


@pytest.fixture
def figures():
    """Collect the figures a test makes and close them afterwards."""
    made = []
    yield made
    import matplotlib.pyplot as plt

    for fig in made:
        plt.close(fig)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n = 300
    cats = ["Oui, tout à fait", "Oui, plutôt", "Non, plutôt pas", "Coûte 5$ à 10$"]
    df = pd.DataFrame({
        "q": pd.Categorical.from_codes(rng.integers(0, 4, n), cats),
        "g1": pd.Categorical.from_codes(rng.integers(0, 3, n), ["Oui", "Non", "Peut-être"]),
        "g2": pd.Categorical.from_codes(rng.integers(0, 3, n), ["Oui", "Non", "Peut-être"]),
        "taille": pd.Categorical.from_codes(rng.integers(0, 2, n), ["Petite", "Grande $$"]),
        "w": rng.uniform(0.5, 2.0, n),
    })
    df.attrs["synthetic"] = True
    return df


def _spec():
    q = Question(id="grille", text="Grille à $2 items$", type="grid", columns=("g1", "g2"),
                 item_labels={"g1": "Premier $item", "g2": "Second"},
                 categories=["Oui", "Non", "Peut-être"])
    return SimpleNamespace(questions={"grille": q}, bases={"ensemble": Base("ensemble", "Ensemble")},
                           study={"unit": "associations", "source": "Source : test $"})


def _texts(fig):
    fig.canvas.draw()
    out = list(fig.texts)
    for ax in fig.axes:
        out += [ax.title, ax._left_title, *ax.texts, *ax.get_yticklabels(), *ax.get_xticklabels()]
        leg = ax.get_legend()
        if leg is not None:
            out += list(leg.get_texts())
    return [t for t in out if t.get_text()]


def _assert_no_math(fig):
    for t in _texts(fig):
        shown, is_math = t._preprocess_math(t.get_text())
        assert not is_math, t.get_text()
        assert not t.get_usetex()


def test_bars_has_percent_labels_base_source_and_mark(data, figures):
    t = crosstab(Design(data, weights="w"), "q", "taille", chisq=False, source="Source : test $")
    fig = charts.bars(t, title="Coût de 5$ à 10$")
    figures.append(fig)
    assert isinstance(fig, Figure)
    # one bar per answer, its length the total column's percentage, labelled with it
    answers = (t.kinds.xs("q", level="question") == "category").to_numpy()
    expected = 100 * t.frame.xs("q", level="question").iloc[:, 0].to_numpy(dtype=float)[answers]
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_width() for b in bars], expected, rtol=1e-12)
    w = data["w"].to_numpy()
    direct = [100 * w[(data["q"] == c).to_numpy()].sum() / w.sum() for c in data["q"].cat.categories]
    np.testing.assert_allclose(expected, direct, rtol=1e-12)  # the table is the weighted share
    texts = [x.get_text() for x in _texts(fig)]
    from ramlab.format import fmt_pct

    for v in expected:
        assert fmt_pct(v / 100) in texts
    assert any(s.endswith("\u202f%") for s in texts)
    footer = [s for s in texts if s.startswith("Base : Ensemble")]
    assert footer and "Source : test" in footer[0]
    assert charts.SYNTHETIC_MARK in texts
    _assert_no_math(fig)
    # the $ shows literally
    title = fig.axes[0]._left_title
    assert title._preprocess_math(title.get_text())[0] == "Coût de 5$ à 10$"


def test_stacked_grid_and_error_for_other_types(data, figures):
    d = Design(data, weights="w")
    t = crosstab(d, "grille", spec=_spec(), chisq=False)
    fig = charts.stacked(t)
    figures.append(fig)
    ax = fig.axes[0]
    widths = np.array([p.get_width() for p in ax.patches]).reshape(3, 2)  # answers x items
    np.testing.assert_allclose(widths.sum(axis=0), 100.0)
    _assert_no_math(fig)
    with pytest.raises(TableError):
        charts.stacked(crosstab(d, "q", chisq=False))


def test_grouped_banner_and_lines_trend(data, figures):
    d = Design(data, weights="w")
    t = crosstab(d, "q", "taille", chisq=False)
    fig = charts.grouped(t)
    figures.append(fig)
    # the drawn bars are the table's column percentages: one container per
    # column (total first), one bar per answer, in the table's order
    ax = fig.axes[0]
    cols = [t.frame.columns[0]] + [c for c in t.frame.columns if c[0] == "taille"]
    answers = (t.kinds.xs("q", level="question") == "category").to_numpy()
    expected = 100 * t.frame.xs("q", level="question")[cols].to_numpy(dtype=float)[answers]
    assert len(ax.containers) == len(cols) == 3
    for j, container in enumerate(ax.containers):
        widths = [bar.get_width() for bar in container]
        np.testing.assert_allclose(widths, expected[:, j], rtol=1e-12)
    assert expected.shape == (4, 3)
    _assert_no_math(fig)
    tr = trend({2019: d, 2021: Design(data, weights=None)}, "q")
    fig2 = charts.lines(tr)
    figures.append(fig2)
    assert len(fig2.axes[0].lines) == 4
    _assert_no_math(fig2)
    with pytest.raises(TableError):
        charts.lines(t)


def test_palette_is_the_okabe_ito_set():
    assert charts.PALETTE[:3] == ["#0072B2", "#E69F00", "#009E73"]


def test_save_png_with_synthetic_mark(data, tmp_path, figures):
    d = Design(data, weights="w")
    data_real = data.copy()
    data_real.attrs["synthetic"] = False
    t = crosstab(Design(data_real, weights="w"), "q", chisq=False)
    fig = charts.bars(t)
    figures.append(fig)
    assert charts.SYNTHETIC_MARK not in [x.get_text() for x in fig.texts]
    path = charts.save(fig, tmp_path / "a.png", synthetic=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert charts.SYNTHETIC_MARK in [x.get_text() for x in fig.texts]
    # saving twice gives the same bytes (no timestamp in the PNG)
    charts.save(fig, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    fig2 = charts.bars(crosstab(d, "q", chisq=False))
    figures.append(fig2)
    assert [x.get_text() for x in fig2.texts].count(charts.SYNTHETIC_MARK) == 1
