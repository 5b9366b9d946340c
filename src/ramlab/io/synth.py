"""Deterministic, seeded generator of synthetic survey files (``ramlab synth``).

The real respondent files are confidential; ramlab ships synthetic ones that
reproduce the published figures. A survey-year is generated from three inputs
only:

- its spec, ``<data_dir>/specs/<survey>_<year>.yaml`` (questions, categories,
  bases, weighting margins, sample size);
- its population margins, ``<data_dir>/population/*.yaml``;
- a generator configuration, ``<data_dir>/synth/<survey>_<year>.yaml``: the
  seed, value codes, the unequal selection of the sample, latent effects, and
  the target share of each answer in its base.

Method. The frame variables (the margin variables) are allocated with unequal
selection rates and shuffled; the frame is raked on the population margins
with :meth:`ramlab.design.Design.rake` (the one weighting path); then each item
is answered respondent by respondent: a latent propensity (a common
"engagement" factor, size/sector effects and noise) orders the respondents,
and the categories are filled in that order until their weighted share of the
base reaches its target. Figures therefore come from respondent-level answers
and real weights, never from a stored table. The file is marked synthetic in
its file label and in a document note, and written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ramlab.files import replacing
from ramlab.errors import RamlabError, SpecError
from ramlab.io.sav import SYNTHETIC_LABEL, SYNTHETIC_NOTE, WEIGHT_NOTE_PREFIX
from ramlab.io.spec import default_data_dir, load_spec, read_yaml

__all__ = ["generate", "synthesize", "load_config"]

_CONFIG_KEYS = {"survey", "year", "seed", "codes", "sample", "effects", "questions"}
_QUESTION_KEYS = {"items", "effects", "loading", "at_least_one", "outside_base"}
_ITEM_KEYS = {"targets", "effects", "loading"}
#: Name of the delivered weight column written into the file.
WEIGHT_COLUMN = "poids"
#: Largest gap (in weight units) allowed between the weighted total of the
#: respondents outside a base and its target (bases are shown rounded to units).
_OUTSIDE_TOLERANCE = 0.25


def load_config(survey, year, *, data_dir=None) -> tuple[dict, Path]:
    """Read ``<data_dir>/synth/<survey>_<year>.yaml``; return (config, path)."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    path = data_dir / "synth" / f"{survey}_{int(year)}.yaml"
    if not path.is_file():
        raise SpecError(f"No generator configuration: {path} not found", path=str(path))
    config = read_yaml(path)
    for key in config:
        if key not in _CONFIG_KEYS:
            raise SpecError(f"{path}: {key}: unknown key", path=str(path), key=str(key))
    for key in ("seed", "sample", "questions"):
        if key not in config:
            raise SpecError(f"{path}: {key}: required key is missing", path=str(path), key=key)
    return config, path


