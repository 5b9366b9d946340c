"""Tests of ramlab.tables.charts: drawn values equal the table's, bases, alt text, SVG, house style."""

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
        plt.close(getattr(fig, "figure", fig))


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


def _scale_data(rng, n=400):
    cats = ["Oui, tout à fait", "Oui, plutôt", "Non, plutôt pas", "Non, pas du tout", "Ne sait pas"]
    df = pd.DataFrame({
        "q": pd.Categorical.from_codes(rng.choice(5, n, p=[.35, .4, .12, .05, .08]), cats),
        "g": pd.Categorical.from_codes(rng.integers(0, 9, n), [f"Région {c}" for c in "ABCDEFGHI"]),
        "w": rng.uniform(0.5, 2.0, n),
    })
    df.attrs["synthetic"] = True
    return df


def _scale_spec():
    q = Question(id="q", text="Diriez-vous <b>que</b>… ?", type="scale", columns=("q",),
                 categories=["Oui, tout à fait", "Oui, plutôt", "Non, plutôt pas", "Non, pas du tout",
                             "Ne sait pas"],
                 missing=["Ne sait pas"],
                 nets={"Total Oui": ["Oui, tout à fait", "Oui, plutôt"],
                       "Total Non": ["Non, plutôt pas", "Non, pas du tout"]})
    return SimpleNamespace(questions={"q": q}, bases={"ensemble": Base("ensemble", "Ensemble")},
                           study={"unit": "associations", "source": "Source : test"})


def _footer(fig):
    return "\n".join(t.get_text() for t in fig.texts)


def _sizes(fig):
    return [t.get_fontsize() for t in _texts(fig)]


def test_bars_draw_the_table_answers_not_its_nets(data, figures):
    t = crosstab(Design(data, weights="w"), "q", "taille", chisq=False, source="Source : test $")
    chart = charts.bars(t, title="Coût de 5$ à 10$")
    figures.append(chart)
    fig = chart.figure
    assert isinstance(fig, Figure)
    answers = (t.kinds.xs("q", level="question") == "category").to_numpy()
    expected = 100 * t.frame.xs("q", level="question").iloc[:, 0].to_numpy(dtype=float)[answers]
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_width() for b in bars], expected, rtol=1e-12)
    np.testing.assert_allclose(chart.values.to_numpy() * 100, expected, rtol=1e-12)
    w = data["w"].to_numpy()
    direct = [100 * w[(data["q"] == c).to_numpy()].sum() / w.sum() for c in data["q"].cat.categories]
    np.testing.assert_allclose(expected, direct, rtol=1e-12)  # the table is the weighted share
    texts = [x.get_text() for x in _texts(fig)]
    from ramlab.format import fmt_pct

    for v in expected:
        assert fmt_pct(v / 100) in texts
    assert "Base : Ensemble (" in _footer(fig) and "Source : test" in _footer(fig)
    assert charts.SYNTHETIC_MARK in texts
    assert min(_sizes(fig)) >= charts.MIN_POINTS
    _assert_no_math(fig)
    assert any(x._preprocess_math(x.get_text())[0] == "Coût de 5$ à 10$" for x in fig.texts)
    # the alt text says what is shown, with its figures
    assert chart.alt.startswith("Graphique en barres : Coût de 5$ à 10$.")
    assert all(fmt_pct(v / 100) in chart.alt for v in expected)


