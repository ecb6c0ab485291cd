"""Which lesion an Alt+click proposal is for (the policy, without a GUI)."""

from __future__ import annotations

from recist_tool.reading import Line, Reading
from recist_tool.reading.assist import REMEASURE_MARGIN_MM, proposal_lesion


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
