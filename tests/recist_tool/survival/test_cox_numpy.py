"""The numpy fixed-time Cox fit and Harrell's C against lifelines (the reference).

``fit_cox`` fits with :func:`recist_tool.survival.efron.fit_right_censored`; lifelines'
``CoxPHFitter`` must give the same coefficients, standard errors, confidence limits, p
and log-likelihood (1e-6) on data with tied times, tied covariate rows, binary, count
and continuous covariates. The concordance is lifelines' ``concordance_index`` to the
last bit; R (test_r_crosscheck.py) checks the fit's C where covariate rows are tied.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index

from recist_tool.survival.cox import FIT_OPTIONS, fit_cox
from recist_tool.survival.efron import EfronFit, concordance

TOL = 1e-6


def _cohorts(n_sets: int):
    rng = np.random.default_rng(20261207)
    for _ in range(n_sets):
        n = int(rng.integers(25, 260))
        p = int(rng.integers(1, 5))
        cols = {}
        for j in range(p):
            kind = rng.integers(0, 4)
            if kind == 0:
                cols[f"c{j}"] = rng.normal(size=n).round(int(rng.integers(0, 3)))
            elif kind == 1:
                cols[f"b{j}"] = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(float)
            elif kind == 2:
                cols[f"k{j}"] = rng.integers(0, 5, n).astype(float)
            else:  # a three-level factor as two dummies
                lv = rng.integers(0, 3, n)
                cols[f"f{j}a"], cols[f"f{j}b"] = (lv == 1).astype(float), (lv == 2).astype(float)
        x = pd.DataFrame(cols)
        eta = x.to_numpy() @ rng.normal(0, 0.4, x.shape[1])
        t = rng.exponential(12 * np.exp(-eta))
        t = np.ceil(t) if rng.random() < 0.6 else t.round(2)  # many tied times or few
        c = rng.uniform(2, 60, n)
        time = pd.Series(np.minimum(t, c).clip(0.5, None))
        event = pd.Series((t <= c).astype(int))
        yield time, event, x


def test_fixed_time_fit_agrees_with_lifelines_on_many_cohorts():
    compared = 0
    for time, event, x in _cohorts(40):
        fit = fit_cox(time, event, x)
        if not isinstance(fit.model, EfronFit):  # left to lifelines (e.g. separation)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = CoxPHFitter().fit(fit.data, "_time", "_event", fit_options=FIT_OPTIONS)
        mine, theirs = fit.model.summary, ref.summary
        assert list(mine.index) == list(theirs.index)
        for col in (
            "coef",
            "exp(coef)",
            "se(coef)",
            "exp(coef) lower 95%",
            "exp(coef) upper 95%",
            "z",
            "p",
        ):
            np.testing.assert_allclose(mine[col], theirs[col], rtol=TOL, atol=TOL, err_msg=col)
        assert fit.model.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=TOL)
        np.testing.assert_allclose(fit.model.variance_matrix_, ref.variance_matrix_, atol=TOL)
        table = fit.table.set_index("covariate")
        np.testing.assert_allclose(table["hr"], theirs["exp(coef)"], rtol=TOL)
        np.testing.assert_allclose(table["p"], theirs["p"], atol=TOL)
        # lifelines' C ranks its own partial hazards; where no two patients share a
        # covariate row, nothing can be tied and both must agree.
        if not x.loc[fit.data.index].duplicated().any():
            assert fit.concordance == pytest.approx(ref.concordance_index_, abs=1e-9)
        compared += 1
    assert compared >= 35


def test_tied_covariate_rows_count_half_in_the_concordance():
    """Patients with the same covariates have the same risk: half a concordant pair each.

    lifelines ranks ``exp(X @ beta)`` computed row by row, where equal rows can differ
    in the last bit and count as concordant or not by chance (R's ``coxph`` and ours
    count them as ties)."""
    # deaths at 1..6; x: 1, 1, 0, 1, 0, 0 -> pairs (i < j, i died): 15, of which tied
    # 6 (1-2, 1-4, 2-4, 3-5, 3-6, 5-6), concordant x_i > x_j: 1-3, 1-5, 1-6, 2-3, 2-5,
    # 2-6, 4-5, 4-6 = 8, discordant 3-4 = 1.
    time = pd.Series([1.0, 2, 3, 4, 5, 6])
    x = pd.DataFrame({"x": [1.0, 1, 0, 1, 0, 0]})
    fit = fit_cox(time, pd.Series([1] * 6), x)
    assert isinstance(fit.model, EfronFit)
    assert fit.concordance == pytest.approx((8 + 6 / 2) / 15, abs=1e-15)


def _scores(rng, n):
    if rng.random() < 0.5:
        return rng.integers(0, int(rng.integers(1, 6)), n).astype(float)  # many ties
    return rng.normal(size=n)


def _lifelines_c(t, e, s) -> float:
    """lifelines' C of risk ``s`` (NaN without a comparable pair, where it raises)."""
    try:
        return concordance_index(t, -s, e)
    except ZeroDivisionError:
        return float("nan")


def test_concordance_is_lifelines_concordance_index():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 150))
        t = np.round(rng.exponential(10, n), int(rng.integers(0, 2)))
        e = rng.random(n) < rng.random()
        s = _scores(rng, n)
        ref = _lifelines_c(t, e, s)
        mine = concordance(t, e, s)
        assert mine == ref or (np.isnan(mine) and np.isnan(ref)), (n, mine, ref)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # time: many ties
            st.booleans(),  # event
            st.integers(-2, 2),  # risk score: many ties
        ),
        min_size=1,
        max_size=40,
    )
)
def test_concordance_fuzz(rows):
    t = np.array([r[0] for r in rows], float)
    e = np.array([r[1] for r in rows])
    s = np.array([r[2] for r in rows], float)
    ref = _lifelines_c(t, e, s)
    mine = concordance(t, e, s)
    assert mine == ref or (np.isnan(mine) and np.isnan(ref))


def test_problem_fits_are_left_to_lifelines_with_its_warnings():
    """Separation and near-constant columns: lifelines fits, and its words are the notes."""
    n = 60
    time = np.arange(1, n + 1, dtype=float)
    sep = pd.DataFrame(
        {"z": (time < 30).astype(float), "w": np.random.default_rng(0).normal(size=n)}
    )
    fit = fit_cox(pd.Series(time), pd.Series(np.ones(n, int)), sep)
    assert isinstance(fit.model, CoxPHFitter)
    assert any("separation" in m for m in fit.notes), fit.notes

    rng = np.random.default_rng(1)
    n = 200
    low = pd.DataFrame({"x": rng.normal(size=n) * 0.001, "b": rng.integers(0, 2, n) * 1.0})
    t = pd.Series(rng.exponential(10, n).round())
    fit = fit_cox(t, pd.Series((rng.random(n) < 0.7).astype(int)), low)
    assert isinstance(fit.model, CoxPHFitter)
    assert any("very low variance" in m for m in fit.notes), fit.notes