def test_diverging_scale_one_bar_nets_as_labels_base_without_dont_know(figures):
    data = _scale_data(np.random.default_rng(3))
    t = crosstab(Design(data, weights="w"), "q", spec=_scale_spec(), chisq=False)
    chart = charts.auto(t)
    figures.append(chart)
    assert chart.kind == "diverging"
    sub = t.frame.xs("q", level="question").iloc[:, 0]
    kinds = t.kinds.xs("q", level="question")
    cats = sub[(kinds == "category").to_numpy()]
    widths = sorted(abs(p.get_width()) for p in chart.figure.axes[0].patches)
    # four bars (not six: the nets are not drawn), adding to 100 % of the base
    assert len(widths) == 4
    np.testing.assert_allclose(sum(widths), 100.0, rtol=1e-12)
    np.testing.assert_allclose(widths, sorted(100 * cats.to_numpy(dtype=float)), rtol=1e-12)
    from ramlab.format import fmt_int, fmt_pct

    labels = [x.get_text() for x in chart.figure.axes[0].texts]
    for net in ("Total Oui", "Total Non"):
        value = float(sub[("", net)])
        assert f"{net}\n{fmt_pct(value)}" in labels
        assert f"{net} {fmt_pct(value)}" in chart.alt
    # the footer's base is the base of the percentages, "Ne sait pas" set aside
    w = data["w"].to_numpy()
    answered = w[(data["q"] != "Ne sait pas").to_numpy()].sum()
    assert float(sub[("", "Base pondérée")]) == pytest.approx(answered, rel=1e-12)
    assert fmt_int(answered) in _footer(chart.figure)
    assert fmt_int(w.sum()) not in _footer(chart.figure)
    assert min(_sizes(chart.figure)) >= charts.MIN_POINTS


def test_no_chart_for_a_two_answer_question(figures):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"oui": pd.Categorical.from_codes(rng.integers(0, 2, 200), ["Oui", "Non"]),
                       "w": rng.uniform(1, 2, 200)})
    assert charts.auto(crosstab(Design(df, weights="w"), "oui", chisq=False)) is None


def test_stacked_grid_and_error_for_other_types(data, figures):
    d = Design(data, weights="w")
    t = crosstab(d, "grille", spec=_spec(), chisq=False)
    chart = charts.stacked(t)
    figures.append(chart)
    ax = chart.figure.axes[0]
    widths = np.array([p.get_width() for p in ax.patches]).reshape(3, 2)  # answers x items
    np.testing.assert_allclose(widths.sum(axis=0), 100.0)
    grid = t.items_by_answers("grille")[["Oui", "Non", "Peut-être"]].to_numpy(dtype=float)
    np.testing.assert_allclose(widths.T, 100 * grid, rtol=1e-12)
    _assert_no_math(chart.figure)
    with pytest.raises(TableError):
        charts.stacked(crosstab(d, "q", chisq=False))


