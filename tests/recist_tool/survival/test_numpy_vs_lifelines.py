"""The numpy Kaplan–Meier summaries and log-rank test agree with lifelines (the
reference) on random data with ties, censoring, small and empty groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import multivariate_logrank_test

from recist_tool.survival.km import KaplanMeier, median_with_ci
from recist_tool.survival.logrank import logrank

from .conftest import lifelines_km


def _datasets(n_sets: int = 150):
    rng = np.random.default_rng(20261206)
    for _ in range(n_sets):
        n = int(rng.integers(2, 90))
        t = np.round(rng.exponential(12.0, n), int(rng.integers(0, 2)))  # ties when rounded
        e = rng.random(n) < rng.random()
        g = pd.Series(rng.integers(0, int(rng.integers(1, 5)), n).astype(str), dtype=object)
        if rng.random() < 0.2:
            g[rng.random(n) < 0.2] = None
        yield t, e, g


def test_logrank_agrees_with_lifelines():
    compared = 0
    for t, e, g in _datasets():
        ours = logrank(pd.Series(t), pd.Series(e), g)
        ok = g.notna().to_numpy()
        if g[ok].nunique() < 2 or not e[ok].any():
            assert np.isnan(ours["p"]) and np.isnan(ours["statistic"])
            continue
        ref = multivariate_logrank_test(t[ok], g[ok].to_numpy(), e[ok])
        assert ours["statistic"] == pytest.approx(ref.test_statistic, rel=1e-9, abs=1e-9)
        assert ours["p"] == pytest.approx(ref.p_value, rel=1e-9, abs=1e-12)
        assert ours["df"] == ref.degrees_of_freedom
        compared += 1
    assert compared > 80


def test_km_median_and_ci_agree_with_lifelines():
    for t, e, _ in _datasets():
        ours = np.array(median_with_ci(KaplanMeier(t, e)))
        ref = np.array(median_with_ci(lifelines_km(t, e)))
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9, equal_nan=True)


def test_km_curve_band_and_values_at_times_agree_with_lifelines():
    rng = np.random.default_rng(7)
    for t, e, _ in _datasets(60):
        ours, ref = KaplanMeier(t, e), lifelines_km(t, e)
        np.testing.assert_array_equal(ours.survival_function_.index, ref.survival_function_.index)
        np.testing.assert_allclose(
            ours.survival_function_.to_numpy(), ref.survival_function_.to_numpy(), atol=1e-12
        )
        np.testing.assert_allclose(
            ours.confidence_interval_survival_function_.to_numpy(),
            ref.confidence_interval_survival_function_.to_numpy(),
            atol=1e-9,
        )
        at = np.concatenate([t, rng.uniform(0, t.max() * 1.2, 5), [0.0]])
        got = ours.survival_function_at_times(at).to_numpy()
        np.testing.assert_allclose(got, ref.survival_function_at_times(at).to_numpy(), atol=1e-12)
