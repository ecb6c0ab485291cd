"""The worklist on a folder cohort (the sample study and a small demo cohort):
layout, time points, readers, status, next patient, readings, sign-off, locking."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recist_tool.annotations import read_annotations
from recist_tool.reading import Line, Reading, ReadingError
from recist_tool.reading.audit import read_audit
from recist_tool.reading.signoff import SignedTimepointError, SignOff
from recist_tool.worklist import (
    StudyRow,
    Worklist,
    WorklistError,
    assign_readers,
    from_folder,
    patient_file_stem,
    propose_timepoints,
    read_assignments,
)

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample_dicom"
PID = "RECIST-SAMPLE-001"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from recist_tool.synth.demo import write_demo_cohort

    out = tmp_path_factory.mktemp("demo")
    write_demo_cohort(out, n=3)
    return out


def test_timepoints_by_date_earliest_is_baseline():
    rows = [
        StudyRow("P", u, d)
        for u, d in (("3", "2024-06-01"), ("1", "2024-01-02"), ("2", "2024-01-02"), ("4", ""))
    ]
    got = {r.study_uid: r.timepoint for r in propose_timepoints(rows)}
    assert got == {"1": "baseline", "2": "baseline", "3": "fu1", "4": ""}


def test_folder_cohort_layout_and_plan(tmp_path):
    studies = from_folder(SAMPLE)
    assert [(s.timepoint, s.date) for s in studies] == [
        ("baseline", "2024-01-15"),
        ("fu1", "2024-04-16"),
    ]
    wl = Worklist.create(tmp_path / "c", studies, {"kind": "folder", "path": str(SAMPLE)})
    with open(tmp_path / "c" / "worklist.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {
            "patient_id": PID,
            "reader": "",
            "status": "not_started",
            "timepoints": "baseline=2024-01-15;fu1=2024-04-16",
            "studies": "2",
            "updated_at": "",
            "signed_at": "",
        }
    ]
    wl = Worklist.open(tmp_path / "c")
    plan = wl.plan(PID)
    assert [(p.label, p.folders) for p in plan] == [
        ("baseline", (SAMPLE / "baseline",)),
        ("fu1", (SAMPLE / "followup",)),
    ]
    choices = wl.series_to_open(PID)
    assert [(c.timepoint, c.proposed, c.info.frame_count) for c in choices] == [
        ("baseline", True, 41),
        ("fu1", True, 41),
    ]
    with pytest.raises(WorklistError, match="holds a worklist already"):
        Worklist.create(tmp_path / "c", studies, {"kind": "folder"})
    with pytest.raises(WorklistError, match="not in the worklist"):
        wl.plan("NOBODY")


def test_readers_round_robin_and_assignment_csv(tmp_path):
    pairs = assign_readers(["P1", "P2", "P3"], ["a", "b", "c"], 2)
    assert pairs == [("P1", "a"), ("P1", "b"), ("P2", "b"), ("P2", "c"), ("P3", "c"), ("P3", "a")]
    with pytest.raises(WorklistError, match="--readers 3"):
        assign_readers(["P1"], ["a", "b"], 3)
    f = tmp_path / "assign.csv"
    f.write_text("patient_id,reader\nP1,alice\nP2,bad name\n")
    with pytest.raises(WorklistError, match=r"assign\.csv: line 3: column reader"):
        read_assignments(f)
    f.write_text("patient_id,reader\nP1,adjudicated\n")
    with pytest.raises(WorklistError, match="reserved"):
        read_assignments(f)
    assert patient_file_stem("P/1") != patient_file_stem("P_1")
    assert patient_file_stem("P1") == "P1"


def test_reader_workflow_status_next_and_blinding(demo, tmp_path):
    studies = from_folder(demo / "dicom")
    pids = sorted({s.patient_id for s in studies})
    wl = Worklist.create(
        tmp_path / "c", studies, {"kind": "folder"}, assign_readers(pids, ["alice", "bob"], 2)
    )
    assert wl.progress("alice") == {
        "not_started": 3,
        "in_progress": 0,
        "done": 0,
        "signed": 0,
        "total": 3,
        "finished": 0,
    }
    assert wl.next_patient("alice").patient_id == "DEMO-001"
    # alice reads DEMO-001 from scratch: the new reading has the worklist's time points
    reading = wl.load_reading("DEMO-001", "alice")
    assert [(t.label, t.date) for t in reading.timepoints] == [
        ("baseline", "2024-01-08"),
        ("fu1", "2024-04-08"),
    ]
    truth = Reading.load(demo / "readings" / "DEMO-001.csv")
    truth.rename_timepoint("followup", "fu1")
    path = wl.save_reading(truth, "alice")
    assert path == tmp_path / "c" / "readings" / "alice" / "DEMO-001.csv"
    assert wl.entry("DEMO-001", "alice").status == "in_progress"
    assert wl.entry("DEMO-001", "bob").status == "not_started"  # blinded: bob's row untouched
    assert [e.reader for e in wl.entries(reader="bob")] == ["bob"] * 3
    assert wl.next_patient("alice", after="DEMO-001").patient_id == "DEMO-002"
    wl.mark("DEMO-001", "alice", "done")
    assert wl.next_patient("alice", after="DEMO-003").patient_id == "DEMO-002"  # wraps
    assert [e.patient_id for e in wl.entries("alice", status="not_started")] == [
        "DEMO-002",
        "DEMO-003",
    ]
    assert [e.patient_id for e in wl.entries("alice", text="003")] == ["DEMO-003"]
    with pytest.raises(WorklistError, match="saved no reading"):
        wl.mark("DEMO-002", "alice", "done")
    with pytest.raises(WorklistError, match="mark in_progress or done"):
        wl.mark("DEMO-001", "alice", "signed")
    # sign: locked, signed_at in the CSV, status signed
    e = wl.sign("DEMO-001", "alice")
    assert e.status == "signed" and e.signed_at.endswith("Z")
    frame = read_annotations(path)
    assert set(frame["signed_at"].astype(str)) == {e.signed_at}
    # another process sees the same state
    again = Worklist.open(tmp_path / "c")
    assert again.entry("DEMO-001", "alice").status == "signed"
    assert again.progress_by_reader()["alice"]["finished"] == 1
    # batch runs on the reader's folder
    r = subprocess.run(
        [
            str(Path(sys.executable).with_name("recist-tool")),
            "batch",
            str(tmp_path / "c" / "readings" / "alice"),
            "-o",
            str(tmp_path / "out"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "PR" in (tmp_path / "out" / "patients.csv").read_text()


def test_unassigned_patients_are_taken_by_the_first_reader(tmp_path):
    wl = Worklist.create(tmp_path / "c", from_folder(SAMPLE), {"kind": "folder"})
    assert wl.entries(reader="carol")[0].status == "not_started"
    wl.import_annotations([SAMPLE / "annotations.csv"], "carol")
    wl = Worklist.open(tmp_path / "c")
    assert [(e.reader, e.status) for e in wl.entries()] == [("carol", "in_progress")]
    assert wl.entries(reader="dave") == []
    with pytest.raises(WorklistError, match="already"):
        wl.import_annotations([SAMPLE / "annotations.csv"], "carol")
    audit = read_audit(tmp_path / "c" / "readings" / "carol" / f"{PID}.audit.jsonl")
    assert audit[0]["action"] == "import"


def _demo_reading(demo: Path, tmp_path: Path) -> tuple[Path, Reading]:
    """A copy of DEMO-002's reading (CSV and sidecar) in ``tmp_path``, loaded."""
    src = demo / "readings" / "DEMO-002.csv"
    for suffix in (".csv", ".json"):
        shutil.copy(src.with_suffix(suffix), tmp_path / f"r{suffix}")
    path = tmp_path / "r.csv"
    return path, Reading.load(path)


