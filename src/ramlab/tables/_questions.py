"""Questions, bases and banner columns resolved against the data.

A question of the spec (or a plain data column) becomes a :class:`Block`:
its *atoms*, the ``(n, K)`` indicator or value columns whose weighted totals
every estimate of the question is a ratio of, and the estimates
(:class:`Estimate`) built on them. Answers are kept coded
(:class:`ramlab.variance.Coded`: a code per row and a row of atoms per code),
so that the variance engine sums them per cell without the n x K matrix. The banner becomes :class:`Column`
domains, lettered A, B, C ...
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ramlab.categories import factor, is_categorical, not_categorical
from ramlab.errors import TableError
from ramlab.io.spec import Question
from ramlab.tables._options import ROW_LABELS, TOTAL, TOTAL_LABEL
from ramlab.tables.significance import column_letters
from ramlab.variance import Coded

# Most answer patterns a multi-response question (2 ** items) or a grid is coded with
_MAX_PATTERNS = 1024


@dataclass(frozen=True)
class Estimate:
    """One displayed row: the ratio ``a't / b't`` of linear forms in the atom totals ``t``.

    ``kind`` is one of category, missing (a shown "Ne sait pas"), net, mean,
    answers (mean number of answers of a multi-response question) or median
    (``a`` is None: computed from the numeric values, not from totals).
    ``group`` indexes the base (item of a grid) the row belongs to.
    """

    item: str
    label: str
    kind: str
    a: np.ndarray | None
    b: np.ndarray | None
    group: int


@dataclass
class Block:
    """A question resolved against the data: atoms and the estimates built on them."""

    id: str
    text: str
    type: str
    atoms: np.ndarray | Coded  # (n, K) float64 (or coded), zero outside the question's base
    estimates: list
    groups: list  # [(item key, item label, b vector)] one per base (item of a grid)
    base_mask: np.ndarray  # (n,) bool, the base of the question (spec base)
    base_label: str
    numeric: np.ndarray | None = None  # numeric values (median)
    numeric_ok: np.ndarray | None = None
    spec_base: bool = True  # a base of the spec; else the note counts the rows tabulated
    columns_used: list = field(default_factory=list)  # data columns of the question

    @property
    def width(self):
        """K, the number of atoms."""
        return self.atoms.values.shape[1] if isinstance(self.atoms, Coded) else self.atoms.shape[1]

    def atom_sums(self, v):
        """``atoms @ v`` (n,) for a vector ``v`` (K,), without the n x K matrix when coded."""
        if isinstance(self.atoms, Coded):
            ext = np.append(self.atoms.values @ v, 0.0)
            return ext[self.atoms.codes]  # code -1: the appended 0
        return self.atoms @ v


@dataclass(frozen=True)
class Column:
    """One table column: the total or one group of a banner variable (a domain)."""

    variable: str  # data column or question id; TOTAL for the total column
    variable_label: str
    label: str
    letter: str  # "" for the total column
    mask: np.ndarray



def unwrap(design, spec):
    """Accept a Survey (with .design and .spec, or a domain of one) as well as a Design.

    Returns (design, spec, domain label): the label of the base a domain of
    a survey is restricted to ("Sous-population" for a mask), else None.
    """
    domain = None
    if hasattr(design, "spec") and hasattr(design, "design"):
        if spec is None:
            spec = design.spec
        if getattr(design, "is_domain", False):
            base = getattr(design, "base", None)
            domain = design.spec.bases[base].label if base else "Sous-population"
        design = design.design
    return design, spec, domain


def categorical_codes(series, name):
    """Codes (int, -1 = missing) and category labels (text) of a data column (R factor order)."""
    try:
        codes, labels = factor(series)
    except TypeError as exc:
        raise TableError(f"column {name!r} mixes values that cannot be ordered") from exc
    if isinstance(series.dtype, pd.CategoricalDtype):
        return codes, [str(c) for c in labels]
    return codes.astype(np.int64), [_label_of(v) for v in labels]


def _label_of(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def user_missing(data, column):
    return list((data.attrs.get("user_missing") or {}).get(column, []))


def _variable_label(data, spec, name):
    if spec is not None and name in getattr(spec, "questions", {}):
        return spec.questions[name].text
    return (data.attrs.get("variable_labels") or {}).get(name, name)


def _require_column(data, column, what):
    if column not in data.columns:
        raise TableError(f"{what}: column {column!r} is absent from the data")


def _base_mask(data, spec, base, question, n, domain):
    """Boolean base of a question, its French label, and whether it is a base of the spec.

    Without a base, a question of the spec (or a column of one: an item of a
    grid) has the spec's base; a plain column is tabulated on the rows that
    answer it (label None: the table names it, "Ensemble" when everyone
    answers, else "Répondants à la question"). On a domain of a survey
    (`domain`: its label), the base "ensemble" is the domain.
    """
    if base is None:
        base_id = getattr(question, "base", None) if question is not None else None
        if base_id is None:
            return np.ones(n, dtype=bool), None, False
        base = base_id
    if isinstance(base, str):
        bases = getattr(spec, "bases", None) if spec is not None else None
        if (not bases or base not in bases) and base == "ensemble":
            return np.ones(n, dtype=bool), domain or TOTAL_LABEL, True
        if not bases or base not in bases:
            known = ", ".join(map(repr, bases or {}))
            raise TableError(f"base {base!r} is not a base of the spec (its bases: {known or 'none'})")
        b = bases[base]
        mask = b.mask(data).reindex(data.index).fillna(False).to_numpy(dtype=bool)
        label = domain if domain and base == "ensemble" else b.label
        return mask, label, True
    if isinstance(base, pd.Series):
        base = base.reindex(data.index).fillna(False).to_numpy()
    mask = np.asarray(base)
    if mask.dtype != bool or mask.shape != (n,):
        raise TableError("base must be a base id of the spec or a boolean mask of one value per row")
    return mask, "Sous-population", False


def _owner(spec, column):
    """The question of the spec that holds a data column (an item of a grid), or None."""
    for q in getattr(spec, "questions", {}).values() if spec is not None else ():
        if column in q.columns:
            return q
    return None


def resolve_question(data, spec, row, *, show_missing, base, base_label, n, domain=None,
                     means=True):
    """Build the atoms and estimates of one question (or plain column)."""
    question = None
    if spec is not None and row in getattr(spec, "questions", {}):
        question = spec.questions[row]
    if question is None and row not in data.columns:
        raise TableError(
            f"row {row!r} is neither a question of the spec nor a column of the data"
        )
    mask, label, spec_base = _base_mask(data, spec, base, question or _owner(spec, row), n, domain)
    if base_label is not None:
        label = base_label
    if question is not None:
        for c in question.columns:
            _require_column(data, c, f"question {row!r}")
        show = question.show_missing if show_missing is None else show_missing
    else:
        question = _column_question(data, spec, row, _owner(spec, row))
        show = bool(show_missing)
    if not means and question.type == "scale":
        question = replace(question, type="single")
    builder = {
        "single": _single,
        "scale": _single,
        "multi": _multi,
        "grid": _grid,
        "numeric": _numeric,
    }.get(question.type)
    if builder is None:
        raise TableError(f"question {row!r} has an unknown type {question.type!r}")
    block = builder(data, question, show=show, mask=mask)
    block.base_mask = mask
    block.base_label = label
    block.spec_base = spec_base
    return block


def _column_question(data, spec, row, owner):
    """A plain column as a question: categorical -> single, bool -> single, else numeric.

    An ordered categorical is a scale (with a mean row) only when the spec
    does not say otherwise: an item of a grid of the spec (a yes/no answer)
    is single choice; a column of a scale question of the spec is a scale.
    """
    series = data[row]
    is_cat = isinstance(series.dtype, pd.CategoricalDtype)
    if is_cat or series.dtype == object or pd.api.types.is_string_dtype(series):
        ordered = is_cat and series.cat.ordered
        scale = owner.type == "scale" if owner is not None else ordered
        qtype = "scale" if scale else "single"
    elif pd.api.types.is_bool_dtype(series):
        qtype = "single"
    else:
        qtype = "numeric"
    return Question(id=row, text=_variable_label(data, spec, row), type=qtype, columns=(row,),
                    missing=user_missing(data, row))


def _category_atoms(data, column, row, categories, missing, show, mask):
    """One-hot atoms of the shown answers of a categorical column, within `mask`."""
    series = data[column]
    if not (isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object
            or pd.api.types.is_string_dtype(series) or pd.api.types.is_bool_dtype(series)
            or pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series)):
        raise TableError(f"question {row!r}: column {column!r} is not categorical")
    codes, data_cats = categorical_codes(series, column)
    if not categories:
        categories = data_cats
    missing = [m for m in missing if m in data_cats or m in categories]
    shown = [c for c in categories if c not in missing] + (missing if show else [])
    unknown = [c for c in shown if c not in data_cats]
    if unknown and isinstance(series.dtype, pd.CategoricalDtype):
        raise TableError(
            f"question {row!r}: answer(s) {unknown} of the spec are not categories of "
            f"column {column!r} (its categories: {data_cats})"
        )
    pos = np.full(len(data_cats) + 1, -1, dtype=np.int64)  # last slot: NaN code -1
    for j, c in enumerate(shown):
        if c in data_cats:
            pos[data_cats.index(c)] = j
    excluded = {data_cats.index(m) for m in missing if m in data_cats and not show}
    strays = [k for k in range(len(data_cats)) if pos[k] < 0 and k not in excluded]
    if strays:  # answers neither shown nor excluded: refused within the base
        found = np.isin(codes, strays) & mask
        if found.any():
            bad = sorted({data_cats[k] for k in np.unique(codes[found])})
            raise TableError(
                f"question {row!r}: column {column!r} has answers {bad} that are neither "
                "answers nor missing codes of the spec"
            )
    # a row of the identity per answer, none (code -1) for the others
    pc = _recode(codes, pos)
    if not mask.all():
        pc = np.where(mask, pc, pc.dtype.type(-1))
    atoms = Coded(pc, np.eye(len(shown)))
    return atoms, shown, missing


def _recode(codes, pos):
    """``pos[codes]`` (code -1: ``pos[-1]``) in the smallest integer type that holds it."""
    dtype = np.int8 if len(pos) < 127 else (np.int16 if len(pos) < 32767 else np.int64)
    if dtype is np.int8 and codes.dtype == np.int8:
        lut = np.full(256, pos[-1], dtype=np.int8)  # a lookup by the codes' bytes: -1 is 255
        lut[:len(pos) - 1] = pos[:-1]
        return np.take(lut, codes.view(np.uint8))
    return pos.astype(dtype)[codes]


def _scores(data, column, shown, missing):
    """Scores of the answers for a mean: SPSS codes when known, else 1..K."""
    labels = (data.attrs.get("value_labels") or {}).get(column) or {}
    inverse = {str(v): k for k, v in labels.items()}
    scores = []
    for j, c in enumerate(shown):
        if c in missing:
            scores.append(np.nan)
        elif c in inverse:
            try:
                scores.append(float(inverse[c]))
            except (TypeError, ValueError):
                scores.append(float(j + 1))
        else:
            scores.append(float(j + 1))
    if any(c not in inverse for c in shown if c not in missing):
        scores = [np.nan if c in missing else float(j + 1) for j, c in enumerate(shown)]
    return np.array(scores)


def _net_vector(row, nets, shown, item=None):
    out = []
    for net_label, members in nets.items():
        members = list(members)
        unknown = [m for m in members if m not in shown]
        if unknown:
            raise TableError(f"question {row!r}: net {net_label!r} names unknown answers {unknown}")
        a = np.array([1.0 if c in members else 0.0 for c in shown])
        out.append((net_label, a))
    return out


def _single(data, q, *, show, mask):
    row, text, qtype, columns = q.id, q.text, q.type, list(q.columns)
    categories, missing, nets = list(q.categories or []), list(q.missing or []), dict(q.nets or {})
    if len(columns) != 1:
        raise TableError(f"question {row!r} of type {qtype!r} must have one column, not {columns}")
    column = columns[0]
    atoms, shown, missing = _category_atoms(data, column, row, categories, missing, show, mask)
    K = len(shown)
    b = np.ones(K)
    estimates = []
    for j, c in enumerate(shown):
        a = np.zeros(K)
        a[j] = 1.0
        estimates.append(Estimate("", c, "missing" if c in missing else "category", a, b, 0))
    for net_label, a in _net_vector(row, nets, shown):
        estimates.append(Estimate("", net_label, "net", a, b, 0))
    if qtype == "scale":
        scores = _scores(data, column, shown, missing)
        ok = ~np.isnan(scores)
        estimates.append(
            Estimate("", ROW_LABELS["mean"], "mean", np.where(ok, scores, 0.0), ok.astype(float), 0)
        )
    return Block(row, text, qtype, atoms, estimates, [("", "", b)], mask, "")


def _selected(series, column, row):
    """0/1 indicator (NaN where unanswered) of a multi-response item column that is not
    categorical (:func:`_item_answers` reads the categorical ones)."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    if not pd.api.types.is_numeric_dtype(series):
        raise TableError(f"question {row!r}: item column {column!r} is not 0/1")
    values = series.to_numpy(dtype=float)
    ok = ~np.isnan(values)
    if not np.isin(values[ok], (0.0, 1.0)).all():
        raise TableError(f"question {row!r}: item column {column!r} holds values other than 0/1")
    return values


