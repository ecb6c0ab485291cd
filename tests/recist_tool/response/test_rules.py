"""Every rule and worked example of shared/recist11.md, table-driven.

Each case is one patient's measurements; the expected values are those the rules
state, and the results are computed by the engine from those measurements.
"""

from __future__ import annotations

import math

import pytest

from recist_tool.annotations import to_frame
from recist_tool.errors import AnnotationError
from recist_tool.response import ResponseSettings, evaluate
from tests.recist_tool.cohort_builder import (
    GONE,
    NE_,
    TOO_SMALL,
    new,
    node,
    nt,
    patient,
    tp,
)


def overall(rows, **settings) -> list[str]:
    """Overall response at each follow-up time point."""
    res = evaluate(rows, ResponseSettings(**settings))
    return res.timepoints["overall_response"].tolist()[1:]


def column(rows, name, **settings) -> list:
    res = evaluate(rows, ResponseSettings(**settings))
    return res.timepoints[name].tolist()[1:]


def best(rows, **settings) -> str:
    return evaluate(rows, ResponseSettings(**settings)).patients["best_overall_response"].iat[0]


# ---------------------------------------------------------------- §8 worked examples
WORKED = [
    ("BL 100 -> 70: PR", [tp(0, L1=100), tp(56, L1=70)], ["PR"]),
    ("BL 100 -> 70.1: SD", [tp(0, L1=100), tp(56, L1=70.1)], ["SD"]),
    ("BL 20 -> 24: SD (+4 mm only)", [tp(0, L1=20), tp(56, L1=24)], ["SD"]),
    ("BL 20 -> 25: PD", [tp(0, L1=20), tp(56, L1=25)], ["PD"]),
    (
        "50 -> 55 -> 60: nadir is baseline",
        [tp(0, L1=50), tp(56, L1=55), tp(112, L1=60)],
        ["SD", "PD"],
    ),
    (
        "100 -> 60 -> 72: +20 % from nadir",
        [tp(0, L1=100), tp(56, L1=60), tp(112, L1=72)],
        ["PR", "PD"],
    ),
    (
        "liver 30 + node 20 -> gone + node 8: CR",
        [tp(0, L1=30, N1=node(20)), tp(56, L1=GONE, N1=node(8))],
        ["CR"],
    ),
    (
        "20+20+10 -> 40+40+NE: PD on the partial sum",
        [tp(0, A=20, B=20, C=10), tp(56, A=40, B=40, C=NE_)],
        ["PD"],
    ),
    ("20+20+10 -> 10+10+NE: NE", [tp(0, A=20, B=20, C=10), tp(56, A=10, B=10, C=NE_)], ["NE"]),
    (
        "targets CR, one NT not evaluated: PR",
        [tp(0, L1=20, T1=nt()), tp(56, L1=GONE, T1=nt("not_evaluated"))],
        ["PR"],
    ),
    (
        "NT-only patient, NT present: NON-CR/NON-PD",
        [tp(0, T1=nt()), tp(56, T1=nt())],
        ["NON-CR/NON-PD"],
    ),
    ("BL 33.3 -> 23.31 is exactly -30 %: PR", [tp(0, L1=33.3), tp(56, L1=23.31)], ["PR"]),
    (
        "nodes staying < 10 mm stay CR: 16+16 -> 5+5 -> 9+9",
        [
            tp(0, N1=node(16), N2=node(16)),
            tp(56, N1=node(5), N2=node(5)),
            tp(112, N1=node(9), N2=node(9)),
        ],
        ["CR", "CR"],
    ),
]


@pytest.mark.parametrize(("name", "tps", "expected"), WORKED, ids=[w[0] for w in WORKED])
def test_worked_examples(name, tps, expected):
    assert overall(patient(*tps)) == expected


def test_sum_of_diameters_uses_node_short_axis():
    rows = patient(tp(0, L1=32, L2=18, N1=node(17, la=25)), organs={"L2": "lung"})
    res = evaluate(rows)
    assert res.patients["baseline_sum_mm"].iat[0] == 67


