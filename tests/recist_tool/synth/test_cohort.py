"""The synthetic cohort: calibration targets, consistency, RECIST round trip, CLI."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from recist_tool.synth.cohort import CohortParams, generate_cohort, write_cohort

DPM = 30.4375


@pytest.fixture(scope="module")
def study_cohort():
    return generate_cohort(CohortParams(), seed=11)


@pytest.fixture(scope="module")
def big_cohort():
    return generate_cohort(CohortParams(n=6000), seed=5)


def _km_median(months: pd.Series, event: pd.Series) -> float:
    from lifelines import KaplanMeierFitter

    return float(KaplanMeierFitter().fit(months, event).median_survival_time_)


def test_published_shares(study_cohort):
    c = study_cohort
    cl, tr = c.clinical, c.truth
    assert len(cl) == 211
    ct = tr["imaging_response"] != ""
    assert ct.sum() == 125
    img = tr.loc[ct, "imaging_response"].replace({"CR": "PR"}).value_counts()
    assert img.to_dict() == {"SD": 75, "PR": 25, "PD": 25}
    assert (cl["symptomatic_response"] == "yes").sum() == round(0.71 * 211)
    bio = cl["biochemical_response"].value_counts()
    assert bio["response"] == round(0.34 * 211)
    assert bio["progression"] == 211 - round(0.82 * 211)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_median_os_within_sampling_error_at_study_size(seed):
    c = generate_cohort(CohortParams(), seed=seed)
    med = _km_median(c.truth["os_days"] / DPM, c.truth["death"])
    assert 29 * 0.75 < med < 29 * 1.3  # ~3 standard errors at n = 211


def test_calibration_on_a_large_cohort(big_cohort):
    c = big_cohort
    t = c.truth["os_days"] / DPM
    e = c.truth["death"]
    assert _km_median(t, e) == pytest.approx(29, abs=2.0)
    ct = c.truth["imaging_response"] != ""
    shares = c.truth.loc[ct, "imaging_response"].replace({"CR": "PR"}).value_counts(normalize=True)
    assert shares["PR"] == pytest.approx(0.2, abs=0.01)
    assert shares["SD"] == pytest.approx(0.6, abs=0.01)

    def diff(better: pd.Series) -> float:
        return _km_median(t[better], e[better]) - _km_median(t[~better], e[~better])

    # "+N months" of the study (differences of medians), within a few months.
    cl = c.clinical
    assert diff(cl["symptomatic_response"] == "yes") == pytest.approx(30, abs=5)
    assert diff(cl["biochemical_response"] != "progression") == pytest.approx(40, abs=6)
    good = c.truth["imaging_response"] != "PD"
    img = _km_median(t[ct & good], e[ct & good]) - _km_median(t[ct & ~good], e[ct & ~good])
    assert img == pytest.approx(32, abs=5)
    assert diff(cl["n_treatments"] > 1) == pytest.approx(24, abs=5)


def test_courses_are_consistent(study_cohort):
    c = study_cohort
    tr = c.truth.set_index("patient_id")
    # Assessed only if alive at the assessment (guarantee time).
    ct = tr["first_ct_days"].notna()
    assert (tr.loc[ct, "os_days"] > tr.loc[ct, "first_ct_days"]).all()
    assert (tr.loc[ct, "last_scan_days"] < tr.loc[ct, "os_days"]).all()
    t0 = pd.to_datetime(c.clinical.set_index("patient_id")["treatment_date"])
    last = pd.to_datetime(c.clinical.set_index("patient_id")["last_contact_date"])
    tdates = pd.to_datetime(c.treatments["date"])
    pid = c.treatments["patient_id"]
    assert (tdates.to_numpy() >= t0[pid].to_numpy()).all()
    assert (tdates.to_numpy() <= last[pid].to_numpy()).all()
    n = c.treatments.groupby("patient_id").size()
    assert (n.reindex(c.clinical["patient_id"]).to_numpy() == c.clinical["n_treatments"]).all()


def test_same_seed_same_cohort():
    a = generate_cohort(CohortParams(n=40), seed=3)
    b = generate_cohort(CohortParams(n=40), seed=3)
    d = generate_cohort(CohortParams(n=40), seed=4)
    pd.testing.assert_frame_equal(a.annotations, b.annotations)
    pd.testing.assert_frame_equal(a.clinical, b.clinical)
    assert not a.clinical.equals(d.clinical)


def test_recist_engine_reproduces_the_courses(tmp_path):
    from recist_tool.annotations import read_annotations
    from recist_tool.response import ResponseSettings, evaluate

    c = generate_cohort(CohortParams(n=300, cr_share_of_response=0.4), seed=8)
    files = write_cohort(c, tmp_path)
    assert {f.name for f in files} >= {"annotations.csv", "clinical.csv", "treatments.csv"}
    ev = evaluate(read_annotations(tmp_path / "annotations.csv"), ResponseSettings())
    pts = ev.patients.set_index("patient_id")
    tr = c.truth.set_index("patient_id")
    ct = tr["imaging_response"] != ""
    assert (tr.loc[ct, "imaging_response"] == "CR").sum() > 0
    got = pts.loc[tr.index[ct], "first_followup_response"]
    assert (got.to_numpy() == tr.loc[ct, "imaging_response"].to_numpy()).all()
    t0 = pd.to_datetime(c.clinical.set_index("patient_id")["treatment_date"])
    prog = pd.to_datetime(pts.loc[tr.index[ct], "progression_date"])
    days = (prog - t0[prog.index]).dt.days
    want = tr.loc[ct, "progression_days"]
    assert np.allclose(days.fillna(-1), want.fillna(-1))


def _cli(monkeypatch, capsys, *args):
    from recist_tool.cli import main

    monkeypatch.setattr(sys, "argv", ["recist-tool", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


def test_cli(monkeypatch, capsys, tmp_path):
    code, out = _cli(
        monkeypatch,
        capsys,
        "synth",
        "cohort",
        "--n",
        "30",
        "--seed",
        "2",
        "-o",
        str(tmp_path / "c"),
    )
    assert code == 0, out.err
    assert "30 patients" in out.out
    clinical = pd.read_csv(tmp_path / "c" / "clinical.csv")
    assert len(clinical) == 30
    code, out = _cli(monkeypatch, capsys, "synth", "cohort", "--n", "0", "-o", str(tmp_path))
    assert code == 2 and "--n" in out.err
    code, out = _cli(monkeypatch, capsys, "synth", "cohort", "--n", "5")
    assert code == 2 and "--outdir" in out.err