def _multi(data, q, *, show, mask):
    row, text, columns = q.id, q.text, list(q.columns)
    missing, nets, item_labels = list(q.missing or []), dict(q.nets or {}), dict(q.item_labels or {})
    selected, count_label = q.selected, q.count_label
    n = len(data)
    if len(columns) == 1 and (data[columns[0]].dtype == object or pd.api.types.is_string_dtype(data[columns[0]])):
        # a delimited set: "1;3;4" -> the items are the keys of item_labels
        if not item_labels:
            raise TableError(f"question {row!r}: a delimited multi-response column needs item labels")
        raw = data[columns[0]]
        answered = raw.notna().to_numpy()
        tokens = raw.fillna("").astype(str).str.split(r"\s*[;,|]\s*", regex=True)
        keys = list(item_labels)
        Y = [tokens.map(lambda t, k=str(k): k in t).to_numpy(dtype=bool) for k in keys]
        labels = [item_labels[k] for k in keys]
        answers = []
    else:
        answers = [_item_answers(data[c], c, row, selected, missing) for c in columns]
        answered = ~np.logical_and.reduce([na for _, na in answers])
        Y = [sel for sel, _ in answers]
        labels = [item_labels.get(c, _variable_label(data, None, c)) for c in columns]
        keys = list(columns)
    z = answered & mask
    extra, net_items = [], []
    for net_label, members in nets.items():
        idx = [keys.index(m) if m in keys else (labels.index(m) if m in labels else None) for m in members]
        if None in idx:
            raise TableError(f"question {row!r}: net {net_label!r} names unknown items {members}")
        extra.append((net_label, None))
        net_items.append(idx)
    I = len(Y)
    atoms = _multi_atoms(Y, z, net_items)
    K = I + len(extra) + 1
    b = np.zeros(K)
    b[-1] = 1.0
    estimates = []
    for i, lab in enumerate(labels):
        a = np.zeros(K)
        a[i] = 1.0
        estimates.append(Estimate("", lab, "category", a, b, 0))
    for e, (net_label, _) in enumerate(extra):
        a = np.zeros(K)
        a[I + e] = 1.0
        estimates.append(Estimate("", net_label, "net", a, b, 0))
    a = np.zeros(K)
    a[:I] = 1.0
    estimates.append(Estimate("", count_label or ROW_LABELS["answers"], "answers", a, b, 0))
    return Block(row, text, "multi", atoms, estimates, [("", "", b)], mask, "")


