"""Guarantee-time bias: response and retreatment that are pure noise.

Survival does not depend on anything. Patients "respond" at a random monthly visit
and are retreated at random later visits — but only while alive. The naive
comparison from time zero then makes both look protective; the landmark and the
time-varying analyses must not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recist_tool.survival.inputs import read_inputs
from recist_tool.survival.pipeline import SurvivalSettings, analyse


@pytest.fixture(scope="module")
def noise_result():
    rng = np.random.default_rng(20181101)
    n = 800
    t0 = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")
    death = np.ceil(rng.exponential(365, n))
    cens = rng.integers(300, 1500, n)
    end = np.minimum(death, cens)
    rows, treatments = [], []
    for i in range(n):
        pid = f"N{i:04d}"
        resp, resp_day = "no", None
        for visit in range(30, 361, 30):
            if visit >= end[i]:
                break
            if rng.random() < 0.12:
                resp, resp_day = "yes", visit
                break
        treatments.append((pid, t0[i]))
        for visit in range(120, 1500, 120):
            if visit >= end[i]:
                break
            if rng.random() < 0.4:
                treatments.append((pid, t0[i] + pd.Timedelta(days=visit)))
        rows.append(
            {
                "patient_id": pid,
                "treatment_date": t0[i].strftime("%Y-%m-%d"),
                "last_contact_date": (t0[i] + pd.Timedelta(days=int(end[i]))).strftime("%Y-%m-%d"),
                "death": int(death[i] <= cens[i]),
                "response": resp,
                "response_date": ""
                if resp_day is None
                else (t0[i] + pd.Timedelta(days=resp_day)).strftime("%Y-%m-%d"),
            }
        )
    clinical = pd.DataFrame(rows)
    tr = pd.DataFrame(treatments, columns=["patient_id", "date"])
    tr["date"] = tr["date"].dt.strftime("%Y-%m-%d")
    inputs = read_inputs(clinical, None, tr)
    result, _ = analyse(inputs, SurvivalSettings(landmark_months=6, figures=False))
    return result.cox.set_index(["analysis", "covariate"])


def test_naive_analysis_is_biased(noise_result):
    resp = noise_result.loc[("naive", "response: yes vs no")]
    treat = noise_result.loc[("naive", "n_treatments")]
    assert resp["hr"] < 0.8 and resp["p"] < 0.05
    assert treat["hr"] < 0.8 and treat["p"] < 0.05


@pytest.mark.parametrize("analysis", ["landmark", "time_varying"])
def test_landmark_and_time_varying_are_not(noise_result, analysis):
    resp = noise_result.loc[(analysis, "response: yes vs no")]
    assert 0.75 < resp["hr"] < 1.33
    assert resp["ci_low"] < 1 < resp["ci_high"]
    if analysis == "time_varying":
        treat = noise_result.loc[(analysis, "n_treatments")]
        assert 0.8 < treat["hr"] < 1.25
        assert treat["ci_low"] < 1 < treat["ci_high"]


def test_landmark_excludes_patients_gone_before_it(noise_result):
    lm = noise_result.loc["landmark"].iloc[0]
    naive = noise_result.loc["naive"].iloc[0]
    assert lm["n_excluded"] > 0
    assert lm["n"] + lm["n_excluded"] == naive["n"]