def test_cr_sum_keeps_node_short_axis():
    rows = patient(tp(0, L1=30, N1=node(20)), tp(56, L1=GONE, N1=node(8)))
    assert column(rows, "sum_mm") == [8]


# ---------------------------------------------------------------- §2 lesion states
def test_too_small_counts_5_mm():
    rows = patient(tp(0, A=30, B=20), tp(56, A=10, B=TOO_SMALL))
    assert column(rows, "sum_mm") == [15]
    assert overall(rows) == ["PR"]  # 15 <= 0.7 * 50


def test_disappeared_node_keeps_its_short_axis():
    rows = patient(tp(0, N1=node(20), L1=20), tp(56, N1=node(7, status="disappeared"), L1=20))
    assert column(rows, "sum_mm") == [27]


def test_measured_below_5mm_is_kept():
    rows = patient(tp(0, L1=20), tp(56, L1=3))
    assert column(rows, "sum_mm") == [3]


def test_split_lesion_fragments_are_summed():
    rows = patient(tp(0, L1=40), tp(56, L1=20))
    rows.append(type(rows[-1])(**{**rows[-1].__dict__, "long_axis_mm": 25.0}))
    rows[-2].extra = {"fragment": "a"}
    rows[-1].extra = {"fragment": "b"}
    rows[0].extra = {"fragment": ""}
    assert column(rows, "sum_mm") == [45]
    assert overall(rows) == ["SD"]


def test_missing_row_counts_as_not_evaluated():
    rows = patient(tp(0, A=20, B=20), tp(56, A=10))
    assert overall(rows) == ["NE"]
    assert math.isnan(column(rows, "sum_mm")[0])


@pytest.mark.parametrize(("rounding", "expected"), [("none", "SD"), ("0.1", "PR"), ("1", "PR")])
def test_rounding_policy(rounding, expected):
    # 100 -> 70.04: exactly SD; rounded per lesion to 0.1 mm (70.0) it is PR.
    rows = patient(tp(0, L1=100), tp(56, L1=70.04))
    assert overall(rows, rounding=rounding) == [expected]


# ---------------------------------------------------------------- §3 target response
def test_pd_needs_both_20_percent_and_5_mm():
    assert overall(patient(tp(0, L1=10), tp(56, L1=14.9))) == ["SD"]  # +49 %, +4.9 mm
    assert overall(patient(tp(0, L1=100), tp(56, L1=119.9))) == ["SD"]  # +19.9 %
    assert overall(patient(tp(0, L1=100), tp(56, L1=120))) == ["PD"]


def test_reappearance_after_cr_is_pd_whatever_its_size():
    rows = patient(tp(0, L1=30), tp(56, L1=GONE), tp(112, L1=3))
    assert overall(rows) == ["CR", "PD"]


def test_node_back_to_10mm_after_cr_is_pd():
    rows = patient(tp(0, N1=node(16)), tp(56, N1=node(8)), tp(112, N1=node(10)))
    assert overall(rows) == ["CR", "PD"]


def test_pr_is_kept_until_pd_by_default():
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(112, L1=71))
    assert overall(rows) == ["PR", "PR"]
    assert overall(rows, strict_pr=True) == ["PR", "SD"]


def test_partial_sum_below_pd_is_ne():
    rows = patient(tp(0, A=20, B=20), tp(56, A=23, B=NE_))
    assert column(rows, "target_response") == ["NE"]


def test_nadir_excludes_not_evaluated_timepoints():
    # The NE time point's partial sum (10) must not become the nadir.
    rows = patient(tp(0, A=30, B=30), tp(56, A=10, B=NE_), tp(112, A=25, B=25))
    assert column(rows, "nadir_mm") == [60, 60]
    assert overall(rows) == ["NE", "SD"]


def test_change_columns():
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(112, L1=72))
    res = evaluate(rows).timepoints
    assert res["change_from_baseline_pct"].tolist()[1:] == [-40, -28]
    assert res["change_from_nadir_pct"].tolist()[1:] == [-40, 20]
    assert res["nadir_mm"].tolist()[1:] == [100, 60]