def test_signoff_locks_and_requires_a_reason(demo, tmp_path):
    path, reading = _demo_reading(demo, tmp_path)
    so = SignOff(path)
    so.sign(reading, "alice", "baseline")
    assert so.is_signed("baseline") and not so.is_signed("followup")
    line = reading.lesion("L1").findings["baseline"].long_axis
    shorter = Line(
        line.p1_lps,
        tuple((a + b) / 2 for a, b in zip(line.p1_lps, line.p2_lps, strict=True)),
        line.series_uid,
        line.sop_instance_uid,
        line.slice_index,
    )
    with (
        pytest.raises(SignedTimepointError, match=r"signed by alice .* needs a reason"),
        so.amending(reading, "baseline", "alice", reason="", action="set_line"),
    ):
        reading.set_line("L1", "baseline", "long", shorter)
    assert reading.lesion("L1").findings["baseline"].long_axis == line  # not applied
    # the follow-up is not signed: no reason needed, nothing recorded by the sign-off
    with so.amending(reading, "followup", "alice"):
        reading.set_status("NT1", "followup", "present")
    with so.amending(
        reading, "baseline", "alice", "remeasured on a better slice", "set_line", "L1"
    ):
        reading.set_line("L1", "baseline", "long", shorter)
    assert so.verify(reading) == []
    assert SignOff(path).signatures["baseline"].amendments == 1
    entries = read_audit(tmp_path / "r.audit.jsonl")
    assert [(e["action"], e["timepoint"], e["reason"]) for e in entries] == [
        ("sign", "baseline", ""),
        ("set_line", "baseline", "remeasured on a better slice"),
    ]
    # a change behind the API's back is found
    reading.set_line("L1", "baseline", "long", line)
    assert "changed without a recorded reason" in SignOff(path).verify(reading)[0]
    # a new lesion at baseline is an error: that time point cannot be signed
    bad = Reading.load(path)
    bad.add_lesion("new", "liver", lesion_id="X1")
    bad.set_status("X1", "baseline", "present")
    with pytest.raises(Exception, match="new lesion cannot be at baseline"):
        SignOff(tmp_path / "other.csv").sign(bad, "alice")
    with pytest.raises(SignedTimepointError):
        so.reopen("baseline", "alice", "")
    so.reopen("baseline", "alice", "wrong series")
    assert not SignOff(path).is_signed("baseline")