def generate(survey, year, *, data_dir=None, output=None) -> Path:
    """Generate the synthetic respondent file of a survey-year.

    Parameters
    ----------
    survey : str
        Survey id, e.g. ``"associations"``.
    year : int
        Survey year, e.g. 2021.
    data_dir : str or os.PathLike, optional
        The data directory holding ``specs/``, ``population/`` and ``synth/``;
        defaults to the project's ``data/``.
    output : str or os.PathLike, optional
        Where to write; defaults to the spec's data file
        (``<data_dir>/raw/<survey>_<year>.sav``).

    Returns
    -------
    pathlib.Path
        The file written. The same inputs always give the same values, labels
        and metadata (the header's creation stamp is SOURCE_DATE_EPOCH, else 1 January 1970).
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    spec = load_spec(survey, year=year, data_dir=data_dir)
    config, config_path = load_config(survey, year, data_dir=data_dir)
    codes, meta = synthesize(spec, config, config_path=config_path)
    out = Path(output) if output is not None else spec.data_file
    _write_atomic(codes, meta, out)
    return out


# --------------------------------------------------------------------------- core


def synthesize(spec, config, *, config_path=None):
    """Draw the respondents and their answers; return (coded frame, metadata).

    The coded frame holds numeric codes (NaN for system missing); the metadata
    holds what ``pyreadstat.write_sav`` needs (labels, user-missing codes,
    measure levels, notes).
    """
    from ramlab.design import Design

    cpath = str(config_path or "generator configuration")
    rng = np.random.default_rng(int(config["seed"]))
    n = int(spec.study["sample_size"])
    code_overrides = {str(k): v for k, v in (config.get("codes") or {}).items()}

    # 1. The frame, with unequal selection.
    frame = {}
    for margin in spec.weighting.margins:
        cats, shares = _sample_shares(margin, config, cpath)
        counts = _largest_remainder(shares, n)
        labels = np.repeat(np.arange(len(cats)), counts)
        frame[margin.variable] = pd.Categorical.from_codes(rng.permutation(labels), categories=cats)
    data = pd.DataFrame(frame)

    # 2. Final weights: raking on the population margins (ramlab's one path).
    raked = Design(spec.weighting.prepare(data)).rake(spec.weighting.targets)
    w = raked.weights.to_numpy(dtype=float)

    # 3. Answers.
    z = rng.standard_normal(n)  # common "engagement" factor
    answers = _draw_answers(spec, config, data, w, z, rng, cpath)

    # 4. Check the bases built from the answers.
    final = _decode(spec, data, answers)
    for q in spec.questions.values():
        outside = (config["questions"].get(q.id) or {}).get("outside_base")
        if outside:
            total = w[~spec.bases[outside["base"]].mask(final).to_numpy(dtype=bool)].sum()
            if abs(total - float(outside["total"])) > _OUTSIDE_TOLERANCE:
                raise RamlabError(f"base {outside['base']!r}: {total:.2f} outside, target {outside['total']}")

    return _encode(spec, data, answers, w, code_overrides, config)


def _sample_shares(margin, config, cpath):
    """``(categories, sample shares)`` of a frame variable, from ``sample.<variable>``:
    explicit shares, or selection rates relative to the population (default 1)."""
    cats = list(margin.counts)
    key = f"sample.{margin.variable}"
    sample_cfg = (config["sample"] or {}).get(margin.variable) or {}
    _check_keys(cpath, key, sample_cfg, {"shares", "rates"})
    if len(sample_cfg) > 1:
        raise SpecError(f"{cpath}: {key}: give shares or rates, not both", path=cpath, key=key)
    given = sample_cfg.get("shares") or sample_cfg.get("rates") or {}
    for cat in given:
        if cat not in cats:
            raise SpecError(
                f"{cpath}: {key}: {cat!r} is not a category of {margin.path.name}",
                path=cpath, key=key,
            )
    pop = np.array([margin.counts[c] for c in cats])
    if "shares" in sample_cfg:
        # Explicit sample composition (e.g. large associations over-sampled).
        shares = np.array([float(given.get(c, 0.0)) for c in cats])
        if set(given) != set(cats) or abs(shares.sum() - 1) > 1e-9:
            raise SpecError(f"{cpath}: {key}.shares: give every category, summing to 1",
                            path=cpath, key=f"{key}.shares")
    else:
        # Relative selection rates (1 = proportional to the population).
        rates = np.array([float(given.get(c, 1.0)) for c in cats])
        shares = pop * rates / (pop * rates).sum()
    return cats, shares


def _draw_answers(spec, config, data, w, z, rng, cpath):
    """Every question's answers, in the order their bases need: {column: int array of
    category index (-1 = system missing)}; `z` is the common factor of the latent scores."""
    qcfg_all = config["questions"] or {}
    for qid in qcfg_all:
        if qid not in spec.questions:
            raise SpecError(f"{cpath}: questions.{qid}: not a question of {spec.path.name}",
                            path=cpath, key=f"questions.{qid}")
    answers = {}
    for q in _question_order(spec):
        if q.type == "numeric":
            raise SpecError(f"{cpath}: questions.{q.id}: numeric questions are not generated yet",
                            path=cpath, key=f"questions.{q.id}")
        if q.id not in qcfg_all:
            raise SpecError(f"{cpath}: questions.{q.id}: no generator settings for this question",
                            path=cpath, key=f"questions.{q.id}")
        qcfg = qcfg_all[q.id] or {}
        _check_keys(cpath, f"questions.{q.id}", qcfg, _QUESTION_KEYS)
        current = _decode(spec, data, answers)
        base = spec.bases[q.base].mask(current).to_numpy(dtype=bool)
        answers.update(_answer_question(spec, q, qcfg, config, data, w, base, z, rng, cpath))
    return answers


def _check_keys(cpath, where, mapping, allowed):
    if not isinstance(mapping, dict):
        raise SpecError(f"{cpath}: {where}: expected a mapping", path=cpath, key=where)
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"{cpath}: {where}.{key}: unknown key", path=cpath, key=f"{where}.{key}")


def _largest_remainder(shares, n):
    """Integer counts summing to n, proportional to shares (Hamilton's method)."""
    exact = np.asarray(shares, dtype=float) * n
    counts = np.floor(exact).astype(int)
    short = n - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def _question_order(spec):
    """Questions used by base filters first, then the others in questionnaire order."""
    first = []
    for base in spec.bases.values():
        for qid in base.filter.questions() if base.filter is not None else []:
            if qid not in first:
                first.append(qid)
    return [spec.questions[q] for q in first] + [
        q for qid, q in spec.questions.items() if qid not in first
    ]


def _decode(spec, data, answers):
    """The frame plus the answers so far, as labelled categoricals (for base masks)."""
    cols = dict(data.items())
    for q in spec.questions.values():
        for col in q.columns:
            if col in answers:
                cols[col] = pd.Categorical.from_codes(answers[col], categories=q.categories)
    return pd.DataFrame(cols)


def _effects(config, qcfg, icfg, data, cpath):
    """Latent shift per respondent: item effects override question, then global ones."""
    shift = np.zeros(len(data))
    merged = {}
    for level in (config.get("effects") or {}, qcfg.get("effects") or {}, icfg.get("effects") or {}):
        for var, table in level.items():
            merged[var] = table
    for var, table in merged.items():
        if var not in data.columns:
            raise SpecError(f"{cpath}: effects: {var!r} is not a frame variable",
                            path=cpath, key=f"effects.{var}")
        values = data[var].astype(object).map(lambda v: float(table.get(v, 0.0)))
        shift += values.to_numpy(dtype=float)
    return shift


def _fill(order, w, target, take):
    """Mark respondents in ``order`` until their weight reaches ``target``.

    Greedy: a respondent whose weight would overshoot is skipped and the
    next ones are tried, so that the total lands within a fraction of the
    smallest weight. ``take`` (bool array) is updated in place.
    """
    total = 0.0
    for i in order:
        if target - total <= 1e-9:
            break
        if total + w[i] <= target + 1e-9:
            take[i] = True
            total += w[i]
    return total


def _answer_question(spec, q, qcfg, config, data, w, base, z, rng, cpath):
    items = qcfg.get("items")
    if not isinstance(items, dict) or set(items) != set(q.columns):
        raise SpecError(
            f"{cpath}: questions.{q.id}.items: expected settings for {', '.join(q.columns)}",
            path=cpath, key=f"questions.{q.id}.items",
        )
    n = len(w)
    cats = list(q.categories)
    if q.type == "multi":
        rest = cats.index(next(c for c in cats if c != q.selected))
    else:
        rest = cats.index(q.valid_categories[-1])
    w_base = w[base].sum()

    latent, targets = _latent_and_targets(q, qcfg, config, data, items, cats, rest, z, rng, cpath)
    out = {col: np.full(n, -1, dtype=np.int64) for col in q.columns}
    for col in q.columns:
        out[col][base] = -2  # -2: in the base, not answered yet

    key_cat, none_of = _outside_and_none(spec, q, qcfg, data, w, base, z, cats, rest, w_base,
                                         latent, out, cpath)
    _fill_items(q, w, base, cats, rest, w_base, latent, targets, key_cat, none_of, out, rng)
    return out


def _latent_and_targets(q, qcfg, config, data, items, cats, rest, z, rng, cpath):
    """Each item's latent propensity and its {category code: target share}."""
    n = len(z)
    # Latent propensities, drawn in questionnaire order of the items.
    latent = {}
    for col in q.columns:
        icfg = items[col] or {}
        _check_keys(cpath, f"questions.{q.id}.items.{col}", icfg, _ITEM_KEYS)
        loading = float(icfg.get("loading", qcfg.get("loading", 1.0)))
        latent[col] = loading * z + _effects(config, qcfg, icfg, data, cpath) + rng.standard_normal(n)
    targets = {}
    for col in q.columns:
        tg = (items[col] or {}).get("targets") or {}
        for cat, share in tg.items():
            if cat not in cats or cats.index(cat) == rest:
                raise SpecError(
                    f"{cpath}: questions.{q.id}.items.{col}.targets: {cat!r} is not a category "
                    f"that can take a target", path=cpath, key=f"questions.{q.id}.items.{col}.targets",
                )
        if sum(tg.values()) > 1 + 1e-9:
            raise SpecError(f"{cpath}: questions.{q.id}.items.{col}.targets: shares exceed 1",
                            path=cpath, key=f"questions.{q.id}.items.{col}.targets")
        targets[col] = {cats.index(c): float(s) for c, s in tg.items()}

    return latent, targets


def _outside_and_none(spec, q, qcfg, data, w, base, z, cats, rest, w_base, latent, out, cpath):
    """Answer for those outside a base the question defines, and choose who has none of
    the "at least one" category; returns (that category's code or None, mask of none)."""
    n = len(w)
    # Respondents who stay outside a base defined by this question.
    outside = np.zeros(n, dtype=bool)
    ob = qcfg.get("outside_base")
    if ob:
        among = base.copy()
        for var, allowed in (ob.get("among") or {}).items():
            if var not in data.columns:
                raise SpecError(f"{cpath}: questions.{q.id}.outside_base.among: {var!r} is not "
                                f"a frame variable", path=cpath, key=f"questions.{q.id}.outside_base")
            among &= data[var].isin(allowed).to_numpy()
        outside = _choose_outside(w, among, float(ob["total"]), z)
        for col in q.columns:
            out[col][outside] = rest

    # Respondents with none of the "at least one" category.
    alo = qcfg.get("at_least_one")
    key_cat = None
    none_of = outside.copy()
    if alo:
        key_cat = cats.index(alo["category"])
        if "share" in alo:
            fallback = _fallback_category(spec, q, alo["category"], cats)
            target_none = (1.0 - float(alo["share"])) * w_base - w[outside].sum()
            order = np.argsort(z, kind="stable")
            order = order[base[order] & ~outside[order]]
            extra = np.zeros(n, dtype=bool)
            _fill(order, w, target_none, extra)
            none_of |= extra
            if fallback is not None:
                # They plan a partnership: "dans les 6 mois" on their likeliest item.
                stack = np.column_stack([latent[c] for c in q.columns])
                best = np.argmax(stack, axis=1)
                for j, col in enumerate(q.columns):
                    rows = extra & (best == j)
                    out[col][rows] = fallback

    return key_cat, none_of


def _fill_items(q, w, base, cats, rest, w_base, latent, targets, key_cat, none_of, out, rng):
    """Answer item by item, in place in ``out``, to the targets."""
    n = len(w)
    # Item by item: items with the biggest key-category target first when every
    # respondent needs at least one, so that the priority fill can cover them.
    cols = list(q.columns)
    if key_cat is not None:
        cols.sort(key=lambda c: -targets[c].get(key_cat, 0.0))
    has_key = np.zeros(n, dtype=bool)
    missing_cats = [cats.index(c) for c in q.missing]
    for col in cols:
        ans = out[col]
        lat = latent[col]
        for k in sorted(targets[col], key=lambda k: (k not in missing_cats, k)):
            goal = targets[col][k] * w_base - w[ans == k].sum()
            free = ans == -2
            if k == key_cat:
                free &= ~none_of
            if k in missing_cats:
                order = rng.permutation(n)  # "Ne sait pas" is not ordinal
            else:
                priority = (k == key_cat) & ~has_key
                order = np.lexsort((-lat, ~priority))
            order = order[free[order]]
            take = np.zeros(n, dtype=bool)
            _fill(order, w, goal, take)
            ans[take] = k
        ans[ans == -2] = rest
        if key_cat is not None:
            has_key |= ans == key_cat
    if key_cat is not None:
        lacking = base & ~none_of & ~has_key
        if lacking.any():
            raise RamlabError(
                f"question {q.id!r}: {int(lacking.sum())} respondents lack {cats[key_cat]!r}; "
                f"raise the targets"
            )


def _fallback_category(spec, q, key_label, cats):
    """The other category of a base filter on this question (e.g. "dans les 6 mois")."""
    for base in spec.bases.values():
        cond = base.filter
        if cond is not None and cond.form == "any_in" and cond.name == q.id:
            others = [c for c in cond.labels if c != key_label]
            if others:
                return cats.index(others[0])
    return None


def _choose_outside(w, among, total, z):
    """Respondents whose weights sum to ``total`` within a fraction of a unit.

    The least engaged candidates are taken first; the last two are found by a
    search over pairs so that the weighted total lands on the target.
    """
    cand = np.flatnonzero(among)
    cand = cand[np.argsort(z[cand], kind="stable")][:300]
    if cand.size < 3:
        raise RamlabError("too few candidates to place respondents outside the base")
    best = None
    for m in range(cand.size - 2):
        prefix, rest = cand[:m], cand[m:]
        remaining = total - w[prefix].sum()
        if remaining <= 0:
            break
        ws = w[rest]
        sums = ws[:, None] + ws[None, :]
        sums[np.tril_indices(ws.size)] = np.inf
        gap = np.abs(sums - remaining)
        i, j = np.unravel_index(np.argmin(gap), gap.shape)
        if best is None or gap[i, j] < best[0]:
            best = (gap[i, j], np.concatenate([prefix, rest[[i, j]]]))
        if gap[i, j] <= _OUTSIDE_TOLERANCE / 2:
            break
    if best is None or best[0] > _OUTSIDE_TOLERANCE:
        raise RamlabError(f"no set of respondents weighs {total} within {_OUTSIDE_TOLERANCE}")
    mask = np.zeros(w.size, dtype=bool)
    mask[best[1]] = True
    return mask


# --------------------------------------------------------------------------- output


def _codes_for(categories, overrides):
    codes, used = {}, set(overrides.get(c) for c in categories if c in overrides)
    nxt = 1
    for cat in categories:
        if cat in overrides:
            codes[cat] = overrides[cat]
        else:
            while nxt in used:
                nxt += 1
            codes[cat] = nxt
            used.add(nxt)
    return codes


def _encode(spec, data, answers, w, overrides, config):
    n = len(data)
    cols = {"id": np.arange(1, n + 1, dtype=float)}
    value_labels, missing_ranges, measure, labels, formats = {}, {}, {}, {}, {}
    labels["id"] = "Identifiant du répondant"
    measure["id"] = "nominal"
    formats["id"] = "F6.0"
    for margin in spec.weighting.margins:
        cats = list(margin.counts)
        mapping = _codes_for(cats, overrides)
        codes = data[margin.variable].cat.codes.to_numpy()
        cols[margin.variable] = np.array([mapping[cats[c]] for c in codes], dtype=float)
        value_labels[margin.variable] = {float(mapping[c]): c for c in cats}
        labels[margin.variable] = margin.label
        measure[margin.variable] = "ordinal" if margin.ordered else "nominal"
        formats[margin.variable] = "F2.0"
    for q in spec.questions.values():
        mapping = _codes_for(q.categories, overrides)
        lookup = np.array([mapping[c] for c in q.categories], dtype=float)
        for col in q.columns:
            idx = answers[col]
            cols[col] = np.where(idx >= 0, lookup[np.clip(idx, 0, None)], np.nan)
            value_labels[col] = {float(mapping[c]): c for c in q.categories}
            if q.missing:
                missing_ranges[col] = [float(mapping[c]) for c in q.missing]
            number = q.id.upper() if q.id[0] in "qQ" else q.id
            text = f"{number}. {q.text}"
            labels[col] = f"{text} - {q.item_labels[col]}" if q.item_labels else text
            measure[col] = "nominal" if q.type in ("multi", "single") else "ordinal"
            formats[col] = "F1.0"
    cols[WEIGHT_COLUMN] = w
    labels[WEIGHT_COLUMN] = "Poids de redressement (calage sur les marges " + ", ".join(
        m.variable for m in spec.weighting.margins) + ")"
    measure[WEIGHT_COLUMN] = "scale"
    formats[WEIGHT_COLUMN] = "F12.6"
    frame = pd.DataFrame(cols)
    text = (f"Données synthétiques générées par ramlab synth (graine {config['seed']}) pour "
            f"{spec.study['title']} ; elles reproduisent les résultats publiés, pas les "
            f"réponses réelles.")
    # SPSS document lines hold 80 bytes.
    notes = [SYNTHETIC_NOTE, f"{WEIGHT_NOTE_PREFIX}{WEIGHT_COLUMN}", *_wrap_bytes(text, 80)]
    meta = {
        "file_label": SYNTHETIC_LABEL,
        "note": notes,
        "column_labels": labels,
        "variable_value_labels": value_labels,
        "missing_ranges": missing_ranges,
        "variable_measure": measure,
        "variable_format": formats,
    }
    return frame, meta


def _wrap_bytes(text, limit):
    """Split text on spaces into lines of at most ``limit`` UTF-8 bytes."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if len(trial.encode("utf-8")) <= limit:
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


#: Where a .sav header keeps its creation date ("dd mmm yy") and time ("hh:mm:ss"):
#: bytes 92 to 108, after the record type, product name, layout code, case
#: size, compression, weight index, case count and bias (4+60+4+4+4+4+4+8).
_HEADER_STAMP = slice(92, 109)
#: The creation stamp of a synthetic file when SOURCE_DATE_EPOCH is not set.
_FIXED_STAMP = 0


def _header_stamp() -> bytes:
    """The 17 bytes of a reproducible creation stamp: SOURCE_DATE_EPOCH (UTC), else 1 Jan 1970.

    https://reproducible-builds.org/specs/source-date-epoch/ ; months in
    English, as SPSS writes them.
    """
    import datetime as dt

    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        epoch = int(text) if text else _FIXED_STAMP
        moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise SpecError(
            f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got {text!r}"
        ) from exc
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    stamp = f"{moment.day:02d} {months[moment.month - 1]} {moment.year % 100:02d}{moment:%H:%M:%S}"
    return stamp.encode("ascii")


def _write_atomic(frame, meta, out: Path) -> None:
    """Write the .sav to a temporary file beside ``out``, then rename it.

    pyreadstat stamps the write time in the header and has no parameter for
    it: the stamp is overwritten with :func:`_header_stamp`, so that the same
    inputs give the same bytes.
    """
    import pyreadstat

    stamp = _header_stamp()
    with replacing(out) as temporary:
        pyreadstat.write_sav(frame, temporary, **meta)
        with open(temporary, "r+b") as stream:
            stream.seek(_HEADER_STAMP.start)
            stream.write(stamp)
