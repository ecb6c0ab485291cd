"""Known answers worked out by hand on tiny data sets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from recist_tool.survival.cox import fit_cox
from recist_tool.survival.km import KaplanMeier, median_with_ci, rmst, summarize
from recist_tool.survival.logrank import logrank


def test_km_median_and_rmst_by_hand():
    # S: 1 -> 0.8 (t=1), 0.6 (t=2), censored at 3, 0.3 (t=4), censored at 5.
    t = np.array([1, 2, 3, 4, 5.0])
    e = np.array([1, 1, 0, 1, 0])
    s = summarize(t, e, horizon=5.0)
    assert (s.n, s.events) == (5, 3)
    assert s.median == 4.0
    # Area: 1*1 + 1*0.8 + 2*0.6 + 1*0.3.
    assert s.rmst == pytest.approx(3.3, abs=1e-12)
    # Greenwood-type: A(1)=2.3, A(2)=1.5, A(4)=0.3 with d/(n(n-d)) = 1/20, 1/12, 1/2.
    var = 2.3**2 / 20 + 1.5**2 / 12 + 0.3**2 / 2
    assert s.rmst_se == pytest.approx(math.sqrt(var), abs=1e-12)


def test_rmst_horizon_inside_follow_up():
    t = np.array([1, 2, 3, 4, 5.0])
    e = np.array([1, 1, 0, 1, 0])
    mean, se = rmst(t, e, 2.5)
    assert mean == pytest.approx(1 + 0.8 + 0.5 * 0.6)
    # A(1) = 0.8 + 0.5 * 0.6 = 1.1, A(2) = 0.3.
    assert se == pytest.approx(math.sqrt(1.1**2 / 20 + 0.3**2 / 12))


def test_median_at_exactly_half_is_the_midpoint():
    # S = 0.75, 0.5, 0.25, 0: R takes the midpoint of 2 and 3.
    kmf = KaplanMeier(np.array([1, 2, 3, 4.0]), np.ones(4))
    med, _, _ = median_with_ci(kmf)
    assert med == 2.5


def test_median_not_reached_is_nan():
    s = summarize(np.array([1, 2, 3, 4.0]), np.array([1, 0, 0, 0]), horizon=4)
    assert math.isnan(s.median) and math.isnan(s.median_ci_high)


def test_logrank_by_hand():
    # A: deaths at 1 and 3; B: deaths at 2 and 4.  O_A - E_A = 2 - 4/3,
    # V = 1/4 + 2/9 + 1/4: chi2 = (2/3)^2 / (13/18) = 8/13.
    time = pd.Series([1, 3, 2, 4.0])
    event = pd.Series([1, 1, 1, 1])
    groups = pd.Series(["A", "A", "B", "B"])
    res = logrank(time, event, groups)
    assert res["statistic"] == pytest.approx(8 / 13, abs=1e-12)
    assert res["df"] == 1
    assert res["p"] == pytest.approx(math.erfc(math.sqrt(8 / 13 / 2)), abs=1e-12)


def test_cox_single_binary_covariate_by_hand():
    # Deaths at 1, 2, 3, 4 with x = 1, 0, 1, 0 and no ties: the partial likelihood is
    # e^b/(2e^b+2) * 1/(e^b+2) * e^b/(e^b+1); its score is zero at the MLE.
    def score(b: float) -> float:
        eb = math.exp(b)
        return 1 - 2 * eb / (2 * eb + 2) - eb / (eb + 2) + 1 - eb / (eb + 1)

    b_hat = brentq(score, -10, 10)
    fit = fit_cox(
        pd.Series([1, 2, 3, 4.0]), pd.Series([1, 1, 1, 1]), pd.DataFrame({"x": [1.0, 0, 1, 0]})
    )
    assert fit.n == 4 and fit.events == 4
    assert fit.table.loc[0, "hr"] == pytest.approx(math.exp(b_hat), rel=1e-6)