# ---------------------------------------------------------------- §4 non-targets
NON_TARGET = [
    ("all absent: CR", [nt("absent")], "CR"),
    ("present: NON-CR/NON-PD", [nt("present")], "NON-CR/NON-PD"),
    ("progression: PD", [nt("present"), nt("progression")], "PD"),
    ("not evaluated: NE", [nt("absent"), nt("not_evaluated")], "NE"),
    ("progression beats NE", [nt("progression"), nt("not_evaluated")], "PD"),
    ("node < 10 mm counts absent", [nt("present", nodal=True, sa=9.9)], "CR"),
    ("node 10 mm still present", [nt("present", nodal=True, sa=10)], "NON-CR/NON-PD"),
]


@pytest.mark.parametrize(("name", "fu", "expected"), NON_TARGET, ids=[n[0] for n in NON_TARGET])
def test_non_target_response(name, fu, expected):
    base = {
        f"T{i}": nt("present", nodal=s.nodal, sa=12 if s.nodal else None) for i, s in enumerate(fu)
    }
    follow = {f"T{i}": s for i, s in enumerate(fu)}
    rows = patient(tp(0, **base), tp(56, **follow))
    assert column(rows, "non_target_response") == [expected]
    assert column(rows, "target_response") == [""]  # no targets: empty


# ---------------------------------------------------------------- §5 new lesions
def test_unequivocal_new_lesion_is_pd():
    rows = patient(tp(0, L1=50), tp(56, L1=20, X=new()))
    assert overall(rows) == ["PD"]
    assert column(rows, "new_lesions") == ["yes"]


def test_new_node_counts_only_from_10mm():
    assert overall(patient(tp(0, L1=50), tp(56, L1=50, X=new(nodal=True, sa=9)))) == ["SD"]
    assert overall(patient(tp(0, L1=50), tp(56, L1=50, X=new(nodal=True, sa=10)))) == ["PD"]


def test_equivocal_new_lesion_changes_nothing_until_confirmed():
    rows = patient(
        tp(0, L1=50), tp(56, L1=30, X=new("equivocal")), tp(112, L1=30, X=new("present"))
    )
    assert overall(rows) == ["PR", "PD"]
    assert column(rows, "new_lesions") == ["equivocal", "yes"]
    p = evaluate(rows).patients
    # PD is dated back to the scan where the lesion was first seen.
    assert str(p["progression_date"].iat[0])[:10] == "2024-02-26"
    assert p["pfs_days"].iat[0] == 56
    # BOR counts only time points before the (back-dated) progression.
    assert p["best_overall_response"].iat[0] == "PD"


def test_unconfirmed_equivocal_lesion_is_not_progression():
    rows = patient(tp(0, L1=50), tp(56, L1=30, X=new("equivocal")), tp(112, L1=30))
    p = evaluate(rows).patients
    assert p["pfs_event"].iat[0] == 0 and p["best_overall_response"].iat[0] == "PR"


# ---------------------------------------------------------------- §6 overall, Tables 1-2
TABLE_1 = [  # (target FU spec, NT FU status, new?) -> overall
    ("CR, CR, no -> CR", GONE, "absent", False, "CR"),
    ("CR, non-CR/non-PD -> PR", GONE, "present", False, "PR"),
    ("CR, NE -> PR", GONE, "not_evaluated", False, "PR"),
    ("PR, non-PD -> PR", 30, "present", False, "PR"),
    ("PR, NE -> PR", 30, "not_evaluated", False, "PR"),
    ("SD, non-PD -> SD", 45, "present", False, "SD"),
    ("SD, NE -> SD", 45, "not_evaluated", False, "SD"),
    ("NE, non-PD -> NE", NE_, "present", False, "NE"),
    ("PD, any -> PD", 70, "absent", False, "PD"),
    ("any, PD -> PD", 30, "progression", False, "PD"),
    ("any, any, new -> PD", GONE, "absent", True, "PD"),
]


