"""Log-rank test between groups (lifelines; identical to R's ``survdiff``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def logrank(time: pd.Series, event: pd.Series, groups: pd.Series) -> dict[str, float]:
    """Log-rank test of equal survival across the groups.

    Parameters
    ----------
    time, event, groups : pandas.Series
        Aligned; patients with a missing group are left out.

    Returns
    -------
    dict
        ``statistic``, ``df`` and ``p``; NaN when fewer than two groups remain.
    """
    from lifelines.statistics import multivariate_logrank_test

    ok = groups.notna()
    g = groups[ok].astype(str).to_numpy()
    nan = float("nan")
    if len(np.unique(g)) < 2 or not event[ok].any():
        return {"statistic": nan, "df": nan, "p": nan}
    res = multivariate_logrank_test(time[ok].to_numpy(float), g, event[ok].to_numpy(bool))
    return {
        "statistic": float(res.test_statistic),
        "df": float(res.degrees_of_freedom),
        "p": float(res.p_value),
    }
