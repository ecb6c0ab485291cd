"""The worklist and sign-off in the reading session, without Qt (bare ``ViewerModel``):
a demo cohort read patient after patient, saved through the Worklist API, a signed
time point locked, a change there amended with a reason (edit, undo, redo)."""

from __future__ import annotations

import pytest
from napari.components import ViewerModel
from napari_recist._session import ReadingSession
from napari_recist._worklist import WorklistController

from recist_tool.annotations import read_annotations
from recist_tool.errors import RecistError
from recist_tool.reading.audit import read_audit
from recist_tool.reading.signoff import SignOff
from recist_tool.worklist import Worklist, from_folder

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

READER = "reader1"


@pytest.fixture(scope="module")
def demo_dicom(tmp_path_factory):
    from recist_tool.synth.demo import write_demo_cohort

    out = tmp_path_factory.mktemp("demo")
    write_demo_cohort(out, n=3)
    return out / "dicom"


@pytest.fixture
def cohort(demo_dicom, tmp_path):
    root = tmp_path / "cohort"
    Worklist.create(root, from_folder(demo_dicom), {"kind": "folder", "path": str(demo_dicom)})
    return root


def test_worklist_reads_patients_in_turn_and_saves_through_the_worklist(cohort):
    s = ReadingSession(ViewerModel(), reader=READER)
    c = WorklistController(s)
    wl = c.open(cohort)
    assert [e.patient_id for e in c.rows()] == ["DEMO-001", "DEMO-002", "DEMO-003"]
    assert c.progress_text().startswith("0 of 3 finished")
    c.next_patient()
    assert c.current == "DEMO-001" == s.reading.patient_id
    r = s.reading
    assert [tp.label for tp in r.timepoints] == ["baseline", "fu1"]
    assert sorted(i.timepoint for i in r.series.values()) == ["baseline", "fu1"]
    assert s.current_tp == "baseline" and s.panes["current"].layers is not None
    lid = s.add_lesion("non_target", "liver", False)
    s.set_status("present", lid)
    path = wl.reading_path("DEMO-001", READER)
    assert s.save_path == path
    c.next_patient()  # saves first
    assert c.current == "DEMO-002" and s.reading.patient_id == "DEMO-002"
    assert not s.reading.lesions
    saved = read_annotations(path)
    assert list(saved["lesion_id"]) == [lid] and "signed_at" in saved.columns
    rows = {e.patient_id: e.status for e in c.rows()}
    assert rows["DEMO-001"] == "in_progress"
    c.open_patient("DEMO-001")  # continue the saved reading
    assert [le.lesion_id for le in s.reading.lesions] == [lid]
    c.mark_done()
    assert {e.patient_id: e.status for e in c.rows({"done"})} == {"DEMO-001": "done"}
    assert c.next_entry().patient_id == "DEMO-002"
    s.close()


def test_signed_time_point_is_locked_and_a_change_needs_a_reason(cohort):
    s = ReadingSession(ViewerModel(), reader=READER)
    c = WorklistController(s)
    wl = c.open(cohort)
    c.open_patient("DEMO-002")
    lid = s.add_lesion("non_target", "liver", False)
    s.set_status("present", lid)
    c.sign("baseline")
    path = wl.reading_path("DEMO-002", READER)
    assert SignOff(path).is_signed("baseline")
    saved = read_annotations(path)
    assert saved.loc[saved["timepoint"] == "baseline", "signed_at"].str.endswith("Z").all()
    assert not s.reading.is_editable("baseline")

    asked = []
    s.signing.ask_reason = lambda msg, tps: asked.append((msg, tps)) or ""
    s.set_status("absent", lid)  # no reason: nothing changes
    assert asked and asked[0][1] == ("baseline",) and "signed by reader1" in asked[0][0]
    assert s.reading.lesion(lid).findings["baseline"].status == "present"
    assert "no reason" in s.notices[-1][1]

    s.signing.ask_reason = lambda msg, tps: "typo: lesion was absent"
    s.set_status("absent", lid)
    assert s.reading.lesion(lid).findings["baseline"].status == "absent"
    assert not s.reading.is_editable("baseline")  # still signed and locked
    assert s.undo() is not None  # undo is an amendment too
    assert s.reading.lesion(lid).findings["baseline"].status == "present"
    s.flush()
    amend = [e for e in read_audit(path.with_name(path.stem + ".audit.jsonl")) if e.get("reason")]
    assert [(e["action"], e["timepoint"], e["reason"]) for e in amend[-2:]] == [
        ("set_status", "baseline", "typo: lesion was absent"),
        ("undo", "baseline", "typo: lesion was absent"),
    ]
    assert SignOff(path).signatures["baseline"].amendments == 2
    assert SignOff(path).verify(s.reading) == []
    # reopened later: the lock comes back from the sign-off file
    c.next_patient()
    c.open_patient("DEMO-002")
    assert not s.reading.is_editable("baseline") and s.signing.is_signed("baseline")
    with pytest.raises(RecistError, match=rf"time point fu1: {lid} not assessed yet"):
        c.sign()  # the whole patient: its non-target has no status at fu1
    assert {e.patient_id: e.status for e in c.rows()}["DEMO-002"] == "in_progress"
    assert not s.signing.is_signed("fu1")
    s.show_timepoint("fu1")
    s.set_status("present", lid)
    c.sign()
    assert {e.patient_id: e.status for e in c.rows()}["DEMO-002"] == "signed"
    s.close()