@pytest.mark.parametrize(
    ("name", "target", "nt_status", "has_new", "expected"), TABLE_1, ids=[t[0] for t in TABLE_1]
)
def test_table_1(name, target, nt_status, has_new, expected):
    fu = {"L1": target, "T1": nt(nt_status)}
    if has_new:
        fu["X"] = new()
    rows = patient(tp(0, L1=50, T1=nt()), tp(56, **fu))
    assert overall(rows) == [expected]


TABLE_2 = [
    ("CR, no -> CR", "absent", False, "CR"),
    ("non-CR/non-PD -> NON-CR/NON-PD", "present", False, "NON-CR/NON-PD"),
    ("NE -> NE", "not_evaluated", False, "NE"),
    ("PD -> PD", "progression", False, "PD"),
    ("new -> PD", "absent", True, "PD"),
]


@pytest.mark.parametrize(
    ("name", "nt_status", "has_new", "expected"), TABLE_2, ids=[t[0] for t in TABLE_2]
)
def test_table_2(name, nt_status, has_new, expected):
    fu = {"T1": nt(nt_status)}
    if has_new:
        fu["X"] = new()
    assert overall(patient(tp(0, T1=nt()), tp(56, **fu))) == [expected]


def test_timepoint_without_imaging_is_ne():
    rows = patient(tp(0, L1=40, T1=nt()), tp(56, L1=NE_, T1=nt("not_evaluated")))
    assert overall(rows) == ["NE"]


# ---------------------------------------------------------------- §7 best overall response
BOR = [
    ("PR d56, PD d112 -> PR", [tp(0, L1=100), tp(56, L1=60), tp(112, L1=90)], {}, "PR"),
    ("SD d28, PD d56 -> PD", [tp(0, L1=100), tp(28, L1=90), tp(56, L1=130)], {}, "PD"),
    ("SD d28, NE d56 -> NE", [tp(0, L1=100), tp(28, L1=90), tp(56, L1=NE_)], {}, "NE"),
    ("SD d28, SD d60 -> SD", [tp(0, L1=100), tp(28, L1=90), tp(60, L1=90)], {}, "SD"),
    ("SD at exactly 42 days counts", [tp(0, L1=100), tp(42, L1=90)], {}, "SD"),
    ("sd_min_days setting", [tp(0, L1=100), tp(42, L1=90)], {"sd_min_days": 43}, "NE"),
    ("NT-only NON-CR/NON-PD d56", [tp(0, T1=nt()), tp(56, T1=nt())], {}, "NON-CR/NON-PD"),
    ("CR beats earlier PR", [tp(0, L1=100), tp(56, L1=50), tp(112, L1=GONE)], {}, "CR"),
    ("baseline only -> NE", [tp(0, L1=100)], {}, "NE"),
    (
        "confirm: PR d56, PR d84 -> PR",
        [tp(0, L1=100), tp(56, L1=60), tp(84, L1=60)],
        {"confirm": True},
        "PR",
    ),
    (
        "confirm: PR d56, SD d84, PD d112 -> SD",
        [tp(0, L1=100), tp(56, L1=60), tp(84, L1=75), tp(112, L1=100)],
        {"confirm": True},
        "SD",
    ),
    (
        "confirm: CR, CR -> CR",
        [tp(0, L1=50), tp(56, L1=GONE), tp(84, L1=GONE)],
        {"confirm": True},
        "CR",
    ),
    (
        "confirm: PR, CR -> PR",
        [tp(0, L1=50), tp(56, L1=20), tp(84, L1=GONE)],
        {"confirm": True},
        "PR",
    ),
    (
        "confirm: PR too soon",
        [tp(0, L1=100), tp(56, L1=60), tp(70, L1=60)],
        {"confirm": True},
        "SD",
    ),
    (
        "confirm_days setting",
        [tp(0, L1=100), tp(56, L1=60), tp(70, L1=60)],
        {"confirm": True, "confirm_days": 14},
        "PR",
    ),
    (
        "confirm: CR, NE -> SD",
        [tp(0, L1=50), tp(56, L1=GONE), tp(84, L1=NE_)],
        {"confirm": True},
        "SD",
    ),
    (
        "confirm: PR, NE early -> NE",
        [tp(0, L1=50), tp(28, L1=20), tp(56, L1=NE_)],
        {"confirm": True},
        "NE",
    ),
    (
        "confirm: PR d56, PD -> SD",
        [tp(0, L1=100), tp(56, L1=60), tp(84, L1=90)],
        {"confirm": True},
        "SD",
    ),
    (
        "confirm: PR d28, PD d56 -> PD",
        [tp(0, L1=100), tp(28, L1=60), tp(56, L1=90)],
        {"confirm": True},
        "PD",
    ),
]