def _item_answers(series, column, row, selected, missing):
    """(selected, unanswered) of a multi-response item column: two (n,) bools."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        values = _selected(series, column, row)
        return values == 1, np.isnan(values)
    cats = [str(c) for c in series.cat.categories]
    chosen = _chosen(cats, column, row, selected)
    codes = series.cat.codes.to_numpy()
    k = cats.index(chosen)
    drop = [cats.index(m) for m in missing if m in cats]
    unanswered = codes < 0
    if drop:
        unanswered |= np.isin(codes, drop)
    return codes == k, unanswered


def _chosen(cats, column, row, selected):
    """The selected answer of a categorical item: ``selected``, else a usual "yes" label."""
    if selected is not None:
        if selected not in cats:
            raise TableError(
                f"question {row!r}: selected answer {selected!r} is not a category "
                f"of item column {column!r} ({cats})"
            )
        return selected
    for yes in ("Oui", "Cité", "Citée", "Coché", "Cochée", "Yes", "1"):
        if yes in cats:
            return yes
    raise TableError(
        f"question {row!r}: item column {column!r} is categorical {cats} and "
        "no category says which answer is selected (expected 0/1 or Oui/Non)"
    )


def _multi_atoms(Y, z, net_items):
    """Atoms of a multi-response question: items, nets and respondent, zero outside ``z``.

    ``Y`` lists the items' (n,) bool answers; ``net_items`` the items of each
    net (a net is chosen when one of its items is). Coded by the pattern of the
    items' answers (2 ** items codes, at most ``_MAX_PATTERNS``): a pattern's
    atoms are its items, its nets and 1; otherwise the (n, K) matrix.
    """
    I = len(Y)
    if 2 ** I > _MAX_PATTERNS:
        items = np.column_stack(Y).astype(float) * z[:, None]
        nets = [items[:, idx].max(axis=1) for idx in net_items]
        return np.column_stack([items] + nets + [z.astype(float)])
    bits = np.zeros(z.shape[0], dtype=np.int16)
    for i, y in enumerate(Y):
        bits |= y.astype(np.int16) << i
    patterns = ((np.arange(2 ** I)[:, None] >> np.arange(I)[None, :]) & 1).astype(float)
    values = np.column_stack(
        [patterns] + [patterns[:, idx].max(axis=1) for idx in net_items] + [np.ones(2 ** I)]
    )
    return Coded(np.where(z, bits, np.int16(-1)), values)


def _grid(data, q, *, show, mask):
    row, text, columns = q.id, q.text, list(q.columns)
    categories, missing, nets = list(q.categories or []), list(q.missing or []), dict(q.nets or {})
    item_labels = dict(q.item_labels or {})
    blocks, estimates, groups = [], [], []
    offset = 0
    widths = []
    for c in columns:
        atoms, shown, miss = _category_atoms(data, c, row, categories, missing, show, mask)
        blocks.append((c, atoms, shown, miss))
        widths.append(len(shown))
    K = sum(widths)
    for g, (c, atoms, shown, miss) in enumerate(blocks):
        label = item_labels.get(c, _variable_label(data, None, c))
        b = np.zeros(K)
        b[offset: offset + len(shown)] = 1.0
        for j, cat in enumerate(shown):
            a = np.zeros(K)
            a[offset + j] = 1.0
            estimates.append(Estimate(label, cat, "missing" if cat in miss else "category", a, b, g))
        for net_label, av in _net_vector(row, nets, shown):
            a = np.zeros(K)
            a[offset: offset + len(shown)] = av
            estimates.append(Estimate(label, net_label, "net", a, b, g))
        groups.append((c, label, b))
        offset += len(shown)
    item_nets = dict(getattr(q, "item_nets", None) or {})
    if item_nets:
        return _with_item_nets(Block(row, text, "grid", None, estimates, groups, mask, ""),
                               [blk[1].dense() for blk in blocks], [blk[2:] for blk in blocks], item_nets)
    return Block(row, text, "grid", _grid_atoms([blk[1] for blk in blocks]), estimates, groups, mask, "")


def _with_item_nets(block, items, shown, item_nets):
    """A grid block with its nets across items (spec ``item_nets``): two atoms and one row each.

    A net counts the respondents giving one of its answers to at least one
    item ("any") or to every item ("all"), among those who answered at least
    one item ("any") or every item ("all"); atoms stay dense (n, K).
    """
    atoms = list(items)
    for mode, members in item_nets.values():
        chosen = np.column_stack([a[:, [j for j, c in enumerate(cats) if c in members]].sum(axis=1)
                                  for a, (cats, _) in zip(items, shown)])
        answered = np.column_stack([a[:, [j for j, c in enumerate(cats) if c not in miss]].sum(axis=1)
                                    for a, (cats, miss) in zip(items, shown)])
        reduce = np.max if mode == "any" else np.min
        base = reduce(answered, axis=1)
        atoms.append(np.column_stack([reduce(chosen, axis=1) * base, base]))
    atoms = np.column_stack(atoms)
    K, offset = atoms.shape[1], atoms.shape[1] - 2 * len(item_nets)
    estimates = [Estimate(e.item, e.label, e.kind, np.pad(e.a, (0, K - len(e.a))),
                          np.pad(e.b, (0, K - len(e.b))), e.group) for e in block.estimates]
    groups = [(c, label, np.pad(b, (0, K - len(b)))) for c, label, b in block.groups]
    for e, net_label in enumerate(item_nets):
        a, b = np.zeros(K), np.zeros(K)
        a[offset + 2 * e], b[offset + 2 * e + 1] = 1.0, 1.0
        estimates.append(Estimate(net_label, net_label, "net", a, b, len(groups)))
        groups.append((net_label, net_label, b))
    block.atoms, block.estimates, block.groups = atoms, estimates, groups
    return block


def _grid_atoms(items):
    """Atoms of a grid from its items' coded answers: side by side, one block per item.

    Coded by the combination of the items' answers while there are at most
    ``_MAX_PATTERNS`` combinations (code 0: no answer to any item); otherwise
    the (n, K) matrix.
    """
    radix = [len(item.values) + 1 for item in items]
    if int(np.prod(radix)) > _MAX_PATTERNS:
        return np.column_stack([item.dense() for item in items])
    code = np.zeros(len(items[0].codes), dtype=np.int16)  # under _MAX_PATTERNS
    for item, r in zip(items, radix):
        code *= r
        code += item.codes
        code += 1  # 0: no answer
    combos = np.indices(radix).reshape(len(items), -1)  # (items, patterns), C order as ``code``
    values = np.column_stack([
        np.vstack([np.zeros((1, r - 1)), item.values])[combo] for item, r, combo in zip(items, radix, combos)
    ])
    return Coded(code, values)


def _numeric(data, q, *, show, mask):
    row, text, columns = q.id, q.text, list(q.columns)
    if len(columns) != 1:
        raise TableError(f"numeric question {row!r} must have one column, not {columns}")
    series = data[columns[0]]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise TableError(
            f"question {row!r} is numeric but column {columns[0]!r} holds "
            f"{series.dtype} values"
        )
    x = series.to_numpy(dtype=float)
    ok = ~np.isnan(x) & mask
    z = ok.astype(float)
    atoms = np.column_stack([np.where(ok, x, 0.0), z])
    b = np.array([0.0, 1.0])
    estimates = [
        Estimate("", ROW_LABELS["mean"], "mean", np.array([1.0, 0.0]), b, 0),
        Estimate("", ROW_LABELS["median"], "median", None, b, 0),
    ]
    return Block(row, text, "numeric", atoms, estimates, [("", "", b)], mask, "",
                  numeric=np.where(ok, x, np.nan), numeric_ok=ok)


def banner_columns(data, spec, cols, n, w):
    """The total column and one column per group of each banner variable.

    Returns (columns, empty): a labelled group without any respondent (of
    nonzero weight: a negative weight counts, as in R's ``svyby``) has no
    column; ``empty`` lists it as (variable label, group label), for a note
    under the table.
    """
    columns = [Column(TOTAL, "", TOTAL_LABEL, "", np.ones(n, dtype=bool))]
    empty = []
    present = w != 0
    specs = []
    for col in cols:
        question = None
        if spec is not None and col in getattr(spec, "questions", {}):
            question = spec.questions[col]
            if question.type not in ("single", "scale"):
                raise TableError(
                    f"banner column {col!r} is a {question.type} question; a banner "
                    "variable must be single choice"
                )
            name = question.columns[0]
            missing = list(getattr(question, "missing", None) or [])
        else:
            name = col
            missing = None
        if name not in data.columns:
            known = [*getattr(spec, "breakdowns", []), *getattr(spec, "questions", {}), *map(str, data.columns)]
            close = difflib.get_close_matches(str(col), dict.fromkeys(known), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise TableError(f"banner column {col!r} is absent from the data and the spec{hint}")
        labels = (data.attrs.get("value_labels") or {}).get(name)
        if not is_categorical(data[name], value_labels=labels):
            raise TableError(not_categorical(data[name], name, "banner variable"))
        codes, cats = categorical_codes(data[name], name)
        if missing is None:
            missing = user_missing(data, name)
        label = _variable_label(data, spec, col)
        counts = np.bincount(codes[present & (codes >= 0)], minlength=len(cats))
        levels = []
        for k, c in enumerate(cats):
            if c in missing:
                continue
            if counts[k] == 0:
                empty.append((label, c))
            else:
                levels.append((k, c))
        specs.append((col, label, codes, levels))
    letters = iter(column_letters(sum(len(s[3]) for s in specs)))
    for col, label, codes, levels in specs:
        for k, cat in levels:
            columns.append(Column(col, label, cat, next(letters), codes == k))
    return columns, empty


def columns_used(spec, row):
    """The data columns of a question of the spec, or the column itself."""
    if spec is not None and row in getattr(spec, "questions", {}):
        return list(spec.questions[row].columns)
    return [row]
