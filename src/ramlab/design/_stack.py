"""Independent samples stacked into one design (years of a survey).

:func:`stack_designs` puts the designs of independent samples (the years of
a survey) one above the other: each keeps its own sampling structure, as a
set of strata of the stacked design, and its own calibrations, which act on
its rows only. The linearised variance of any statistic of the stacked
design is then the sum of the samples' variances, and each sample's
calibration residualises its own rows (R: the rbind of the years' data with
year-prefixed strata and PSUs, raked on year x margin; see
``tests/fixtures/r/extra_stack.R``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._design import Design
from ramlab.design._structure import SamplingStructure
from ramlab.errors import RamlabError
from ramlab.variance import Calibration, CalibrationModel, CellIndicators

__all__ = ["stack_designs"]


def _check(designs):
    if len(designs) < 2:
        raise RamlabError(f"stack needs two samples or more, got {len(designs)}")
    lonely = set()
    for key, d in designs.items():
        if type(d) is not Design:
            raise RamlabError(
                f"stack: sample {key!r} is a {type(d).__name__}; stack takes linearised "
                f"designs (ramlab.Design) or surveys (ramlab.load_survey)"
            )
        if any(step is not None and step[0] == "subset" for step in d.steps):
            raise RamlabError(
                f"stack: sample {key!r} is a domain (Design.subset); stack the whole "
                f"samples, then take the domain of the stacked design"
            )
        lonely.add(d.lonely_psu)
    if len(lonely) > 1:
        raise RamlabError(f"stack: the samples' lonely_psu options differ ({sorted(lonely)})")
    nstages = {len(d.structure.ids or [None]) for d in designs.values()}
    fpcs = {len(d.structure.fpc) for d in designs.values()}
    if len(nstages) > 1 or len(fpcs) > 1:
        raise RamlabError(
            "stack: the samples have different numbers of sampling stages or fpc columns "
            f"(stages {sorted(nstages)}, fpc {sorted(fpcs)}); stack samples of the same form"
        )


def _structure_frame(designs):
    """Year-prefixed strata and units of every stage, and each sample's fpc as population sizes."""
    parts = []
    for key, d in designs.items():
        st = d.structure
        n = d.n
        try:
            # the sample's own structure: its checks (missing strata or ids, fpc) apply
            stages = st.stages
        except ValueError as err:
            err.add_note(f"in sample {key!r} of the stack")
            raise
        out = {}
        strata = (
            d.data[st.strata_col].astype(str).to_numpy(dtype=object)
            if st.strata_col is not None else np.full(n, "", dtype=object)
        )
        out["stratum"] = [f"{key}|{s}" for s in strata]
        for s, col in enumerate(st.ids or [None]):
            ids = np.arange(n) if col is None else d.data[col].astype(str).to_numpy(dtype=object)
            out[f"id{s}"] = [f"{key}|{v}" for v in ids]
        for s in range(len(st.fpc)):
            # population sizes: one sample may give sampling fractions, another sizes
            out[f"fpc{s}"] = stages[s].popsize
        parts.append(pd.DataFrame(out))
    return pd.concat(parts, ignore_index=True)


def _extend(cal, start, n, w):
    """A sample's calibration record over the stacked rows: no model column elsewhere."""
    m = cal.model
    rows = slice(start, start + cal.w_new.shape[0])
    cell = cells = None
    if m.cells is not None:
        ncell = m.cells.ncell
        cell = np.full(n, ncell, dtype=np.int64)  # the other samples' rows: one empty cell
        cell[rows] = m.cell
        empty = np.full((1, m.cells.cols.shape[1]), m.cells.kc, dtype=np.int64)
        cells = CellIndicators(np.vstack([m.cells.cols, empty]), m.cells.kc)
    Z = None
    if m.Z is not None:
        Z = []
        for z in m.Z:
            full = np.zeros(n)
            full[rows] = z
            Z.append(full)
        Z = tuple(Z)
    w_old, w_new = w.copy(), w.copy()  # ratio 1 on the other rows, which no column reaches
    w_old[rows] = cal.w_old
    w_new[rows] = cal.w_new
    return Calibration(method=cal.method, model=CalibrationModel(cell, cells, Z, m.names),
                       w_old=w_old, w_new=w_new, gram=cal.gram)


def stack_designs(designs, data):
    """One design over independent samples stacked in ``data`` (their rows in order).

    Parameters
    ----------
    designs : mapping {key: Design}
        Whole linearised designs (no domain), with the same number of
        sampling stages and fpc columns and the same ``lonely_psu``.
    data : pandas.DataFrame
        The samples' rows stacked in the mapping's order.

    Returns
    -------
    Design
        Strata ``<key>|<stratum>`` (a sample without strata is one stratum),
        units ``<key>|<unit>`` at every stage, each sample's fpc, weights and
        calibrations (each over its own rows). Its replicates
        (:meth:`Design.replicate`) are refused when a sample is weighted: that
        weighting is the sample's own, not a step the replicates can repeat.

    Raises
    ------
    RamlabError
        Fewer than two samples, a domain or a replicate design, or samples of
        different forms.
    """
    _check(designs)
    frame = _structure_frame(designs)
    first = next(iter(designs.values()))
    ids = [f"id{s}" for s in range(len(first.structure.ids or [None]))]
    fpc = [f"fpc{s}" for s in range(len(first.structure.fpc))]
    structure = SamplingStructure(frame, ids, "stratum", fpc)
    w = np.concatenate([d.weight_values for d in designs.values()])
    n = w.shape[0]
    calibrations, start = [], 0
    for d in designs.values():
        calibrations.extend(_extend(cal, start, n, w) for cal in d.calibrations)
        start += d.n
    base = np.concatenate([np.asarray(d.base_weights, dtype=float) for d in designs.values()])
    return Design.from_structure(data, structure, w, calibrations=tuple(calibrations),
                                 lonely_psu=first.lonely_psu, base_weights=base)
