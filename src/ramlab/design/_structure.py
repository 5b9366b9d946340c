"""The sampling structure of a design: strata, clusters per stage, fpc (R ``svydesign``).

Built lazily from the data the first time a variance is asked for, then
shared (immutable) by every design derived from the same ``Design(...)``
call (domains, weighting).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ramlab.design._columns import column, combine, factor_codes
from ramlab.errors import WeightError
from ramlab.variance import Stage, row_psu_scale

__all__ = ["SamplingStructure"]


def _first_row(fpcs, values, test):
    """(column, 1-based row, value) of the first value that passes ``test``, stage by stage."""
    for f, v in zip(fpcs, values):
        rows = np.flatnonzero(test(v))
        if rows.size:
            return f, int(rows[0]) + 1, float(v[rows[0]])
    return None


def _fpc_values(data, fpcs, nstage):
    """Per-stage fpc columns as floats, and whether they are population sizes."""
    if fpcs and len(fpcs) > nstage:
        raise ValueError(f"{len(fpcs)} fpc columns ({', '.join(map(repr, fpcs))}) for {nstage} sampling "
                         f"stage(s): give one fpc per stage")
    values = [column(data, f, "fpc").to_numpy(dtype=float, na_value=np.nan) for f in fpcs]
    if not values:
        return values, True
    missing = _first_row(fpcs, values, np.isnan)
    if missing is not None:
        raise WeightError(f"fpc {missing[0]!r} has missing values (row {missing[1]})", variable=missing[0])
    allv = np.concatenate(values)
    is_pop = bool(np.any(allv > 1))
    if is_pop and not np.all(allv >= 1):
        # as R, one record of each kind
        (fb, rb, vb), (fs, rs, vs) = _first_row(fpcs, values, lambda v: v > 1), _first_row(
            fpcs, values, lambda v: v < 1)
        raise WeightError(
            f"fpc must be all population sizes (>= 1) or all fractions (<= 1): {fb!r} has {vb!r} "
            f"(row {rb}) and {fs!r} has {vs!r} (row {rs})",
            variable=fs,
        )
    return values, is_pop


def _sampled_units(cl, strata):
    """Dense unit codes and the number of sampled units of each row's stratum (R sampsize)."""
    # Units are nested in their strata (codes dense), so one row per unit
    # gives its stratum.
    cl = pd.factorize(cl)[0].astype(np.int64) if cl.size else cl
    unit_stratum = np.zeros(int(cl.max()) + 1 if cl.size else 0, dtype=np.int64)
    unit_stratum[cl] = strata
    npsu_per_stratum = np.bincount(unit_stratum, minlength=int(strata.max()) + 1 if strata.size else 0)
    return cl, npsu_per_stratum[strata].astype(float)


def _parent_labels(data, ids, s, strata, prev):
    """Labels of later-stage strata, the parent units: "<stratum>.<parent id>"."""
    first = np.unique(strata, return_index=True)[1]
    parent_ids = (
        column(data, ids[s - 1], "ids").to_numpy()[first] if ids[s - 1] is not None else first
    )
    lab = np.empty(int(strata.max()) + 1 if strata.size else 0, dtype=object)
    lab[strata[first]] = [
        f"{prev.strata_labels[prev.strata[r]]}.{pid}" for r, pid in zip(first, parent_ids)
    ]
    return lab


