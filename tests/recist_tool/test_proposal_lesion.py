"""Which lesion an Alt+click proposal is for (the policy, without a GUI)."""

from __future__ import annotations

from recist_tool.reading import Line, Reading
from recist_tool.reading.assist import FIND_MARGIN_MM, REMEASURE_MARGIN_MM, proposal_lesion


def _reading() -> Reading:
    r = Reading(patient_id="P1")
    r.set_timepoint("baseline", "2024-01-01")
    r.set_timepoint("FU1", "2024-04-01")
    r.add_lesion(kind="target", organ="liver")
    r.set_line("T1", "baseline", "long", Line((0.0, 0.0, 0.0), (40.0, 0.0, 0.0)))
    return r


def test_the_selected_lesion_is_measured_where_it_has_no_measurement_yet():
    r = _reading()
    assert proposal_lesion(r, "T1", "FU1", (300.0, 300.0, 0.0)) == "T1"  # follow-up


def test_a_click_on_the_selected_lesion_re_measures_it_and_elsewhere_is_new():
    r = _reading()
    edge = 20.0 + 20.0 + REMEASURE_MARGIN_MM  # centre 20 mm, half the axis 20 mm
    assert proposal_lesion(r, "T1", "baseline", (20.0, 0.0, 0.0)) == "T1"
    assert proposal_lesion(r, "T1", "baseline", (edge - 0.1, 0.0, 0.0)) == "T1"
    assert proposal_lesion(r, "T1", "baseline", (edge + 0.1, 0.0, 0.0)) is None
    assert proposal_lesion(r, None, "baseline", (20.0, 0.0, 0.0)) is None
    assert proposal_lesion(r, "T9", "baseline", (20.0, 0.0, 0.0)) is None  # gone


def test_at_follow_up_a_click_far_from_the_registered_position_is_another_lesion():
    """A non-target selected at follow-up (its status set there, no position) and an
    Alt+click on the aorta 60 mm away: the proposal was for the non-target, and Enter
    put the aorta's axes on it. With the registered position known, only a click
    near it is the selected lesion."""
    r = _reading()
    expected = (23.0, 4.0, 2.0)  # where the registration puts T1's centre (20, 0, 0)
    reach = 40.0 + FIND_MARGIN_MM  # its longest axis, growth and a click inside
    assert proposal_lesion(r, "T1", "FU1", (23.0, 4.0 + reach - 0.1, 2.0), expected) == "T1"
    assert proposal_lesion(r, "T1", "FU1", (23.0, 4.0 + reach + 0.1, 2.0), expected) is None
    r.add_lesion(kind="non_target", organ="lung")
    r.set_status("NT1", "FU1", "present")
    assert proposal_lesion(r, "NT1", "FU1", (80.0, 0.0, 0.0), (20.0, 0.0, 0.0)) is None
    assert proposal_lesion(r, "NT1", "FU1", (30.0, 0.0, 0.0), (20.0, 0.0, 0.0)) == "NT1"
    # no registration known: the selected lesion (the status names it)
    assert proposal_lesion(r, "NT1", "FU1", (80.0, 0.0, 0.0)) == "NT1"
