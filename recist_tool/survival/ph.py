"""Proportional-hazards test per covariate (scaled Schoenfeld residuals).

lifelines' test is the approximation R's ``cox.zph`` used before survival 3.0; it
is reported with the Kaplan–Meier time transform (R's default). The statistic is
lifelines' own, computed in O(n log n) by :func:`recist_tool.survival.efron.ph_test`
(lifelines builds the residuals row by row, quadratic in the cohort); the tests
check it against ``lifelines.statistics.proportional_hazard_test``.
"""

from __future__ import annotations

import pandas as pd

from recist_tool.survival.efron import ph_test as _ph_test


def ph_test(cph, data: pd.DataFrame, transform: str = "km") -> pd.DataFrame:
    """Test each covariate of a fitted ``CoxPHFitter``.

    Parameters
    ----------
    cph : lifelines.CoxPHFitter
        Fitted on ``data`` (duration column ``_time``, event column ``_event``).
    data : pandas.DataFrame
        The training data of ``cph``.
    transform : str
        Time transform (``km``, ``rank``, ``identity`` or ``log``).

    Returns
    -------
    pandas.DataFrame
        ``covariate, statistic, df, p, transform``, sorted by covariate.
    """
    return _ph_test(cph, data, transform)
