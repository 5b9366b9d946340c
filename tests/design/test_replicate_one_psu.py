"""JK1 replicates of a design with a single PSU are refused with a ramlab error.

R refuses the design itself (``svydesign``: "Design has only one primary
sampling unit"); ramlab accepts the design (its estimates need no second PSU)
and refuses the jackknife, which deletes the only PSU (it was a
ZeroDivisionError).
"""

from __future__ import annotations

import pandas as pd
import pytest

from ramlab import Design
from ramlab.errors import DesignError


def test_jk1_of_a_single_psu_design_is_refused():
    d = Design(pd.DataFrame({"psu": [1, 1, 1], "x": [1.0, 2.0, 3.0]}), ids="psu")
    with pytest.raises(DesignError, match=r"^JK1 needs at least two PSUs: the design has one$"):
        d.replicate("JK1")
