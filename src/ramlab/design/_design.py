"""Survey design object and design-based estimators.

:class:`Design` follows R ``survey`` (Lumley) 4.1-1, ``svydesign`` and the
``survey.design2`` methods: one object holds the data, the weights and the
sampling structure (strata, clusters per stage, finite population
corrections), and every estimator takes its standard error from one
function, :meth:`Design.total_vcov` (R ``svyrecvar``).

Weighting (:meth:`Design.rake`, :meth:`Design.calibrate`,
:meth:`Design.poststratify`, :meth:`Design.trim`) returns a new design that
remembers its calibrations, so that standard errors account for them as R's
do.

Domains
-------
:meth:`Design.subset` keeps every row and sets the weight to 0 outside the
domain (R's ``subset()`` of a calibrated design). R drops the rows when it
subsets an *uncalibrated* design; the two agree on estimates and variances,
and where R's answer depends on the number of rows it sees (``svyciprop``
"beta" and "likelihood", ``svychisq``'s denominator degrees of freedom and
table total, the "average" lonely-PSU rescaling, which strata are checked
for a single PSU) ramlab reproduces R's count for each case: the domain's
rows for an uncalibrated design, all rows for a calibrated one.

Where R returns NaN because a factor level has no weight in the domain
(``svychisq`` on a factor with an empty level: R's ``svytable`` keeps the
empty level), ramlab leaves the empty level out, which is what R itself
does for a character column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramlab.design._base import SurveyDesign
from ramlab.design._columns import aligned, as_list, check_weights, column, count_distinct
from ramlab.design._structure import SamplingStructure
from ramlab.errors import DesignError
from ramlab.variance import LONELY_PSU_OPTIONS, Linearisation

__all__ = ["Design"]


class Design(SurveyDesign):
    """A survey design over a pandas DataFrame (R ``svydesign``).

    Parameters
    ----------
    data : pandas.DataFrame
        The sample, one row per respondent; not copied.
    weights : str or pandas.Series, optional
        Column of sampling weights, or a Series of them with the data's index. Without it the weights come from ``fpc``
        (product over stages of N_s / n_s, as R for ``apiclus2``) or are 1.
    ids : str or list of str, optional
        Cluster columns, first (PSU) stage first. Without them each row is
        its own PSU.
    strata : str, optional
        Stratum column (first stage).
    fpc : str or list of str, optional
        Finite population correction per stage: population sizes (> 1) or
        sampling fractions (<= 1), as R's ``svydesign``.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}
        What to do with a stratum holding a single PSU (R option
        ``survey.lonely.psu``).
    lonely_psu_domain : {None, "adjust"}
        "adjust": in a domain (:meth:`subset`, ``by=``), a stratum with a
        single PSU among the domain's rows (but several in the design) is
        treated as lonely too (R option ``survey.adjust.domain.lonely``):
        with ``lonely_psu="adjust"`` its PSU total is not centred; with
        "average" the variance is NaN, as R. Banner tables' joint covariance
        does not apply it.
    nest : bool
        True (default): first-stage clusters are taken within their stratum
        (R ``nest=TRUE``). False: as R's default, the cluster ids must
        already be nested in the strata; a cluster found in two strata is
        refused, with the rows named.

    Notes
    -----
    Reference: R survey 4.1-1, ``svydesign``, ``svyrecvar``.

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design
    >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
    ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
    ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
    >>> d = Design(df, weights="w")
    >>> d
    Design(n=6, ids=None, strata=None, fpc=None, calibrations=0)
    >>> d.total("x").round(3)
       estimate       se
    x     420.0  138.564
    """

    def __init__(self, data, *, weights=None, ids=None, strata=None, fpc=None, lonely_psu="fail",
                 lonely_psu_domain=None, nest=True):
        if not isinstance(data, pd.DataFrame):
            raise TypeError("data must be a pandas DataFrame")
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise ValueError(f"lonely_psu must be one of {LONELY_PSU_OPTIONS}, not {lonely_psu!r}")
        if lonely_psu_domain not in (None, "adjust"):
            raise ValueError(f"lonely_psu_domain must be None or 'adjust', not {lonely_psu_domain!r}")
        ids = as_list(ids)
        fpc = as_list(fpc)
        structure = SamplingStructure(data, ids, strata, fpc, lonely_psu_domain=lonely_psu_domain)
        if not nest:
            structure.check_nested()
        n = len(data)
        if isinstance(weights, pd.Series):
            wname = weights.name if weights.name is not None else "weights"
            w = aligned(weights, data.index, "weights").to_numpy(dtype=np.float64, na_value=np.nan)
            check_weights(w, wname)
        elif weights is not None:
            if not isinstance(weights, str):
                raise DesignError(
                    f"weights must be a column name or a Series aligned on the data, not "
                    f"{type(weights).__name__}"
                )
            w = column(data, weights, "weights").to_numpy(dtype=np.float64, na_value=np.nan)
            check_weights(w, weights)
            wname = weights
        elif fpc:
            w = structure.fpc_weights()
            check_weights(w, fpc[0])
            wname = None
        else:
            w = np.ones(n)
            wname = None
        self._init(data, structure, w, lonely_psu=lonely_psu, present=None,
                   calibrations=(), weight_name=wname)

    @classmethod
    def from_structure(cls, data, structure, weights, *, calibrations=(), lonely_psu="fail",
                       base_weights=None):
        """A design from its parts: a sampling structure, weights and calibration records.

        For designs assembled from others (:func:`ramlab.design.stack_designs`);
        ``structure`` (:class:`ramlab.design._structure.SamplingStructure`)
        describes the rows of ``data`` in order.
        """
        new = object.__new__(cls)
        new._init(data, structure, np.asarray(weights, dtype=float), lonely_psu=lonely_psu,
                  present=None, calibrations=calibrations, weight_name=None,
                  base_weights=base_weights)
        return new

    # internal constructor for derived designs
    def _init(self, data, structure, w, *, lonely_psu, present, calibrations, weight_name, steps=(),
              base_weights=None):
        self._init_base(data, w, calibrations=calibrations, weight_name=weight_name, steps=steps,
                        base_weights=base_weights)
        self._structure = structure
        self._lonely_psu = lonely_psu
        self._present = present

    def _derive(self, *, weights=None, present=..., calibrations=None, step=None):
        new = object.__new__(type(self))
        new._init(
            self._data,
            self._structure,
            self._w if weights is None else weights,
            lonely_psu=self._lonely_psu,
            present=self._present if present is ... else present,
            calibrations=self._calibrations if calibrations is None else calibrations,
            weight_name=self._weight_name,
            steps=self._steps + (step,),
            base_weights=self._base_w,
        )
        return new

    @property
    def lonely_psu(self):
        return self._lonely_psu

    def __repr__(self):
        st = self._structure
        return (
            f"Design(n={self.n}, ids={st.ids or None}, strata={st.strata_col!r}, "
            f"fpc={st.fpc or None}, calibrations={len(self._calibrations)})"
        )

    def subset(self, mask):
        """Domain design: same rows and structure, weight 0 outside ``mask``.

        Parameters
        ----------
        mask : boolean array-like, Series, column name or query string
            One value per row (missing = False). A Series must have the data's
            index (in any order); a string is a boolean column or a pandas
            query on the data's columns, e.g. ``"taille == 'Moins de 10 salariés'"``.

        Notes
        -----
        R ``subset.survey.design`` / ``[.survey.design2``. See the module
        notes on which rows R counts for an uncalibrated design.

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> d = Design(df, weights="w")
        >>> d.subset("taille == 'grande'").mean("x").round(3)
           estimate     se
        x       6.0  0.516
        """
        mask = self._mask(mask)
        w = np.where(mask, self._w, 0.0)
        if self.is_calibrated:
            present = self._present
        else:
            present = mask if self._present is None else (self._present & mask)
        return self._derive(weights=w, present=present, step=("subset", mask))

    # ------------------------------------------------ the rows R's object holds
    @property
    def held_rows(self):
        """Indices of the rows R's design object would hold (None = all).

        An uncalibrated domain (:meth:`subset`) holds only its rows, as R's
        ``subset()`` drops the others; a calibrated one holds them all. See
        the module notes.
        """
        if self._present is None:
            return None
        return np.flatnonzero(self._present)

    @property
    def n_held_rows(self):
        """Number of rows R's design object would hold (R ``nrow(design)``).

        What R's ``svyciprop(method = "beta")`` and ``svychisq`` (table
        total) count.
        """
        return self.n if self._present is None else int(self._present.sum())

    @property
    def held_degf(self):
        """PSUs minus strata among the rows R's design object holds.

        R's ``nu`` in ``svychisq`` (denominator degrees of freedom), which
        counts the PSUs of the rows the object holds, with or without weight.
        Compare :meth:`degf`, which counts PSUs with a nonzero weight.
        """
        st = self._structure.stages[0]
        rows = self.held_rows
        cl = st.cluster if rows is None else st.cluster[rows]
        sr = st.strata if rows is None else st.strata[rows]
        return count_distinct(cl) - count_distinct(sr)

    @property
    def variance_engine(self):
        """The design's variance engine (:class:`ramlab.variance.Linearisation`).

        Every estimator takes its standard errors from it, through
        :meth:`total_vcov` and :meth:`domain_plan`: a design class with
        another engine (replicate weights) changes no estimator.
        """
        if self._engine is None:
            self._engine = Linearisation(self._structure, self._w, self._calibrations,
                                         self.held_rows, self._lonely_psu)
        return self._engine

    def degf(self):
        """Design degrees of freedom: PSUs minus strata with nonzero weight.

        Reference: R survey ``degf.survey.design2``.
        """
        st = self._structure.stages[0]
        inset = self._w != 0
        return count_distinct(st.cluster[inset]) - count_distinct(st.strata[inset])

    @property
    def structure(self):
        """The sampling structure (:class:`ramlab.design._structure.SamplingStructure`):
        ``ids``, ``strata_col``, ``fpc`` and the per-stage ``stages``."""
        return self._structure

    def replicate(self, type, *, replicates=None, seed=None, rho=None, mse=False):
        """The design with replicate weights instead of linearisation (R ``as.svrepdesign``).

        Parameters
        ----------
        type : {"JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap"}
            JK1 (unstratified) and JKn (stratified) jackknife, with the
            design's first-stage fpc as R; BRR and Fay (``rho``) on two PSUs
            per stratum; bootstrap (R ``bootweights``: n_h PSUs drawn with
            replacement, or without from the population when there is an fpc)
            and subbootstrap (n_h - 1 drawn, Rao-Wu rescaling).
        replicates : int, optional
            Number of bootstrap replicates (default 50, as R).
        seed : int, optional
            Seed of the bootstrap (numpy ``default_rng``): the same seed gives
            the same replicates on every run. R's bootstrap draws from R's own
            generator, so its replicates differ.
        rho : float, optional
            Fay's coefficient.
        mse : bool
            Centre the replicates on the full-sample estimate.

        Returns
        -------
        ReplicateDesign

        Notes
        -----
        The replicate weights are the replicate factors times the weights
        the design was constructed with; then every domain and weighting step
        of this design (:attr:`steps`) is applied again, to the full sample
        and to every replicate. So a raked or calibrated design gives
        replicates raked or calibrated the same way, whose variance includes
        the calibration. R's ``as.svrepdesign`` leaves the replicates of a
        calibrated design uncalibrated (multiplies the calibrated weights by
        the replicate factors): its standard errors then differ (26.53
        against 26.87 on one design checked).

        BRR and Fay use R's Hadamard matrices (R ``hadamard``, see
        :func:`ramlab.variance.hadamard`): the replicates are R's.

        Raises
        ------
        ValueError
            Weights that no recorded step can make again on the replicates: a
            step of :meth:`apply_weighting`, or a design stacked from weighted
            or calibrated samples (:func:`ramlab.design.stack_designs`).

        Examples
        --------
        >>> import pandas as pd
        >>> from ramlab import Design
        >>> df = pd.DataFrame({"taille": pd.Categorical(["petite"] * 3 + ["grande"] * 3),
        ...                    "x": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0],
        ...                    "w": [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]})
        >>> r = Design(df, weights="w").replicate("JK1")
        >>> type(r).__name__
        'ReplicateDesign'
        >>> r.total("x").round(3)
           estimate       se
        x     420.0  138.564
        """
        from ramlab.design._replicate import replicate_design

        # the replicates are the base weights reweighted by the steps: weights or calibrations
        # that no step made (a design stacked from weighted samples) would be silently lost
        weighted = any(step is None or step[0] != "subset" for step in self._steps)
        if not weighted and (self.is_calibrated or np.any((self._w != self._base_w) & (self._w != 0))):
            raise ValueError(
                "replicate(): the weights of this design were made by weighting steps it does not "
                "record (a design stacked from weighted samples: ramlab.stack); their replicates "
                "cannot be reweighted the same way; use the linearised design"
            )
        return replicate_design(self, type, replicates=replicates, seed=seed, rho=rho, mse=mse)
