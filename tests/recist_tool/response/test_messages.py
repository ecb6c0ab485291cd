"""Baseline validation messages (RECIST 1.1 §1): warnings, errors under strict."""

from __future__ import annotations

import pytest

from recist_tool.annotations import to_frame
from recist_tool.response import ResponseSettings, evaluate
from recist_tool.response.organs import organ_group
from tests.recist_tool.cohort_builder import node, nt, patient, tp


def rules(rows, **settings) -> list[tuple[str, str]]:
    m = evaluate(rows, ResponseSettings(**settings)).messages
    return list(zip(m["rule"], m["lesion_id"], strict=True))


def with_slice(rows, mm: float):
    frame = to_frame(rows)
    frame["slice_thickness_mm"] = mm
    return frame


@pytest.mark.parametrize(
    ("la", "slice_mm", "flagged"),
    [
        (10.0, 5, False),  # 10.0 mm at 5 mm slices is measurable (inclusive)
        (9.9, 5, True),
        (12.0, 6, False),  # 2 x 6 mm
        (11.9, 6, True),
        (10.0, 2.5, False),
    ],
)
def test_measurable_size_depends_on_slice_thickness(la, slice_mm, flagged):
    frame = with_slice(patient(tp(0, L1=la), tp(56, L1=la)), slice_mm)
    m = evaluate(frame).messages
    assert ("measurable_size" in set(m["rule"])) is flagged, m


def test_chest_xray_needs_20mm():
    frame = to_frame(patient(tp(0, L1=19.9)))
    frame["modality"] = "DX"
    assert [r for r, _ in rules(frame)] == ["measurable_size"]


@pytest.mark.parametrize(("sa", "flagged"), [(15, False), (14.9, True), (10, True)])
def test_nodal_target_needs_15mm_short_axis(sa, flagged):
    got = rules(patient(tp(0, N1=node(sa))))
    assert (("nodal_target_size", "N1") in got) is flagged


def test_normal_node_is_not_a_lesion():
    assert rules(patient(tp(0, T1=nt(nodal=True, sa=9)))) == [("normal_node", "T1")]
    assert rules(patient(tp(0, T1=nt(nodal=True, sa=10)))) == []


def test_at_most_five_targets():
    organs = {
        f"L{i}": o for i, o in enumerate(["liver", "lung", "bone", "spleen", "brain", "skin"])
    }
    rows = patient(tp(0, **{f"L{i}": 20 for i in range(6)}), organs=organs)
    assert rules(rows) == [("too_many_targets", "")]
    assert rules(patient(tp(0, **{f"L{i}": 20 for i in range(5)}), organs=organs)) == []


def test_at_most_two_targets_per_organ_paired_organs_count_once():
    organs = {"A": "Left lung", "B": "right lung", "C": "lungs"}
    got = rules(patient(tp(0, A=20, B=20, C=20), organs=organs))
    assert got == [("too_many_targets_in_organ", x) for x in "ABC"]
    organs = {"A": "Left lung", "B": "right lung", "C": "liver"}
    assert rules(patient(tp(0, A=20, B=20, C=20), organs=organs)) == []


def test_all_lymph_nodes_count_as_one_organ():
    rows = patient(
        tp(
            0,
            N1=node(20, organ="mediastinal"),
            N2=node(20, organ="hilar"),
            N3=node(20, organ="axillary"),
        )
    )
    assert [r for r, _ in rules(rows)] == ["too_many_targets_in_organ"] * 3


@pytest.mark.parametrize(
    ("organ", "nodal", "group"),
    [
        ("Right Lung", False, "lung"),
        ("kidneys", False, "kidney"),
        ("liver", False, "liver"),
        ("neck", True, "lymph node"),
        ("L adrenal", False, "adrenal gland"),
    ],
)
def test_organ_groups(organ, nodal, group):
    assert organ_group(organ, nodal) == group


def test_baseline_more_than_28_days_before_treatment():
    frame = to_frame(patient(tp(0, L1=20), tp(60, L1=20)))
    frame["treatment_date"] = "2024-01-30"  # 29 days after the baseline scan
    assert [r for r, _ in rules(frame)] == ["baseline_timing"]
    frame["treatment_date"] = "2024-01-29"
    assert rules(frame) == []


def test_strict_mode_makes_baseline_violations_errors_and_skips_the_patient():
    rows = patient(tp(0, L1=9), tp(56, L1=30)) + patient(tp(0, L1=20), tp(56, L1=30), pid="P2")
    lax = evaluate(rows)
    assert set(lax.messages["severity"]) == {"warning"}
    assert lax.patients["best_overall_response"].tolist() == ["PD", "PD"]
    strict = evaluate(rows, ResponseSettings(strict=True))
    assert strict.has_errors
    assert strict.messages["severity"].tolist() == ["error"]
    assert strict.patients["best_overall_response"].tolist() == ["", "PD"]
    assert strict.timepoints["overall_response"].tolist() == ["", "", "", "PD"]


def test_non_target_first_seen_at_follow_up_is_a_warning():
    rows = patient(tp(0, L1=20), tp(56, L1=20, T9=nt()))
    assert rules(rows) == [("non_target_not_at_baseline", "T9")]
