"""The founding study side by side: its four comparisons, bootstrap CIs, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recist_tool.survival.founding import (
    COMPARISONS,
    ComparisonData,
    _boot_medians,
    compare,
    founding_text,
    km_median,
)
from recist_tool.survival.km import median_with_ci
from recist_tool.synth.calibration import TOLERANCE, calibration_table

from .conftest import lifelines_km


def test_km_median_follows_r_rules_as_lifelines_does():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(2, 60))
        t = np.round(rng.exponential(20, n)) + 1  # ties on purpose (no time 0)
        e = (rng.random(n) < 0.7).astype(float)
        ours, theirs = km_median(t, e), median_with_ci(lifelines_km(t, e))[0]
        assert (np.isnan(ours) and np.isnan(theirs)) or ours == theirs
    # a curve sitting exactly at 0.5: the midpoint to the next drop (R's rule)
    assert km_median(np.array([1.0, 2, 3, 4]), np.ones(4)) == 2.5


def test_vectorised_bootstrap_medians_equal_one_by_one():
    rng = np.random.default_rng(11)
    t = np.round(rng.exponential(15, 40))
    e = (rng.random(40) < 0.75).astype(float)
    meds = _boot_medians(t, e, 60, np.random.default_rng(5))
    # the same resamples, drawn again, each through the plain KM median
    order = np.argsort(t, kind="stable")
    counts = np.random.default_rng(5).multinomial(40, np.full(40, 1 / 40), size=60)
    for k in range(60):
        ts, es = np.repeat(t[order], counts[k]), np.repeat(e[order], counts[k])
        assert (np.isnan(meds[k]) and np.isnan(km_median(ts, es))) or meds[k] == km_median(ts, es)


def test_landmark_and_time_varying_remove_a_pure_guarantee_time_effect():
    # "Responders" are whoever is alive at a random visit: no effect at all, yet the
    # naive comparison finds one (Anderson, Cain & Gelber 1983).
    rng = np.random.default_rng(1)
    n = 400
    idx = pd.Index([f"P{i}" for i in range(n)])
    os_days = pd.Series(rng.exponential(600, n).round() + 1, index=idx)
    event = pd.Series(1, index=idx)
    visit = pd.Series(rng.integers(30, 120, n).astype(float), index=idx)
    groups = pd.Series(np.where((os_days > visit) & (rng.random(n) < 0.6), "yes", "no"), idx)
    data = ComparisonData(COMPARISONS[0], groups.astype(object), visit.where(groups == "yes"), 4)
    naive, lm, tv = compare(data, os_days, event, n_boot=200)
    assert naive["logrank_p"] < 0.001 and naive["difference_months"] > 3
    assert naive["difference_ci_low"] < naive["difference_months"] < naive["difference_ci_high"]
    assert lm["logrank_p"] > 0.05 and lm["n_better"] + lm["n_worse"] < n
    assert tv["hr_ci_low"] < 1 < tv["hr_ci_high"]


def test_calibration_matches_the_published_comparisons():
    table = calibration_table(seeds=range(12)).set_index("comparison")
    for c in COMPARISONS:
        row = table.loc[c.key]
        assert abs(row["mean_difference"] - c.published_months) <= TOLERANCE * c.published_months
        assert row["mean_p"] < c.published_p, c.key
    # retreatment has no effect in the generator: a landmark takes most of it away
    assert table.loc["treatments", "landmark_mean_difference"] < 0.5 * 24


def test_founding_text_fits_80_columns():
    rows = []
    for c in COMPARISONS:
        for a in ("naive", "landmark", "time_varying"):
            rows.append({"comparison": c.key, "title": c.title, "analysis": a,
                         "better": c.better, "worse": c.worse, "n_better": 173, "n_worse": 38,
                         "median_better_months": 135.4, "median_worse_months": 3.3,
                         "difference_months": 132.1, "difference_ci_low": -124.5,
                         "difference_ci_high": 143.3, "logrank_p": 0.0123, "hr": 0.13,
                         "hr_ci_low": 0.08, "hr_ci_high": 0.21, "hr_p": 1e-5,
                         "landmark_months": 12.0, "published_difference_months":
                         c.published_months, "published_p_below": c.published_p})  # fmt: skip
    text = founding_text(pd.DataFrame(rows))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "+40" in text and "p < 0.03" in text and "HR 0.13 (0.08-0.21)" in text
