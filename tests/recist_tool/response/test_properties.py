"""Property-based tests: invariants that hold for any valid cohort."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recist_tool.annotations import Measurement, read_annotations, to_frame, write_annotations
from recist_tool.response import evaluate

SIZES = st.decimals(min_value=0, max_value=150, places=1).map(float)
TARGET_FU = st.one_of(
    SIZES.map(lambda v: ("measured", v)),
    st.sampled_from([("too_small", None), ("disappeared", None), ("not_evaluated", None)]),
)
NT_FU = st.sampled_from(["present", "absent", "progression", "not_evaluated"])


@st.composite
def patients(draw, pid: str = "P1") -> list[Measurement]:
    n_t = draw(st.integers(0, 4))
    n_nt = draw(st.integers(0 if n_t else 1, 2))
    nodal = [draw(st.booleans()) for _ in range(n_t)]
    gaps = draw(st.lists(st.integers(14, 120), min_size=0, max_size=4))
    day0 = dt.date(2023, 1, 1) + dt.timedelta(days=draw(st.integers(0, 300)))
    days = np.cumsum([0, *gaps]).tolist()
    rows = []
    for k, day in enumerate(days):
        label, date = f"tp{k}", (day0 + dt.timedelta(days=int(day))).isoformat()
        for i in range(n_t):
            if k == 0:
                status, v = "measured", draw(st.decimals(15, 120, places=1).map(float))
            else:
                status, v = draw(TARGET_FU)
            la, sa = (v + 3 if v is not None else None, v) if nodal[i] else (v, None)
            rows.append(
                Measurement(
                    pid, label, date, f"T{i}", "target", f"organ{i}", nodal[i], la, sa, status
                )
            )
        for j in range(n_nt):
            status = "present" if k == 0 else draw(NT_FU)
            rows.append(Measurement(pid, label, date, f"N{j}", "non_target", "bone", status=status))
        if k > 0 and draw(st.integers(0, 5)) == 0:
            rows.append(
                Measurement(
                    pid,
                    label,
                    date,
                    f"X{k}",
                    "new",
                    "liver",
                    status=draw(st.sampled_from(["present", "equivocal"])),
                )
            )
    return rows


@st.composite
def cohorts(draw) -> list[Measurement]:
    n = draw(st.integers(1, 4))
    return [row for i in range(n) for row in draw(patients(pid=f"P{i}"))]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cohorts())
def test_an_unequivocal_new_lesion_always_gives_pd(rows):
    res = evaluate(rows).timepoints
    with_new = {
        (r.patient_id, r.timepoint) for r in rows if r.kind == "new" and r.status == "present"
    }
    for pid, label, overall in res[["patient_id", "timepoint", "overall_response"]].itertuples(
        index=False
    ):
        if (pid, label) in with_new:
            assert overall == "PD"


@FAST
@given(cohorts(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_any_result(rows, rnd):
    a = evaluate(rows)
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    b = evaluate(shuffled)
    pd.testing.assert_frame_equal(a.timepoints, b.timepoints)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(
        a.messages.reset_index(drop=True), b.messages.reset_index(drop=True)
    )


@FAST
@given(cohorts())
def test_patients_are_evaluated_independently(rows):
    together = evaluate(rows).patients
    for pid in together["patient_id"]:
        alone = evaluate([r for r in rows if r.patient_id == pid]).patients
        pd.testing.assert_frame_equal(
            together[together["patient_id"] == pid].reset_index(drop=True), alone
        )


@FAST
@given(cohorts())
def test_overall_pd_exactly_when_a_component_is_pd(rows):
    t = evaluate(rows).timepoints.iloc[1:]
    t = t[t["days_from_baseline"] > 0]
    component = (
        (t["target_response"] == "PD")
        | (t["non_target_response"] == "PD")
        | (t["new_lesions"] == "yes")
    )
    assert ((t["overall_response"] == "PD") == component).all()


@FAST
@given(cohorts())
def test_best_response_is_reached_before_progression(rows):
    res = evaluate(rows)
    rank = {"CR": 4, "PR": 3, "SD": 2, "NON-CR/NON-PD": 1}
    for p in res.patients.itertuples(index=False):
        tps = res.timepoints[res.timepoints["patient_id"] == p.patient_id].iloc[1:]
        if p.best_overall_response in rank:
            assert (tps["date"] <= p.best_response_date).any()
            if pd.notna(p.progression_date):
                assert p.best_response_date < p.progression_date
        if p.pfs_event == 1:
            assert (tps["overall_response"] == "PD").any()


@FAST
@given(cohorts())
def test_sums_are_exact_decimal_sums(rows):
    res = evaluate(rows).timepoints
    for (pid, label), grp in to_frame(rows).groupby(["patient_id", "timepoint"]):
        tgt = grp[grp["kind"] == "target"]
        if tgt.empty or (tgt["status"] == "not_evaluated").any():
            continue
        value = np.where(
            tgt["status"] == "too_small",
            5.0,
            np.where(tgt["nodal"], tgt["short_axis_mm"], tgt["long_axis_mm"]),
        )
        value = np.where((tgt["status"] == "disappeared") & ~tgt["nodal"], 0, value)
        value = np.where((tgt["status"] == "disappeared") & tgt["nodal"], 0, value)
        expected = round(float(np.nansum(value)), 6)
        got = res[(res["patient_id"] == pid) & (res["timepoint"] == label)]["sum_mm"].iat[0]
        assert got == expected


@settings(max_examples=25, deadline=None)
@given(cohorts())
def test_write_read_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("rt") / "a.csv"
    write_annotations(rows, path)
    back = read_annotations(path)
    original = to_frame(rows)
    for col in ("patient_id", "timepoint", "lesion_id", "kind", "status", "organ"):
        assert back[col].astype(str).tolist() == original[col].astype(str).tolist()
    assert back["nodal"].tolist() == original["nodal"].tolist()
    for col in ("long_axis_mm", "short_axis_mm"):
        np.testing.assert_array_equal(back[col].to_numpy(), original[col].to_numpy())
    pd.testing.assert_frame_equal(evaluate(back).patients, evaluate(rows).patients)