@pytest.mark.parametrize(("name", "tps", "settings", "expected"), BOR, ids=[b[0] for b in BOR])
def test_best_overall_response(name, tps, settings, expected):
    assert best(patient(*tps), **settings) == expected


def test_patient_columns():
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(112, L1=55), tp(168, L1=80))
    p = evaluate(rows).patients.iloc[0]
    assert p["n_targets"] == 1 and p["baseline_sum_mm"] == 100
    assert p["best_overall_response"] == "PR"
    assert str(p["best_response_date"])[:10] == "2024-02-26"
    assert p["best_change_pct"] == -45
    assert str(p["first_followup_date"])[:10] == "2024-02-26"
    assert p["first_followup_response"] == "PR"
    assert str(p["progression_date"])[:10] == "2024-06-17"  # 80 >= 1.2 * 55 and +25 mm
    assert (p["pfs_days"], p["pfs_event"]) == (168, 1)


def test_pfs_censored_at_last_evaluable_timepoint():
    rows = patient(tp(0, L1=100), tp(56, L1=90), tp(112, L1=NE_))
    p = evaluate(rows).patients.iloc[0]
    assert (p["pfs_days"], p["pfs_event"]) == (56, 0)
    assert str(p["progression_date"]) == "NaT"


def test_abnormal_tumour_markers_rule_out_complete_response():
    def with_markers(rows, value):
        frame = to_frame(rows)
        frame["tumour_markers"] = ["" if r.timepoint == "baseline" else value for r in rows]
        return frame

    nt_only = patient(tp(0, T1=nt()), tp(56, T1=nt("absent")))
    assert overall(with_markers(nt_only, "normal")) == ["CR"]
    assert overall(with_markers(nt_only, "abnormal")) == ["NON-CR/NON-PD"]
    targets = patient(tp(0, L1=20), tp(56, L1=GONE))
    assert overall(with_markers(targets, "abnormal")) == ["PR"]
    with pytest.raises(AnnotationError, match="column tumour_markers: 'high'"):
        evaluate(with_markers(targets, "high"))


def test_target_sizes_are_what_each_target_counts():
    rows = patient(
        tp(0, L1=30, L2=20, N1=node(20)),
        tp(56, L1=TOO_SMALL, L2=GONE, N1=node(8, status="disappeared")),
        tp(112, L1=12.34, L2=NE_),
    )
    res = evaluate(rows, ResponseSettings(rounding="0.1"))
    sizes = res.target_sizes.set_index(["timepoint", "lesion_id"])["counted_mm"]
    assert sizes[("d56", "L1")] == 5 and sizes[("d56", "L2")] == 0
    assert sizes[("d56", "N1")] == 8  # a disappeared node keeps its short axis
    assert sizes[("d112", "L1")] == 12.3  # rounded per lesion
    assert math.isnan(sizes[("d112", "L2")]) and math.isnan(sizes[("d112", "N1")])
    # where every target is evaluated, the sizes add up to the engine's sum
    sums = sizes.groupby(level="timepoint", observed=False).sum(min_count=1)
    for label, total in res.timepoints.set_index("timepoint")["sum_mm"].dropna().items():
        assert sums[label] == pytest.approx(total)
