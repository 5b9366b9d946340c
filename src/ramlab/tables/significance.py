"""Significance in banner tables: t tests of columns (letters), Rao-Scott tests, p-value adjustment.

The arithmetic (:func:`t_pvalue`, :func:`adjust_pvalues`, :func:`column_letters`)
is tested against closed forms and R's ``p.adjust`` without building a table.
:func:`significance_marks` compares the columns of one question from its joint
covariance, linearised or, on a replicate design, from the estimates
recomputed in every replicate (R: ``svyby(..., covmat = TRUE)`` then
``svycontrast``);
:func:`chisq_records` gives its Rao-Scott tests (R: ``svychisq``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ramlab.design import ChisqResult, chisq_from_totals
from ramlab.errors import WeightError

__all__ = ["t_pvalue", "adjust_pvalues", "column_letters", "ADJUST_METHODS"]

ADJUST_METHODS = (None, "bonferroni", "holm", "bh")
# Kinds of table rows that can carry significance marks.
TESTED = frozenset({"category", "missing", "net", "mean", "answers"})
# A Rao-Scott test of a weighted table with a negative cell (negative weights of an
# unbounded linear calibration): R's svychisq refuses it; the banner leaves it blank.
_NEGATIVE_CELL = ChisqResult(np.nan, (np.nan, np.nan), np.nan,
                             "not tested: a cell of the weighted table is negative (R refuses it)")


def t_pvalue(t, df):
    """Two-sided p-value of `t` on the t distribution with `df` degrees of freedom.

    As R's ``svyttest``: ``2 * pt(-abs(t), df)``. NaN where `t` is NaN (a
    contrast with zero standard error is not tested).
    """
    t = np.asarray(t, dtype=float)
    return 2.0 * stats.t.sf(np.abs(t), df)


def adjust_pvalues(p, method=None):
    """Adjust a vector of p-values for multiple comparisons, as R's ``p.adjust``.

    Parameters
    ----------
    p : array_like
        p-values; NaN entries are left NaN and not counted (R: ``n = sum(!is.na(p))``).
    method : {None, "bonferroni", "holm", "bh"}
        None returns `p` unchanged; "bh" is Benjamini-Hochberg (R "BH").

    Returns
    -------
    ndarray
        Adjusted p-values, capped at 1.
    """
    p = np.asarray(p, dtype=float)
    if method is None:
        return p.copy()
    if method not in ADJUST_METHODS:
        raise ValueError(f"adjust must be one of {ADJUST_METHODS}, not {method!r}")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    if method == "bonferroni":
        adj = np.minimum(1.0, q * m)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        steps = (m - np.arange(m)) * q[order]
        adj_sorted = np.minimum(1.0, np.maximum.accumulate(steps))
        adj = np.empty(m)
        adj[order] = adj_sorted
    else:  # Benjamini-Hochberg
        order = np.argsort(q, kind="stable")[::-1]
        ranks = np.arange(m, 0, -1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(m / ranks * q[order]))
        adj = np.empty(m)
        adj[order] = adj_sorted
    out[ok] = adj
    return out


def column_letters(count):
    """Letters naming banner columns: A, B, ..., Z, AA, AB, ... (upper case)."""
    letters = []
    for i in range(count):
        name = ""
        k = i
        while True:
            name = chr(ord("A") + k % 26) + name
            k = k // 26 - 1
            if k < 0:
                break
        letters.append(name)
    return letters
def banner_variables(columns):
    """Positions of the table columns of each banner variable, in order (total left out)."""
    variables = {}
    for c in range(1, len(columns)):
        variables.setdefault(columns[c].variable, []).append(c)
    return variables


def _comparisons(block, columns, est, gradients, n_unw, opts):
    """Every difference tested in one question, with its variance.

    Arrays, one value per test: estimate position, column, other column (-1
    for the complement), family (one row x one banner variable), difference,
    variance; in the order of rows, banner variables, then pairs of columns.
    """
    C = len(columns)
    complement = opts.versus == "complement"
    pairs = []
    for cols in banner_variables(columns).values():
        cols = np.asarray(cols)
        if complement:
            pairs.append((cols, np.full(cols.size, -1)))
        else:
            i, j = np.triu_indices(cols.size, 1)  # (0, 1), (0, 2), ... (1, 2), ...
            pairs.append((cols[i], cols[j]))
    out = []
    fam = 0
    for e, spec_e in enumerate(block.estimates):
        if spec_e.kind not in TESTED or e not in gradients:
            continue
        S, comp = gradients[e].S, gradients[e].complement
        ok_col = n_unw[spec_e.group] >= max(opts.min_base, 2)
        for a, b in pairs:
            if complement:
                a = a[ok_col[a] & ~np.isnan(comp[a])]
                r = C + a - 1
                diff, var = est[e, a] - comp[a], S[a, a] + S[r, r] - 2 * S[a, r]
                b = np.full(a.size, -1)
            else:
                keep = ok_col[a] & ok_col[b]
                a, b = a[keep], b[keep]
                diff, var = est[e, a] - est[e, b], S[a, a] + S[b, b] - 2 * S[a, b]
            out.append((np.full(a.size, e), a, b, np.full(a.size, fam), diff, var))
            fam += 1
    if not out:
        return None
    return tuple(np.concatenate(part) for part in zip(*out))


def significance_marks(block, columns, est, gradients, n_unw, opts):
    """Significance marks and the long table of tests of one question.

    For every tested row and banner variable: the difference of two column
    estimates (``versus="columns"``) or of a column and the rest of the base
    (``versus="complement"``), its SE from the joint covariance (linearised, or
the replicates' on a replicate design),
    ``t = d / se`` and a two-sided p-value on t with the design's df, adjusted
    over the comparisons of that row and variable. Columns whose unweighted
    base is under ``min_base`` (or under 2) are not tested, nor is a
    difference whose SE is 0: under 1e-6 of the estimates' size, the delta
    method's rounding where the exact SE is 0 (R's ``svycontrast`` gives 0),
    reported as 0.

    Returns
    -------
    marks : ndarray of str, (estimates, columns)
    records : dict of arrays or None
        The tests (columns of ``Table.tests``); None when nothing is tested.
    """
    C = len(columns)
    marks = np.full((len(block.estimates), C), "", dtype=object)
    if not opts.letters or opts.cells != "column%" or C == 1:
        return marks, None
    comps = _comparisons(block, columns, est, gradients, n_unw, opts)
    if comps is None or comps[0].size == 0:
        return marks, None
    e_idx, c1, c2, family, diffs, var_d = comps
    diffs = diffs.astype(float)
    sds = np.sqrt(np.clip(var_d.astype(float), 0.0, None))
    # a zero SE (both 0 % or both 100 %, two columns of equal values) is not
    # a test. G V G' on the raw totals leaves rounding noise of order
    # sqrt(eps) |estimate| / sqrt(n) where the exact SE is 0 (R's residuals
    # x - mean are exactly 0): an SE under 1e-6 of the estimates' size is 0,
    # whatever the variable's unit (no absolute floor: means of 1e-5 have SEs
    # of 1e-7)
    est_a = est[e_idx, c1].astype(float)
    safe = sds > 1e-6 * np.maximum(np.abs(est_a), np.abs(est_a - diffs))
    sds[~safe] = 0.0
    t = np.full(diffs.shape, np.nan)
    t[safe] = diffs[safe] / sds[safe]
    p = t_pvalue(t, opts.df)
    p_adj = np.empty_like(p)
    for f in np.unique(family):
        sel = family == f
        p_adj[sel] = adjust_pvalues(p[sel], opts.adjust)
    mark_text = _place_marks(marks, (e_idx, c1, c2), columns, diffs, p_adj, opts.alpha)
    items = np.array([x.item for x in block.estimates], dtype=object)
    rows = np.array([x.label for x in block.estimates], dtype=object)
    col_var = np.array([c.variable for c in columns], dtype=object)
    col_lab = np.array([c.label for c in columns] + ["complement"], dtype=object)
    records = {
        "question": np.full(len(diffs), block.id, dtype=object),
        "item": items[e_idx],
        "row": rows[e_idx],
        "variable": col_var[c1],
        "column": col_lab[c1],
        "versus": col_lab[np.where(c2 >= 0, c2, len(columns))],
        "estimate": diffs,
        "se": sds,
        "t": t,
        "df": np.full(len(diffs), float(opts.df)),
        "p_value": p,
        "p_adjusted": p_adj,
        "mark": mark_text,
    }
    return marks, records


def _place_marks(marks, pairs, columns, diffs, p_adj, alpha):
    """Write the letters (or + / −) into `marks`; returns the mark of each test."""
    lo, hi = alpha
    strong = p_adj < hi
    sig = p_adj < lo  # NaN compares False
    mark_text = np.full(len(diffs), "", dtype=object)
    cell_marks = {}
    for k in np.flatnonzero(sig):
        e, a, b = (int(x[k]) for x in pairs)
        if b < 0:
            mark = ("++" if strong[k] else "+") if diffs[k] > 0 else ("−−" if strong[k] else "−")
            cell_marks.setdefault((e, a), []).append((0, mark))
        else:
            winner, loser = (a, b) if diffs[k] > 0 else (b, a)
            letter = columns[loser].letter
            mark = letter if strong[k] else letter.lower()
            cell_marks.setdefault((e, winner), []).append((loser, mark))
        mark_text[k] = mark
    for (e, c), items in cell_marks.items():
        marks[e, c] = "".join(m for _, m in sorted(items))
    return mark_text


def chisq_records(design, block, columns, w, opts, T=None, V=None, nonzero=None):
    """Rao-Scott tests (``Design.chisq``) of each question/item against each banner variable.

    Each test is R's ``svychisq(~row + col, subset(design, mask))``, the mask
    being the question's base without the rows whose banner group is not
    shown, and:

    * for a single-choice question or a grid item, ``row`` is the answer,
      and the mask leaves out the respondents whose answer is an excluded
      missing category ("Ne sait pas"). Rows with a true missing value (NaN)
      stay in the domain and the test leaves them out (its denominator df
      counts the PSUs of the whole sub-base);
    * for an item of a multi-response question (one column per item), the
      test is that of the percentage the table shows: ``row`` is "chosen"
      (the item's selected answer) against "not chosen", on the
      percentage's base, the question's respondents (those who answered at
      least one item; the estimate's ``b``). A respondent who left this
      item blank or answered an excluded missing code ("NSP") is "not
      chosen"; whatever the item's categories (Oui/Non/NSP), the test has
      two levels. R: ``svychisq(~chosen + col, subset(update(design, chosen
      = item %in% "Oui"), respondents))``.

    On a calibrated design the domain design keeps every row (R sets
    ``prob = Inf`` outside), so the covariance of the test's cell totals is
    a block of the question's joint covariance ``V`` of the atom totals
    ``T`` (one row of atoms per cell: the answers' atoms; a multi-response
    item's ``a`` and ``b - a``): the test is
    :func:`ramlab.design.chisq_from_totals` of these, the formulas of
    ``Design.chisq``. Otherwise (or when a single/grid answer is not an
    atom) ``design.subset(mask).chisq(row, banner_col)``.

    A table with a negative cell (negative weights) is not tested (NaN), where
    R's ``svychisq`` stops.
    """
    variables = banner_variables(columns)
    if not variables or block.type == "numeric":
        return []
    # a replicate design's test takes the replicates' covariance of the cell
    # proportions (R svychisq.svyrep.design): Design.chisq, not the totals' V
    factored = T is not None and V is not None and design.is_calibrated and design.variance_engine.linearised
    in_base = block.base_mask & (w != 0 if nonzero is None else nonzero)
    targets = _chisq_targets(design.data, block, factored)
    records = []
    for var, cols in variables.items():
        banner_col = opts.banner_data_column(var)
        fast = factored and isinstance(design.data[banner_col].dtype, pd.CategoricalDtype)
        hidden_group = None
        for item, row, drop, levels in targets:
            if fast and levels is not None:
                res = _chisq_factored(levels, cols, block.width, T, V, opts,
                                      names=(getattr(row, "name", row), banner_col))
            else:
                if hidden_group is None:
                    in_groups = np.zeros(len(w), dtype=bool)
                    for c in cols:
                        in_groups |= columns[c].mask
                    hidden_group = ~in_groups & design.data[banner_col].notna().to_numpy()
                mask = in_base & ~drop() & ~hidden_group
                try:
                    res = design.subset(pd.Series(mask, index=design.data.index)).chisq(row, banner_col)
                except WeightError:  # a negative cell: R's svychisq refuses the table
                    if not (w < 0).any():
                        raise
                    res = _NEGATIVE_CELL
            df = np.atleast_1d(np.asarray(getattr(res, "df", np.nan), dtype=float))
            records.append(
                {
                    "question": block.id,
                    "item": item,
                    "variable": var,
                    "statistic": float(res.statistic),
                    "ndf": float(df[0]),
                    "ddf": float(df[1]) if df.size > 1 else np.nan,
                    "p_value": float(res.p_value),
                }
            )
    return records


def _chisq_targets(data, block, factored):
    """The tested items: (item label, row variable (a column, or a Series named by it), rows to
    drop (a function), level atoms or None)."""
    used = list(block.columns_used or [])
    targets = []

    def unanswered(col, b):  # excluded missing answers: dropped from the test
        return lambda: ~(block.atom_sums(b) > 0) & data[col].notna().to_numpy()

    if block.type in ("single", "scale"):
        b = block.groups[0][2]
        col = used[0]
        levels = _category_levels(data[col], block, 0) if factored else None
        targets.append(("", col, unanswered(col, b), levels))
    elif block.type == "grid":
        for g, (col, label, b) in enumerate(block.groups):
            if col not in used:  # a net across items (spec item_nets): no chi-square of its own
                continue
            levels = _category_levels(data[col], block, g) if factored else None
            targets.append((label, col, unanswered(col, b), levels))
    elif block.type == "multi":
        items = [e for e in block.estimates if e.kind == "category"]
        if len(items) == len(used):  # one column per item (not a delimited set)
            for e, col in zip(items, used):
                # the percentage a / b: chosen (a) against not chosen (b - a), on its base b
                chosen = pd.Series(block.atom_sums(e.a) > 0, index=data.index, name=col)
                targets.append((e.label, chosen, lambda b=e.b: ~(block.atom_sums(b) > 0), [e.a, e.b - e.a]))
    return targets


def _chisq_factored(levels, cols, K, T, V, opts, *, names):
    """The test from the question's joint covariance: cell (level r, group g) = atoms a_r of column g."""
    A = np.zeros((len(levels) * len(cols), V.shape[0]))
    for gi, c in enumerate(cols):
        for r, a in enumerate(levels):
            A[r + len(levels) * gi, c * K:(c + 1) * K] = a
    t = (A @ T.ravel()).reshape(len(cols), len(levels)).T
    if (t < 0).any():  # negative weights: R's svychisq refuses the table
        return _NEGATIVE_CELL
    return chisq_from_totals(t, A @ V @ A.T, n_rows=opts.chisq_rows, nu=opts.chisq_df,
                             statistic="F", names=names)


def _category_levels(series, block, group):
    """Atom vectors of the answers of a single/grid column, in its category order.

    Each shown answer is one atom (``_category_atoms``); the excluded missing
    answers have none (the test drops them). None when the column is not
    categorical (the test then runs on the data).
    """
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return None
    cats = [str(c) for c in series.cat.categories]
    if len(set(cats)) != len(cats):
        return None
    found = {}
    for e in block.estimates:
        if e.group != group or e.kind not in ("category", "missing"):
            continue
        if e.label not in cats or np.count_nonzero(e.a) != 1 or e.a.max() != 1.0:
            return None
        found[cats.index(e.label)] = e.a
    return [found[k] for k in sorted(found)]