class SamplingStructure:
    """Stages of a design (R ``cluster``, ``strata``, ``fpc``), built on demand.

    Attributes
    ----------
    ids : list of str
        Cluster columns, first stage first (empty: each row its own PSU).
    strata_col : str or None
    fpc : list of str
    stages : tuple of :class:`ramlab.variance.Stage`
        Computed on first use.
    row_psu_scale
        :func:`ramlab.variance.row_psu_scale` of the stages (or None).
    """

    def __init__(self, data, ids, strata, fpc, *, lonely_psu_domain=None):
        self.data = data
        self.n = len(data)
        self.ids = ids
        self.strata_col = strata
        self.fpc = fpc
        self.lonely_psu_domain = lonely_psu_domain

    def check_nested(self):
        """R ``svydesign(nest = FALSE)``: every first-stage cluster within one stratum.

        Raises ValueError naming a cluster found in two strata and a row of
        each (1-based, as R).
        """
        if self.strata_col is None or not self.ids or self.ids[0] is None:
            return
        cl, cl_labels = factor_codes(column(self.data, self.ids[0], "ids"))
        st, st_labels = self._first_strata()
        pairs = pd.DataFrame({"c": cl, "s": st}).drop_duplicates()
        dup = pairs["c"].duplicated(keep=False)
        if not dup.any():
            return
        c = int(pairs.loc[dup, "c"].iloc[0])
        both = pairs.loc[pairs["c"] == c, "s"].to_numpy()[:2]
        rows = [int(np.flatnonzero((cl == c) & (st == s))[0]) + 1 for s in both]
        raise ValueError(
            f"clusters are not nested in strata at top level (R nest=FALSE): cluster "
            f"{cl_labels[c]!r} of {self.ids[0]!r} is in stratum {st_labels[both[0]]!r} (row {rows[0]}) "
            f"and in stratum {st_labels[both[1]]!r} (row {rows[1]}); you may want nest=True"
        )

    def _first_strata(self):
        if self.strata_col is None:
            return np.zeros(self.n, dtype=np.int64), np.array(["1"], dtype=object)
        s_codes, s_labels = factor_codes(column(self.data, self.strata_col, "strata"))
        if (s_codes < 0).any():
            raise ValueError(f"strata column {self.strata_col!r} has missing values")
        return s_codes, s_labels

    @cached_property
    def stages(self):
        data, n = self.data, self.n
        ids = self.ids or [None]
        strata, strata_labels = self._first_strata()
        fpc_values, is_pop = _fpc_values(data, self.fpc, len(ids))
        stages = []
        prev_cluster = None
        for s, col in enumerate(ids):
            if col is None:
                cl = np.arange(n, dtype=np.int64)
            else:
                cl, _ = factor_codes(column(data, col, "ids"))
                if (cl < 0).any():
                    raise ValueError(f"ids column {col!r} has missing values")
            if s == 0:
                # Nest first-stage units in strata (R nest=TRUE; with
                # check.strata R refuses non-nested ids instead).
                if self.strata_col is not None and col is not None:
                    cl = combine(strata, cl)
            else:
                cl = combine(prev_cluster, cl)
                # Strata of later stages: the parent unit (R svydesign).
                strata = prev_cluster
                strata_labels = _parent_labels(data, ids, s, strata, stages[-1])
            cl, npsu = _sampled_units(cl, strata)
            popsize = None
            if s < len(fpc_values):
                v = fpc_values[s]
                with np.errstate(divide="ignore"):  # a fraction of 0: with replacement, N = Inf (R)
                    popsize = v.copy() if is_pop else npsu / v
                if np.any(popsize < npsu):
                    r = int(np.flatnonzero(popsize < npsu)[0])
                    raise WeightError(
                        f"fpc {self.fpc[s]!r} implies more than 100% sampling at stage {s + 1}: "
                        f"population size {float(popsize[r])!r} for {npsu[r]:g} sampled units (row {r + 1})",
                        variable=self.fpc[s],
                    )
            stages.append(Stage(cl, strata, npsu, popsize, strata_labels))
            prev_cluster = cl
        return tuple(stages)

    @cached_property
    def row_psu_scale(self):
        """:func:`ramlab.variance.row_psu_scale` of the stages (or None)."""
        return row_psu_scale(self.stages)

    def fpc_weights(self):
        """Weights implied by the fpc: product over stages of N_s / n_s."""
        w = np.ones(self.n)
        stages = self.stages
        if len(self.fpc) != len(stages):
            raise WeightError(
                f"weights cannot be computed from fpc {', '.join(map(repr, self.fpc))}: give one fpc "
                f"per stage ({len(stages)} stages)",
                variable=self.fpc[0],
            )
        for st in stages:
            w = w * (st.popsize / st.npsu)
        return w
