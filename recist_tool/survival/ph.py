"""Proportional-hazards test per covariate (scaled Schoenfeld residuals).

lifelines' test is the approximation R's ``cox.zph`` used before survival 3.0; it
is reported with the Kaplan–Meier time transform (R's default).
"""

from __future__ import annotations

import pandas as pd


def ph_test(cph, data: pd.DataFrame, transform: str = "km") -> pd.DataFrame:
    """Test each covariate of a fitted ``CoxPHFitter``.

    Parameters
    ----------
    cph : lifelines.CoxPHFitter
        Fitted on ``data``.
    data : pandas.DataFrame
        The training data of ``cph``.
    transform : str
        Time transform (``km``, ``rank``, ``identity`` or ``log``).

    Returns
    -------
    pandas.DataFrame
        ``covariate, statistic, df, p, transform``.
    """
    from lifelines.statistics import proportional_hazard_test

    res = proportional_hazard_test(cph, data, time_transform=transform)
    summary = res.summary
    return pd.DataFrame(
        {
            "covariate": [str(i[0] if isinstance(i, tuple) else i) for i in summary.index],
            "statistic": summary["test_statistic"].to_numpy(float),
            "df": 1.0,
            "p": summary["p"].to_numpy(float),
            "transform": transform,
        }
    )