def test_breakdown_dot_plot_sorted_with_logit_intervals_and_significance(figures):
    data = _scale_data(np.random.default_rng(5), n=900)
    data.loc[data["g"] == "Région A", "q"] = "Oui, tout à fait"  # one group far above the rest
    t = crosstab(Design(data, weights="w"), "q", "g", spec=_scale_spec(), chisq=False)
    chart = charts.auto(t, variable="g")
    figures.append(chart)
    assert chart.kind == "dots"
    row = t.frame.loc[("q", "", "Total Oui")]
    groups = [c for c in t.frame.columns if c[0] == "g"]
    expected = row[groups].astype(float).sort_values(ascending=False, kind="stable")
    # drawn values are the table's, sorted; one dot per group, none hidden here
    np.testing.assert_allclose(chart.values.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert list(chart.values.index) == [c[1] for c in expected.index]
    from matplotlib.collections import PathCollection

    drawn = np.concatenate([c.get_offsets()[:, 0] for c in chart.figure.axes[0].collections
                            if isinstance(c, PathCollection)])
    np.testing.assert_allclose(np.sort(drawn), np.sort(100 * expected.to_numpy()), rtol=1e-12)
    # intervals inside [0, 1] even for a group at 100 %
    assert (chart.intervals["low"] >= 0).all() and (chart.intervals["high"] <= 1).all()
    assert chart.intervals.loc["Région A", "high"] == 1.0
    assert bool(chart.significant["Région A"])
    assert "Région A 100\u202f% (significatif)" in chart.alt
    # groups under low_base respondents say "base faible", as the tables do
    counts = t.frame.loc[("q", "", "Base brute (effectif)")][groups]
    few = t.options.min_base <= counts.min() < 200
    assert few  # ~100 respondents per group here
    low = charts.dots(t, variable="g", low_base=200)
    figures.append(low)
    assert low.alt.count("(base faible)") == len(groups)
    assert "Base faible : groupe de moins de 200 répondants" in _footer(low.figure)
    assert "(base faible)" not in chart.alt


def test_logit_interval_matches_r_svyciprop():
    import json
    from pathlib import Path

    cases = json.loads((Path(__file__).resolve().parents[1] / "fixtures/r/ciprop.json").read_text())
    checked = 0
    for case in cases["cases"]:
        result = case["result"]
        if case["method"] != "logit" or result.get("error"):
            continue
        low, high = charts.logit_interval(result["estimate"], result["se"], result["df"],
                                          level=case["level"])
        assert float(low) == pytest.approx(result["ci_low"], abs=1e-9), case["id"]
        assert float(high) == pytest.approx(result["ci_high"], abs=1e-9), case["id"]
        checked += 1
    assert checked >= 10


def test_trend_slope_chart_values_significance_and_no_overlap(data, figures):
    d = Design(data, weights="w")
    tr = trend({2019: d, 2021: Design(data, weights=None)}, "q")
    chart = charts.lines(tr)
    figures.append(chart)
    ax = chart.figure.axes[0]
    years = [c for c in tr.frame.columns if c[0] == "Année"]
    sub = tr.frame.xs("q", level="question")[years]
    kinds = tr.kinds.xs("q", level="question")
    shown = sub[(kinds == "category").to_numpy()]
    assert len(ax.lines) >= len(shown)
    drawn = np.array([line.get_ydata() for line in ax.lines[: len(shown)]], dtype=float)
    np.testing.assert_allclose(drawn, 100 * shown.to_numpy(dtype=float), rtol=1e-12)
    # end labels never overlap
    renderer = chart.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if "(" in t.get_text()]
    assert len(boxes) == len(shown)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    assert "n.s." in chart.alt or "*" in chart.alt
    _assert_no_math(chart.figure)
    with pytest.raises(TableError):
        charts.lines(crosstab(d, "q", "taille", chisq=False))


def test_svg_is_deterministic_and_embedded_as_an_img_with_alt(data, figures):
    t = crosstab(Design(data, weights="w"), "q", chisq=False)
    a, b = charts.bars(t), charts.bars(t)
    figures.extend([a, b])
    svg = a.to_svg()
    assert svg == b.to_svg()
    assert "<dc:date>" not in svg
    html = a.to_html()
    assert html.count("<img ") == 1 and 'src="data:image/svg+xml;base64,' in html
    assert 'alt="Graphique en barres : ' in html
    assert 'alt="Graphique"' not in html


def test_svg_with_shared_text_paths_is_matplotlibs_own_encoding(data, figures):
    # to_svg keeps text layouts and glyph outlines across figures; the bytes must be
    # those of a plain matplotlib encoding, whatever was drawn before (other texts
    # and glyphs, the same chart again, a "$" escaped label)
    import io

    d = Design(data, weights="w")
    made = [charts.bars(crosstab(d, "q", chisq=False)),
            charts.auto(crosstab(d, "q", "taille", chisq=False), variable="taille"),
            charts.bars(crosstab(d, "q", chisq=False), title="Coût de 5$ à 10$ : œ, €, ≥")]
    figures.extend(c for c in made if c is not None)
    for chart in (c for c in made if c is not None):
        plain = io.StringIO()
        with charts.house_style():
            chart.figure.savefig(plain, format="svg", metadata={"Date": None}, facecolor="white")
        assert chart.to_svg() == plain.getvalue()


def test_palette_is_the_okabe_ito_set():
    assert charts.PALETTE[:3] == ["#0072B2", "#E69F00", "#009E73"]