def test_a_line_drawn_on_a_signed_time_point_asks_a_reason(cohort):
    """The canvas path (layers -> reading) goes through the same guard."""
    import numpy as np

    from .conftest import napari_drag

    s = ReadingSession(ViewerModel(), reader=READER)
    c = WorklistController(s)
    c.open(cohort)
    c.open_patient("DEMO-003")
    pane = s.panes["current"]
    geo = pane.layers.geometry
    centre = np.asarray(geo.index_to_lps((10, 64, 64)), float)[::-1]  # world: S, P, L
    s.nav.set_z(pane, centre[0])
    a, b = centre + np.array([0, -8, -8]), centre + np.array([0, 8, 8])
    nt = s.reading.add_lesion("non_target", "lung").lesion_id  # a reading: not empty
    s.reading.set_status(nt, "baseline", "present")
    c.sign("baseline")
    asked = []
    s.signing.ask_reason = lambda msg, tps: asked.append(tps) or ""
    s.select_lesion(None)
    s.arm("long")
    napari_drag(pane.viewer, pane.layers.lines, a, b)
    assert asked == [("baseline",)] and len(s.reading.lesions) == 1  # refused: no reason
    assert len(pane.layers.lines.data) == 0  # the layer shows what the reading holds
    s.signing.ask_reason = lambda msg, tps: "missed lesion"
    s.arm("long")
    napari_drag(pane.viewer, pane.layers.lines, a, b)
    (lesion,) = [le for le in s.reading.lesions if le.lesion_id != nt]
    assert lesion.findings["baseline"].long_mm > 10
    s.flush()
    path = c.wl.reading_path("DEMO-003", READER)
    entries = [e for e in read_audit(path.with_name(path.stem + ".audit.jsonl"))]
    assert entries[-1]["reason"] == "missed lesion" and entries[-1]["timepoint"] == "baseline"
    s.close()


def test_a_patient_opened_and_left_writes_no_file(cohort):
    """Opening a worklist patient assigns its series (a change of the reading): the
    autosave wrote a CSV with a header only, which ``worklist sign --all`` then signed
    as a reading and ``adjudicate`` could not read. No file now until a lesion is
    recorded; then the reading (with its series) is saved as before."""
    s = ReadingSession(ViewerModel(), reader=READER)
    c = WorklistController(s)
    wl = c.open(cohort)
    c.next_patient()
    path = wl.reading_path("DEMO-001", READER)
    assert s.save_path == path and len(s.reading.series) == 2
    c.next_patient()  # left: saved first
    s.flush()
    assert c.current == "DEMO-002"
    # no CSV, no sidecar (the audit trail keeps the series assignments, as an access log)
    assert not path.exists() and not path.with_suffix(".json").exists()
    assert {e.patient_id: e.status for e in c.rows()}["DEMO-001"] == "not_started"
    lid = s.add_lesion("non_target", "liver", False)
    s.set_status("present", lid)
    s.flush()
    saved = read_annotations(wl.reading_path("DEMO-002", READER))
    assert list(saved["lesion_id"]) == [lid] and saved["series_uid"].notna().all()