def test_a_time_point_with_a_lesion_still_to_assess_is_not_signed(demo, tmp_path):
    path, reading = _demo_reading(demo, tmp_path)
    assert reading.still_to_assess("baseline") == []
    assert reading.still_to_assess("followup") == []
    # a target added at baseline and not measured at follow-up; an axis taken back
    reading.add_lesion("target", "lung", lesion_id="T9")
    reading.set_line("T9", "baseline", "long", reading.lesion("L1").findings["baseline"].long_axis)
    reading.set_line("L1", "followup", "long", None)
    assert reading.still_to_assess("baseline") == []
    assert reading.still_to_assess("followup") == ["L1", "T9"]
    assert reading.opening_timepoint() == "followup"
    so = SignOff(path)
    with pytest.raises(ReadingError, match=r"time point followup: L1, T9 not assessed yet"):
        so.sign(reading, "alice")
    assert so.signatures == {}  # the whole patient: nothing signed, baseline included
    assert not SignOff(path).is_signed("baseline")
    so.sign(reading, "alice", "baseline")  # baseline alone is complete
    assert so.is_signed("baseline")
    reading.set_status("T9", "followup", "not_evaluated")  # cannot be assessed: done
    assert reading.still_to_assess("followup") == ["L1"]
    # a new lesion counts only where it is recorded
    reading.add_lesion("new", "bone", lesion_id="N9")
    assert reading.still_to_assess("followup") == ["L1"]


def test_sign_all_signs_the_complete_readings_and_names_the_rest(
    demo, tmp_path, capsys, monkeypatch
):
    from recist_tool.cli import main

    wl = Worklist.create(tmp_path / "c", from_folder(demo / "dicom"), {"kind": "folder"})
    wl.import_annotations(sorted((demo / "readings").glob("*.csv")), "alice")
    reading = wl.load_reading("DEMO-002", "alice")
    reading.set_line("L1", "followup", "long", None)
    wl.save_reading(reading, "alice")
    args = ["worklist", "sign", str(tmp_path / "c"), "--reader", "alice", "--all"]
    monkeypatch.setattr(sys, "argv", ["recist-tool", *args])
    with pytest.raises(SystemExit) as end:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert end.value.code != 0
    assert "not signed: patient DEMO-002, time point followup: L1 not assessed yet" in err
    assert "1 of 3 patient(s) not signed: DEMO-002" in err
    wl = Worklist.open(tmp_path / "c")
    assert [(e.patient_id, e.status) for e in wl.entries(reader="alice")] == [
        ("DEMO-001", "signed"),
        ("DEMO-002", "in_progress"),
        ("DEMO-003", "signed"),
    ]


