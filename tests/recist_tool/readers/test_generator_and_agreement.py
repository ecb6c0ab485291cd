"""The synthetic double-read cohort, reader assignment, and agreement on it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recist_tool.readers.agreement import compute_agreement
from recist_tool.readers.cohort import load_cohort
from recist_tool.readers.stats import bland_altman, icc_2_1
from recist_tool.response import evaluate
from recist_tool.synth.cohort import CohortParams
from recist_tool.synth.double_read import ReaderParams, generate_double_read
from recist_tool.worklist import Worklist, WorklistError, assign_readers, read_assignments


def test_round_robin_assignment():
    a = pd.DataFrame(
        assign_readers(["P1", "P2", "P3", "P4", "P5", "P6"], ["r1", "r2", "r3"], per_patient=2),
        columns=["patient_id", "reader"],
    )
    pairs = a.groupby("patient_id", sort=False)["reader"].apply(tuple).tolist()
    assert pairs == [("r1", "r2"), ("r2", "r3"), ("r3", "r1")] * 2
    assert a["reader"].value_counts().to_dict() == {"r1": 4, "r2": 4, "r3": 4}
    assert len(assign_readers(["P1", "P2"], ["a", "b"], 2)) == 4  # double reading: both read all
    with pytest.raises(WorklistError, match="needs between 1 and 2"):
        assign_readers(["P1"], ["a", "b"], per_patient=3)
    with pytest.raises(WorklistError, match="reader named twice"):
        assign_readers(["P1"], ["a", "a"])
    with pytest.raises(WorklistError, match="not a usable reader name"):
        assign_readers(["P1"], ["a/b", "c"])
    with pytest.raises(WorklistError, match="patient listed twice: P1"):
        assign_readers(["P1", "P1"], ["a"])
    assert assign_readers(["P1"], []) == [("P1", "")]  # unassigned: the first to save takes it


def test_assignment_csv(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("patient_id,reader\nP1,ann\nP1,bob\nP2,ann\n")
    assert read_assignments(p) == [("P1", "ann"), ("P1", "bob"), ("P2", "ann")]
    p.write_text("patient_id,reader\nP1,ann\n,bob\nP1,ann\nP3,../x\n")
    with pytest.raises(WorklistError) as err:
        read_assignments(p)
    text = str(err.value)
    assert "a.csv: line 3: column patient_id: empty" in text
    assert "a.csv: line 4: 'P1' assigned to 'ann' again (first on line 2)" in text
    assert "line 5: column reader: '../x' is not a usable reader name" in text


def test_generated_readings(double_read):
    folder, dr = double_read
    assert sorted(p.name for p in (folder / "readings").iterdir()) == ["reader1", "reader2"]
    assert len(list((folder / "readings/reader1").glob("*.csv"))) == 60
    for name in ("clinical.csv", "treatments.csv", "truth.csv"):
        assert (folder / name).is_file()
    # A worklist cohort: both readers assigned to every patient, every reading done.
    wl = Worklist.open(folder)
    assert wl.source["kind"] == "synthetic"
    assert wl.progress_by_reader()["reader1"] == {
        "not_started": 0, "in_progress": 0, "done": 60, "signed": 0, "total": 60, "finished": 60,
    }  # fmt: skip
    e = wl.entry("SYN00002", "reader2")
    assert e.timepoints[0][0] == "baseline" and e.timepoints[1][0] == "fu1"
    assert [p.timepoint for p in wl.studies if p.patient_id == "SYN00002"][:2] == [
        "baseline",
        "fu1",
    ]
    # The truth's responses are kept by X1 (a non-target following the targets).
    truth = evaluate(dr.truth_annotations).patients
    base = evaluate(dr.cohort.annotations).patients
    assert (truth["best_overall_response"] == base["best_overall_response"]).all()
    # Readers differ from each other and from the truth, but not much.
    r1 = dr.readings["reader1"].set_index(["patient_id", "timepoint", "lesion_id"])
    r2 = dr.readings["reader2"].set_index(["patient_id", "timepoint", "lesion_id"])
    assert set(r1["reader"]) == {"reader1"}
    both = r1.join(r2, rsuffix="_b", how="inner")
    t = both[(both["kind"] == "target") & (both["kind_b"] == "target")]
    t = t[(t["long_axis_mm"] > 0) & (t["long_axis_mm_b"] > 0)]
    assert (t["long_axis_mm"] != t["long_axis_mm_b"]).mean() > 0.9
    events = dr.events["event"]
    assert events.str.startswith("other target").any()
    # Same seed, same cohort.
    again = generate_double_read(CohortParams(n=60), seed=4)
    pd.testing.assert_frame_equal(again.readings["reader2"], dr.readings["reader2"])


def test_measurement_noise_matches_its_parameters():
    # CV of a diameter between two readers: sqrt(2) * sigma per reader-visit over
    # sqrt(2) (within-lesion SD of two readings) -> about sqrt(0.05² + 0.05²) = 7.1 %.
    dr = generate_double_read(
        CohortParams(n=150), ReaderParams(p_other_target=0, p_new_lesion=0), seed=2
    )
    a = dr.readings["reader1"]
    b = dr.readings["reader2"]
    k = ["patient_id", "timepoint", "lesion_id"]
    m = a.merge(b, on=k, suffixes=("_a", "_b"))
    m = m[(m["kind_a"] == "target") & (m["status_a"] == "measured") & (m["long_axis_mm_a"] > 5)]
    d = np.log(m["long_axis_mm_a"] / m["long_axis_mm_b"])
    cv = float(np.std(d) / np.sqrt(2))
    assert 0.06 < cv < 0.085


def test_agreement_on_the_generated_cohort(double_read, tmp_path):
    folder, dr = double_read
    res = compute_agreement(load_cohort(folder))
    t = res.agreement

    class _A:
        def __getitem__(self, key):
            (measure, statistic), col = key
            rows = t[(t["measure"] == measure) & (t["statistic"] == statistic)]
            return rows[col].iloc[0]

    a = type("A", (), {"loc": _A()})()
    cv = a.loc[("lesion_diameter", "coefficient_of_variation_pct"), "estimate"]
    assert 5 < cv < 10  # the "LD CV 5-10 %"
    assert 0.5 < a.loc[("bor", "kappa"), "estimate"] < 1
    assert (
        a.loc[("baseline_sod", "icc_2_1"), "ci_low"]
        < a.loc[("baseline_sod", "icc_2_1"), "estimate"]
    )
    # Target choice: the generator's events are what agreement reports (targets differ
    # when exactly one of the two readers took X1).
    other = dr.events[dr.events["event"].str.startswith("other target")]
    n_diff = int((other.groupby("patient_id")["reader"].nunique() == 1).sum())
    rate = a.loc[("target_choice", "patients_with_different_targets_rate"), "estimate"]
    assert rate == pytest.approx(n_diff / 60)
    # PD discordance equals the patients whose progression is recorded by one reader.
    p = res.pairs
    one = (p["progression_date_a"].notna() != p["progression_date_b"].notna()).sum()
    assert a.loc[("progression", "pd_discordance_rate"), "estimate"] == pytest.approx(one / 60)
    files = res.write(tmp_path / "agr")
    names = {f.name for f in files}
    assert {"agreement.csv", "bland_altman.csv", "lesion_differences.csv", "summary.json"} <= names
    assert "bland_altman_baseline_sod_reader1_reader2.png" in names
    assert "bland_altman_change_first_followup_reader1_reader2.pdf" in names
    assert (tmp_path / "agr/bland_altman_baseline_sod_reader1_reader2.png").read_bytes()[:4] == (
        b"\x89PNG"
    )
    # A rerun without figures leaves one run's results only.
    res2 = compute_agreement(load_cohort(folder), figures=False)
    res2.write(tmp_path / "agr")
    assert not list((tmp_path / "agr").glob("*.png"))
    assert "notes" in json.loads((tmp_path / "agr/summary.json").read_text())


def test_three_readers_give_every_pair(tmp_path):
    from recist_tool.synth.double_read import write_double_read

    dr = generate_double_read(CohortParams(n=30), ReaderParams(n_readers=3), seed=1)
    write_double_read(dr, tmp_path / "c")
    res = compute_agreement(load_cohort(tmp_path / "c"), figures=False)
    pairs = set(zip(res.agreement["reader_a"], res.agreement["reader_b"], strict=True))
    assert pairs == {("reader1", "reader2"), ("reader1", "reader3"), ("reader2", "reader3")}
    n = res.agreement[res.agreement["statistic"] == "pd_discordance_rate"]
    assert set(n[n["measure"] == "progression"]["n"]) == {10}  # 30 patients, 2 of 3 readers


def test_bland_altman_and_icc_known_answers():
    a = np.array([10.0, 12.0, 14.0, 16.0])
    b = np.array([9.0, 12.0, 13.0, 14.0])
    ba = bland_altman(a, b)  # differences 1, 0, 1, 2
    assert ba.bias == pytest.approx(1.0)
    assert ba.sd == pytest.approx(np.std([1, 0, 1, 2], ddof=1))
    assert ba.loa_high == pytest.approx(1 + 1.96 * ba.sd)
    # Identical readers agree perfectly; a constant offset lowers ICC(2,1) (absolute
    # agreement) but not the correlation.
    x = np.arange(10.0)
    assert icc_2_1(np.column_stack([x, x])).icc == pytest.approx(1.0)
    assert icc_2_1(np.column_stack([x, x + 3])).icc < 0.9
    assert np.isnan(icc_2_1(np.ones((1, 2))).icc)
