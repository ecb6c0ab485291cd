"""Synthetic cohort -> RECIST batch -> survival: the study's pattern and its bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recist_tool.batch import run_batch
from recist_tool.survival import SurvivalSettings, run_survival
from recist_tool.synth.cohort import CohortParams, generate_cohort, write_cohort

N = 700


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    write_cohort(generate_cohort(CohortParams(n=N), seed=5), tmp / "cohort")
    run_batch(tmp / "cohort" / "annotations.csv", tmp / "batch")
    settings = SurvivalSettings(endpoints=("os", "pfs"), grouping="control", figures=False)
    return run_survival(
        tmp / "cohort" / "clinical.csv",
        tmp / "batch" / "patients.csv",
        tmp / "cohort" / "treatments.csv",
        tmp / "out",
        settings,
    )


def test_imaging_groups_separate_as_in_the_study(result):
    lr = result.logrank.set_index(["endpoint", "analysis", "predictor"])
    row = lr.loc[("os", "naive", "imaging_response")]
    assert row["p"] < 0.001
    assert row["median_difference_months"] > 15  # response+stable vs progression
    km = result.km
    img = km[
        (km.endpoint == "os") & (km.analysis == "naive") & (km.predictor == "imaging_response")
    ]
    # 125/211 of the cohort has a CT; NE (no follow-up) is missing, not a group.
    assert img.n.sum() == round(N * 125 / 211)


def test_retreatment_looks_protective_only_in_the_naive_analysis(result):
    # The generator gives retreatment no effect at all: only survivors get it.
    lr = result.logrank.set_index(["endpoint", "analysis", "predictor"])
    naive = lr.loc[("os", "naive", "n_treatments")]
    assert naive["p"] < 0.001 and naive["median_difference_months"] > 10  # "> 1 vs 1"
    cox = result.cox[result.cox.endpoint == "os"].set_index(["analysis", "covariate"])
    assert cox.loc[("naive", "n_treatments"), "hr"] < 1
    tv = cox.loc[("time_varying", "n_treatments")]
    assert tv["ci_low"] < 1 < tv["ci_high"]


def test_pfs_uses_recist_progression(result):
    km = result.km
    allrow = km[(km.endpoint == "pfs") & (km.analysis == "naive") & (km.predictor == "all")]
    assert allrow.n.iloc[0] == round(N * 125 / 211)  # only patients with follow-up CT
    assert 0 < allrow.events.iloc[0] < allrow.n.iloc[0]
    assert isinstance(result.cox, pd.DataFrame)


def test_pfs_imaging_only_in_the_landmark_model(result):
    cox = result.cox[result.cox.endpoint == "pfs"]
    img = cox[cox.covariate.str.startswith("imaging_response")]
    # (With response+stable vs progression nothing is left to compare at the landmark:
    # the progression group has had its PFS event by then.)
    assert set(img.analysis) <= {"landmark"}
    assert len(cox[cox.analysis == "naive"]) > 0
    assert any("imaging_response is left out" in n for n in result.notes)


def test_founding_table_agrees_with_the_analysis_and_the_truth(result):
    f = result.founding.set_index(["comparison", "analysis"])
    lr = result.logrank.set_index(["endpoint", "analysis", "predictor"])
    # the imaging comparison is the control grouping's log-rank (response+stable vs PD)
    img = f.loc[("imaging", "naive")]
    assert img["logrank_p"] == pytest.approx(lr.loc[("os", "naive", "imaging_response"), "p"])
    assert img["difference_months"] == pytest.approx(
        lr.loc[("os", "naive", "imaging_response"), "median_difference_months"]
    )
    assert img["n_better"] + img["n_worse"] == round(N * 125 / 211)
    tr = f.loc[("treatments", "naive")]
    assert tr["logrank_p"] == pytest.approx(lr.loc[("os", "naive", "n_treatments"), "p"])
    assert tr["difference_ci_low"] > 0  # naive: retreatment looks protective
    assert f.loc[("treatments", "time_varying"), "hr_ci_low"] < 1  # and is not
    assert f.loc[("treatments", "time_varying"), "hr_ci_high"] > 1
    for key in ("symptomatic", "biochemical", "imaging", "treatments"):
        row = f.loc[(key, "naive")]
        assert row["difference_ci_low"] < row["difference_months"] < row["difference_ci_high"]
        assert np.isfinite(f.loc[(key, "time_varying"), "hr"])