def test_a_patient_opened_and_left_is_neither_saved_nor_signed_nor_read(
    demo, tmp_path, capsys, monkeypatch
):
    """A worklist patient opened in the plugin and left (no lesion recorded) was saved
    as a CSV with a header only; ``worklist sign --all`` then signed it as a reading,
    and ``adjudicate`` stopped on it with "not a readable CSV file". Now nothing is
    written for it, an empty reading is not signed, and a header-only CSV says what
    it is."""
    from recist_tool.annotations import AnnotationError
    from recist_tool.cli import main

    wl = Worklist.create(tmp_path / "c", from_folder(demo / "dicom"), {"kind": "folder"})
    wl.import_annotations(sorted((demo / "readings").glob("DEMO-00[23].csv")), "bob")
    opened = wl.load_reading("DEMO-001", "bob")
    assert not opened.lesions
    path = wl.save_reading(opened, "bob")
    assert not path.exists()
    with pytest.raises(ReadingError, match="DEMO-001: no lesion recorded: nothing to sign"):
        SignOff(path).sign(opened, "bob")
    args = ["worklist", "sign", str(tmp_path / "c"), "--reader", "bob", "--all"]
    monkeypatch.setattr(sys, "argv", ["recist-tool", *args])
    with pytest.raises(SystemExit) as end:
        main()
    assert end.value.code == 0  # the readings there are: DEMO-002 and DEMO-003
    assert not path.exists()
    entries = {e.patient_id: e.status for e in Worklist.open(tmp_path / "c").entries()}
    assert entries == {"DEMO-001": "not_started", "DEMO-002": "signed", "DEMO-003": "signed"}
    args = ["worklist", "sign", str(tmp_path / "c"), "--reader", "carol", "--all"]
    monkeypatch.setattr(sys, "argv", ["recist-tool", *args])
    with pytest.raises(SystemExit) as end:
        main()
    assert end.value.code != 0  # no reading of carol's: said so, not "name the patients"
    assert "reader carol has no saved reading to sign" in capsys.readouterr().err
    path.write_text(read_annotations_header(demo))  # as the earlier plugin left it
    with pytest.raises(AnnotationError, match="no rows after the header: an empty reading"):
        read_annotations(path)


def read_annotations_header(demo) -> str:
    """The header line of an annotation CSV."""
    first = sorted((demo / "readings").glob("*.csv"))[0]
    return first.read_text().splitlines()[0] + "\n"


def test_damaged_worklist_files_name_file_line_and_value(tmp_path):
    with pytest.raises(WorklistError, match="not a cohort folder"):
        Worklist.open(tmp_path)
    Worklist.create(tmp_path / "c", from_folder(SAMPLE), {"kind": "folder"})
    wl_csv = tmp_path / "c" / "worklist.csv"
    wl_csv.write_text(wl_csv.read_text().replace("not_started", "finished"))
    with pytest.raises(WorklistError, match=r"worklist\.csv: line 2: column status: 'finished'"):
        Worklist.open(tmp_path / "c")
    (tmp_path / "c" / "studies.csv").write_text("patient_id,date\nP,2024-01-01\n")
    with pytest.raises(WorklistError, match=r"studies\.csv: line 1: missing column"):
        Worklist.open(tmp_path / "c")
    r = subprocess.run(
        [
            str(Path(sys.executable).with_name("recist-tool")),
            "worklist",
            "status",
            str(tmp_path / "c"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "missing column" in r.stderr and "Traceback" not in r.stderr


def test_readers_option_alone_names_them_and_assign_leaves_nobody_out(demo, tmp_path, monkeypatch):
    from recist_tool.cli import main

    def cli(*args):
        monkeypatch.setattr(sys, "argv", ["recist-tool", *map(str, args)])
        with pytest.raises(SystemExit) as end:
            main()
        return end.value.code

    assert cli("worklist", "init", tmp_path / "a", "--from", demo / "dicom", "--readers", "2") == 0
    wl = Worklist.open(tmp_path / "a")
    assert [(e.patient_id, e.reader) for e in wl.entries()][:2] == [
        ("DEMO-001", "reader1"),
        ("DEMO-001", "reader2"),
    ]
    assert wl.meta["readers"] == ["reader1", "reader2"]
    f = tmp_path / "assign.csv"
    f.write_text("patient_id,reader\nDEMO-002,ann\n")
    assert cli("worklist", "init", tmp_path / "b", "--from", demo / "dicom", "--assign", f) == 0
    wl = Worklist.open(tmp_path / "b")
    assert [(e.patient_id, e.reader) for e in wl.entries()] == [
        ("DEMO-001", ""),  # left out of the CSV: anyone may take it
        ("DEMO-002", "ann"),
        ("DEMO-003", ""),
    ]
    # Double reading: the adjudication's progress (once adjudicate has listed patients).
    assert wl.adjudication_progress() is None
    (tmp_path / "b" / "adjudication.csv").write_text("patient_id,reasons\nDEMO-002,x\nP/3,y\n")
    done = wl.reading_path("DEMO-002", "adjudicated")
    done.parent.mkdir(parents=True)
    done.write_text("")
    wl.reading_path("DEMO-001", "adjudicated").write_text("")
    wl.reading_path("P/3", "adjudicated").with_suffix(".audit.jsonl").write_text("")
    assert wl.adjudication_progress() == {"discordant": 2, "adjudicated": 1, "readings": 2}