def test_save_png_with_synthetic_mark(data, tmp_path, figures):
    d = Design(data, weights="w")
    data_real = data.copy()
    data_real.attrs["synthetic"] = False
    t = crosstab(Design(data_real, weights="w"), "q", chisq=False)
    chart = charts.bars(t)
    figures.append(chart)
    fig = chart.figure
    assert charts.SYNTHETIC_MARK not in [x.get_text() for x in fig.texts]
    path = charts.save(chart, tmp_path / "a.png", synthetic=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert charts.SYNTHETIC_MARK in [x.get_text() for x in fig.texts]
    # saving twice gives the same bytes (no timestamp in the PNG)
    charts.save(chart, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    charts.save(chart, tmp_path / "c.svg")
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    fig2 = charts.bars(crosstab(d, "q", chisq=False)).figure
    figures.append(fig2)
    assert [x.get_text() for x in fig2.texts].count(charts.SYNTHETIC_MARK) == 1


def test_stacked_does_not_silently_drop_a_breakdown(data):
    # issue 12, item 8: charts.stacked(crosstab(s, "q8", "taille")) drew the total only
    t = crosstab(Design(data, weights="w"), "grille", "taille", spec=_spec(), chisq=False)
    with pytest.raises(TableError, match="broken down by 'taille'.*grouped"):
        charts.stacked(t)


def _grid_years(items=7, seed=11):
    """Two years of a yes/no grid of ``items`` items, and its spec."""
    rng = np.random.default_rng(seed)
    cols = [f"g{i}" for i in range(1, items + 1)]
    q = Question(id="grille", text="Une grille de beaucoup d'items", type="grid", columns=tuple(cols),
                 item_labels={c: f"Item numéro {i}" for i, c in enumerate(cols, 1)},
                 categories=["Oui", "Non"])
    spec = SimpleNamespace(questions={"grille": q}, bases={"ensemble": Base("ensemble", "Ensemble")},
                           study={"unit": "associations", "source": "Source : test"})
    years = {}
    for year, shift in ((2015, 0.0), (2021, 0.15)):
        n = 250
        df = pd.DataFrame({c: pd.Categorical.from_codes(
            (rng.uniform(size=n) > 0.2 + 0.07 * i + shift).astype(int), ["Oui", "Non"])
            for i, c in enumerate(cols)})
        df["w"] = rng.uniform(0.5, 2.0, n)
        years[year] = Design(df, weights="w")
    return years, spec


@pytest.mark.parametrize("max_series", [4, 3])
def test_trend_chart_of_a_grid_of_many_items_is_faceted(figures, max_series):
    years, spec = _grid_years(items=7)
    tr = trend(years, "grille", specs={2015: spec, 2021: spec})
    chart = charts.lines(tr, rows=["Oui"], max_series=max_series)
    figures.append(chart)
    panels = chart.figure.axes
    assert len(panels) == -(-7 // max_series)  # 7 items: 2 panels of 4 and 3, or 3 of 3, 2, 2
    series = [[line for line in ax.lines if line.get_gid() == "ramlab-series"] for ax in panels]
    assert all(1 <= len(s) <= max_series for s in series)
    assert sum(len(s) for s in series) == 7
    # the drawn values are the table's, item by item, in the table's order
    years_cols = [("Année", "2015"), ("Année", "2021")]
    table = tr.frame.xs("grille", level="question")
    table = table[table.index.get_level_values("row") == "Oui"][years_cols]
    drawn = np.array([line.get_ydata() for s in series for line in s], dtype=float)
    np.testing.assert_allclose(drawn, 100 * table.to_numpy(dtype=float), rtol=1e-12)
    # every panel on the whole 0-100 % scale; no legend, the title above the first panel
    assert all(ax.get_ylim() == (0, 100) for ax in panels)
    assert all(ax.get_legend() is None for ax in panels)
    renderer = chart.figure.canvas.get_renderer()
    title = next(t for t in chart.figure.texts if t.get_text().startswith("Une grille"))
    top = max(ax.get_tightbbox(renderer).y1 for ax in panels)
    assert title.get_window_extent(renderer).y0 >= top - 1
    # no two panels overlap, nor two end labels of one panel
    boxes = [ax.get_position() for ax in panels]
    for a, b in zip(boxes, boxes[1:]):
        assert b.y1 <= a.y0
    for ax in panels:
        ends = [t.get_window_extent(renderer) for t in ax.texts if "(" in t.get_text()]
        for i, a in enumerate(ends):
            for b in ends[i + 1:]:
                assert not a.overlaps(b), (a, b)
    assert all(f"Item numéro {i}" in chart.alt for i in range(1, 8))
    _assert_no_math(chart.figure)


def test_trend_chart_of_few_series_is_one_panel(data, figures):
    tr = trend({2019: Design(data, weights="w"), 2021: Design(data, weights=None)}, "q")
    chart = charts.lines(tr)
    figures.append(chart)
    assert len(chart.figure.axes) == 1
    with pytest.raises(TableError, match="max_series"):
        charts.lines(tr, max_series=0)


def test_compared_draws_each_groups_figure_with_its_letters(data, figures):
    t = crosstab(Design(data, weights="w"), "q", "taille", min_base=0, chisq=False)
    rows = [("", "Oui, tout à fait"), ("", "Oui, plutôt")]
    chart = charts.compared(t, variable="taille", rows=rows, footer=["Base : deux groupes"])
    figures.append(chart)
    ax = chart.figure.axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "ramlab-bar"]
    expected = 100 * t.frame.loc[[("q", *r) for r in rows],
                                 [("taille", "Petite"), ("taille", "Grande $$")]].to_numpy(dtype=float)
    np.testing.assert_allclose([b.get_width() for b in bars], expected.ravel(), rtol=1e-12)
    np.testing.assert_allclose(chart.values.to_numpy(), expected.ravel() / 100, rtol=1e-12)
    texts = [x.get_text() for x in ax.texts]
    # each group named with the letter its significance marks refer to
    assert "Petite (A)" in texts and "Grande \\$\\$ (B)" in texts
    assert "Comparaison des populations" in chart.alt and "Base : deux groupes" in chart.alt
    with pytest.raises(TableError, match="not rows"):
        charts.compared(t, variable="taille", rows=[("", "Absente")])
    with pytest.raises(TableError, match="no column"):
        charts.compared(t, variable="région", rows=rows)
    _assert_no_math(chart.figure)


def test_trend_chart_of_a_question_not_comparable_claims_no_change(data, figures):
    from dataclasses import replace

    tr = trend({2019: Design(data, weights="w"), 2021: Design(data, weights=None)}, "q")
    changes = [c for c in tr.frame.columns if c[0] == "Évolution"]
    frame = tr.frame.copy()
    frame.loc[:, changes] = np.nan  # as the trends report empties a question not comparable
    chart = charts.lines(replace(tr, frame=frame))
    figures.append(chart)
    ends = [t.get_text() for t in chart.figure.axes[0].texts if "\u202f%" in t.get_text()]
    assert ends and not any("()" in t or "n.s." in t for t in ends)
    footer = " ".join(t.get_text() for t in chart.figure.texts)
    assert "pas comparable" in footer and "Trait plein" not in footer


def test_trend_chart_of_a_grid_with_several_answers_has_a_panel_per_item(figures):
    years, spec = _grid_years(items=3)
    tr = trend(years, "grille", specs={2015: spec, 2021: spec})
    chart = charts.lines(tr, max_series=2)  # 3 items x 2 answers
    figures.append(chart)
    panels = chart.figure.axes
    assert [ax.get_title(loc="left") for ax in panels] == [f"Item numéro {i}" for i in (1, 2, 3)]
    for i, ax in enumerate(panels, 1):
        series = [line for line in ax.lines if line.get_gid() == "ramlab-series"]
        assert len(series) == 2
        rows = tr.frame.loc[("grille", f"Item numéro {i}")][[("Année", "2015"), ("Année", "2021")]]
        np.testing.assert_allclose([line.get_ydata() for line in series],
                                   100 * rows.loc[["Oui", "Non"]].to_numpy(dtype=float), rtol=1e-12)
        # each line named by its answer, its item being the panel's heading
        ends = [t.get_text() for t in ax.texts if "(" in t.get_text()]
        assert any(" Oui (" in t for t in ends) and any(" Non (" in t for t in ends)
    renderer = chart.figure.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in panels]
    for a, b in zip(boxes, boxes[1:]):
        assert b.y1 <= a.y0 + 1  # headings and panels do not overlap
