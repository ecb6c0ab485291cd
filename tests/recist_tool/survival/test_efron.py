"""The fast Efron fits against lifelines (the reference): time-varying Cox and PH test.

R is checked separately (test_r_crosscheck.py runs ``fit_time_varying`` against
``coxph``); here lifelines' ``CoxTimeVaryingFitter`` and
``proportional_hazard_test`` must agree to 1e-6 on data with many tied times,
covariates switching on during follow-up, several covariate types, and a start point.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.statistics import proportional_hazard_test

from recist_tool.survival.cox import FIT_OPTIONS, fit_cox, fit_time_varying
from recist_tool.survival.efron import EfronFit, fit_counting_process
from recist_tool.survival.ph import ph_test

TOL = 1e-6


def _data(seed: int, n: int = 600) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(1)
    b = rng.integers(0, 2, n).astype(float)
    c = rng.integers(0, 4, n).astype(float)
    t = np.ceil(rng.exponential(12 * np.exp(-0.4 * x - 0.5 * b + 0.1 * c))).clip(1, 50)
    cens = rng.integers(3, 60, n)
    time = np.minimum(t, cens).astype(float)
    event = (t <= cens).astype(int)
    fixed = pd.DataFrame({"x": x, "b": b, "c": c, "_time": time, "_event": event})
    rows = []
    for i in range(n):
        switch = float(rng.integers(1, 8))
        second = switch + float(rng.integers(2, 10))
        cuts = [0.0] + [s for s in (switch, second) if s < time[i]] + [time[i]]
        for k in range(len(cuts) - 1):
            last = k == len(cuts) - 2
            rows.append((i, cuts[k], cuts[k + 1], event[i] if last else 0, float(k >= 1), k, x[i]))
    long = pd.DataFrame(rows, columns=["_id", "_start", "_stop", "_event", "r", "count", "x"])
    long["count"] = long["count"].astype(float)
    return fixed, long


@pytest.mark.parametrize("seed", [1, 2])
def test_time_varying_fit_agrees_with_lifelines(seed):
    _, long = _data(seed)
    ref = CoxTimeVaryingFitter().fit(
        long, id_col="_id", event_col="_event", start_col="_start", stop_col="_stop",
        fit_options=FIT_OPTIONS, show_progress=False,
    )  # fmt: skip
    fit = fit_time_varying(long)
    assert fit.model.converged
    mine, theirs = fit.model.summary, ref.summary
    assert list(mine.index) == list(theirs.index)
    for col in ("coef", "se(coef)", "z", "p", "exp(coef) lower 95%", "exp(coef) upper 95%"):
        assert np.allclose(mine[col], theirs[col], rtol=0, atol=TOL), col
    assert fit.model.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=TOL)
    assert fit.table["hr"].to_numpy() == pytest.approx(theirs["exp(coef)"].to_numpy(), abs=TOL)
    # The start point changes the path, not the maximum.
    start = pd.Series(ref.params_.to_numpy() * 0.5, index=ref.params_.index)
    again = fit_time_varying(long, start)
    assert np.allclose(again.model.params_, ref.params_, atol=TOL)


def test_counting_process_with_delayed_entry_and_ties_at_interval_edges():
    """Intervals that start at an event time are not at risk at it (start < t <= stop)."""
    _, long = _data(3, n=300)
    long = long.copy()
    late = long["_start"] > 0
    long.loc[late, "_start"] = long.loc[late, "_start"].round()  # edges on event times
    ref = CoxTimeVaryingFitter().fit(
        long, id_col="_id", event_col="_event", start_col="_start", stop_col="_stop",
        fit_options=FIT_OPTIONS, show_progress=False,
    )  # fmt: skip
    fit = fit_counting_process(
        long["_start"], long["_stop"], long["_event"], long[["r", "count", "x"]]
    )
    assert np.allclose(fit.params_, ref.params_, atol=TOL)
    assert np.allclose(fit.standard_errors_, ref.standard_errors_, atol=TOL)


@pytest.mark.parametrize("transform", ["km", "rank", "identity", "log"])
def test_ph_test_agrees_with_lifelines(transform):
    """Our test on our fit (as the pipeline runs it) against lifelines' on lifelines' fit."""
    fixed, _ = _data(4)
    fit = fit_cox(fixed["_time"], fixed["_event"], fixed[["x", "b", "c"]])
    assert isinstance(fit.model, EfronFit)
    cph = CoxPHFitter().fit(fit.data, "_time", "_event", fit_options=FIT_OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = proportional_hazard_test(cph, fit.data, time_transform=transform).summary
    mine = ph_test(fit.model, fit.data, transform)
    assert mine["covariate"].tolist() == [str(i) for i in ref.index]  # lifelines' order
    assert np.allclose(mine["statistic"], ref["test_statistic"], rtol=0, atol=TOL)
    assert np.allclose(mine["p"], ref["p"], rtol=0, atol=TOL)


def test_separation_is_reported_not_hidden():
    """A covariate that perfectly predicts the event order: a note, not a silent HR."""
    n = 60
    time = np.arange(1, n + 1, dtype=float)
    long = pd.DataFrame(
        {
            "_id": np.arange(n),
            "_start": 0.0,
            "_stop": time,
            "_event": 1,
            "z": (time < 30).astype(float),
            "w": np.random.default_rng(0).normal(size=n),
        }
    )
    fit = fit_time_varying(long)
    assert any("separation" in m for m in fit.notes), fit.notes
