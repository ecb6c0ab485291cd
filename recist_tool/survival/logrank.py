"""Log-rank test between groups (R's ``survdiff``; lifelines' ``multivariate_logrank_test``).

Computed in numpy with lifelines' formulas (observed minus expected per group, the
hypergeometric covariance, the first k - 1 groups, a pseudo-inverse): the tests hold
it to lifelines within 1e-9 and to R's ``survdiff``. lifelines' version costs
~50-100 ms per test in pandas group-bys; this one well under 1 ms.
"""

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
    # scipy.stats.chi2.sf is this kernel; importing scipy.stats costs ~0.4 s.
    from scipy.special import chdtrc

    ok = groups.notna().to_numpy()
    g = groups[ok].astype(str).to_numpy()
    t = time[ok].to_numpy(float)
    e = event[ok].to_numpy(bool)
    nan = float("nan")
    levels, gi = np.unique(g, return_inverse=True)
    k = len(levels)
    if k < 2 or not e.any():
        return {"statistic": nan, "df": nan, "p": nan}
    ut, ti = np.unique(t, return_inverse=True)
    m = len(ut)
    leaving = np.zeros((m, k))
    np.add.at(leaving, (ti, gi), 1.0)
    observed = np.zeros((m, k))
    np.add.at(observed, (ti[e], gi[e]), 1.0)
    at_risk = leaving.sum(0) - np.vstack([np.zeros(k), np.cumsum(leaving, 0)[:-1]])  # n_tj
    n = at_risk.sum(1)  # n_t
    d = observed.sum(1)  # d_t
    z = observed.sum(0) - (at_risk * (d / n)[:, None]).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = (n - d) / (n - 1)
    shrink = np.where(np.isfinite(shrink), shrink, 1.0)
    w = shrink * d / n**2
    cov = -(at_risk * w[:, None]).T @ at_risk
    cov[np.diag_indices(k)] += (at_risk * (w * n)[:, None]).sum(0)
    stat = float(z[:-1] @ np.linalg.pinv(cov[:-1, :-1]) @ z[:-1])
    df = k - 1
    return {"statistic": stat, "df": float(df), "p": float(chdtrc(df, stat))}
