"""Edits of a reading: undo/redo, the audit trail, the lock policy, ids and time points.

All without a GUI: the plugin only binds keys to these and shows their results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from recist_tool.reading import (
    AuditTrail,
    Line,
    Marker,
    Reading,
    ReadingError,
    SeriesGeometry,
    SeriesInfo,
    TimePointLockedError,
    audit_path,
    evaluate_reading,
    read_audit,
)

GEO = {
    uid: SeriesGeometry(uid, (-96.0, -96.0, -100.0), (5.0, 1.5, 1.5))
    for uid in ("1.2.1", "1.2.2", "1.2.3")
}


def line(uid: str, z: float, length_px: float) -> Line:
    return Line.from_indices(GEO[uid], (z, 40, 40), (z, 40, 40 + length_px))


def study() -> Reading:
    """Baseline, FU1 and FU2 assigned by date; nothing measured."""
    r = Reading(patient_id="P1")
    for uid, date in zip(GEO, ("2024-01-10", "2024-04-10", "2024-07-10"), strict=True):
        r.add_series(SeriesInfo(uid, f"CT {uid}", "CT", date, 2, 5.0, 40, geometry=GEO[uid]))
    r.assign_by_date()
    r.clear_history()
    return r


def measured() -> Reading:
    """T1 (liver) at baseline and FU1, a node T2 at baseline, NT1 marked at baseline."""
    r = study()
    t1 = r.add_lesion("target", "liver").lesion_id
    r.set_line(t1, "baseline", "long", line("1.2.1", 10, 28))  # 42 mm
    r.set_line(t1, "FU1", "long", line("1.2.2", 10, 20))  # 30 mm
    t2 = r.add_lesion("target", "lymph node", nodal=True).lesion_id
    r.set_line(t2, "baseline", "long", line("1.2.1", 12, 20))
    r.set_line(t2, "baseline", "short", Line.from_indices(GEO["1.2.1"], (12, 30, 50), (12, 42, 50)))
    nt = r.add_lesion("non_target", "lung").lesion_id
    r.set_marker(nt, "baseline", Marker.from_index(GEO["1.2.1"], (20, 60, 60)))
    return r


# ------------------------------------------------------------------------ undo / redo


def test_every_kind_of_change_undoes_and_redoes_exactly():
    r = measured()
    r.clear_history()
    edits = [
        lambda: r.set_line("T1", "FU1", "long", line("1.2.2", 10, 10)),
        lambda: r.set_line("T1", "FU1", "long", None),
        lambda: r.set_marker("NT1", "baseline", Marker.from_index(GEO["1.2.1"], (21, 61, 61))),
        lambda: r.set_status("NT1", "FU1", "present"),
        lambda: r.set_status("T2", "FU1", "not_evaluated"),
        lambda: r.update_lesion("T1", organ="kidney"),
        lambda: r.update_lesion("T2", nodal=False),
        lambda: r.update_lesion("NT1", kind="target"),
        lambda: r.add_lesion("new", "bone"),
        lambda: r.remove_lesion("T2"),
        lambda: r.clear_finding("T1", "FU1"),
        lambda: r.set_timepoint("FU1", "2024-04-12"),
        lambda: r.rename_timepoint("FU1", "3 months"),
        lambda: r.assign_series("1.2.3", None),
        lambda: r.set_reader("dr b"),
    ]
    states = [r.to_json()]
    for edit in edits:
        edit()
        states.append(r.to_json())
        assert states[-1] != states[-2], "each edit changes something"
    for k in range(len(edits), 0, -1):
        assert r.can_undo
        r.undo()
        assert r.to_json() == states[k - 1]
    assert not r.can_undo and r.undo() is None
    for k in range(1, len(edits) + 1):
        assert r.can_redo
        r.redo()
        assert r.to_json() == states[k]
    assert not r.can_redo and r.redo() is None


def test_a_new_edit_drops_the_redo_stack_and_a_no_op_records_nothing():
    r = measured()
    r.set_status("NT1", "FU1", "present")
    r.undo()
    assert r.can_redo
    r.set_status("NT1", "FU1", "absent")
    assert not r.can_redo
    n = len(r._journal.undo)
    r.set_status("NT1", "FU1", "absent")  # the same again: no step
    r.update_lesion("T1", organ="liver")
    assert len(r._journal.undo) == n


def test_a_transaction_is_one_step_and_a_failing_edit_changes_nothing():
    r = study()
    with r.transaction("draw line"):
        lid = r.add_lesion("target", "liver").lesion_id
        r.set_line(lid, "baseline", "long", line("1.2.1", 5, 20))
    assert r.undo_step.action == "draw line"
    r.undo()
    assert r.lesions == []
    before = r.to_json()
    with pytest.raises(ReadingError), r.transaction("half"):
        r.add_lesion("target", "liver")
        r.set_status("T1", "baseline", "absent")  # not a target's status
    assert r.to_json() == before


def test_undo_is_fast_with_8_targets_and_6_time_points():
    r = Reading(patient_id="P")
    for t in range(6):
        uid = f"1.2.{t}"
        geo = SeriesGeometry(uid, (-96.0, -96.0, -100.0), (5.0, 1.5, 1.5))
        r.add_series(SeriesInfo(uid, study_date=f"2024-{t + 1:02d}-15", geometry=geo))
    r.assign_by_date()
    for i in range(8):
        lid = r.add_lesion("target", f"organ{i // 2}").lesion_id
        for j, tp in enumerate(r.timepoints):
            geo = r.series_of(tp.label)[0].geometry
            r.set_line(lid, tp.label, "long", Line.from_indices(geo, (5, 20, 20), (5, 20, 60 - j)))
    t0 = time.perf_counter()
    for _ in range(20):
        r.undo()
    for _ in range(20):
        r.redo()
    # Not a benchmark (benchmarks/bench_plugin.py measures); a guard against a
    # quadratic blunder: 40 undo/redo of a 48-finding reading in well under a second.
    assert time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------------------ locks


def test_edits_land_only_in_the_time_point_in_focus():
    r = measured()
    r.focus("FU1")
    before = r.to_json()
    for edit in (
        lambda: r.set_line("T1", "baseline", "long", line("1.2.1", 10, 5)),
        lambda: r.set_marker("NT1", "baseline", Marker.from_index(GEO["1.2.1"], (0, 0, 0))),
        lambda: r.set_status("T2", "baseline", "too_small"),
        lambda: r.clear_finding("T1", "baseline"),
        lambda: r.remove_lesion("T1"),  # has a baseline finding
        lambda: r.update_lesion("T1", kind="new"),  # changes what its baseline finding is
        lambda: r.update_lesion("T2", organ="neck"),
        lambda: r.set_timepoint("baseline", "2024-01-11"),
        lambda: r.rename_timepoint("baseline", "screening"),
        lambda: r.assign_series("1.2.1", None),
        lambda: r.assign_series("1.2.3", "baseline"),  # moves a series into baseline
    ):
        with pytest.raises(TimePointLockedError) as err:
            edit()
        assert "baseline" in err.value.timepoints
        assert "baseline is read-only while you read FU1" in str(err.value)
        assert r.to_json() == before
    # In focus: allowed; a lesion with findings only here can be changed and removed.
    r.set_line("T1", "FU1", "long", line("1.2.2", 10, 12))
    nl = r.add_lesion("new", "bone").lesion_id
    r.set_marker(nl, "FU1", Marker.from_index(GEO["1.2.2"], (8, 50, 50)))
    r.update_lesion(nl, organ="rib")
    r.remove_lesion(nl)
    # An edit touching both refuses whole (a transaction), leaving FU1 as it was.
    fu = r.to_json()
    with pytest.raises(TimePointLockedError), r.transaction("both"):
        r.set_status("T2", "FU1", "not_evaluated")
        r.set_status("T2", "baseline", "too_small")
    assert r.to_json() == fu


def test_unlock_is_explicit_and_a_hard_lock_wins():
    r = measured()
    r.focus("FU1")
    r.unlock("baseline")
    r.set_line("T1", "baseline", "long", line("1.2.1", 10, 30))
    assert r.lesion("T1").findings["baseline"].long_mm == 45.0
    r.focus("baseline")  # a new focus drops the old unlocks
    with pytest.raises(TimePointLockedError):
        r.set_status("T2", "FU1", "not_evaluated")
    r.lock("baseline", "signed off by dr a on 2024-05-01")
    with pytest.raises(TimePointLockedError, match="signed off by dr a"):
        r.set_line("T1", "baseline", "long", None)
    r.focus(None)
    with pytest.raises(TimePointLockedError):
        r.set_line("T1", "baseline", "long", None)
    r.set_status("T2", "FU1", "not_evaluated")  # no focus: only the hard lock holds
    r.release("baseline")
    r.set_line("T1", "baseline", "long", None)


def test_undo_does_not_reach_into_a_read_only_time_point():
    r = measured()
    r.focus("FU1")
    r.set_status("T2", "FU1", "not_evaluated")
    r.focus("baseline")
    state = r.to_json()
    with pytest.raises(TimePointLockedError, match="FU1 is read-only"):
        r.undo()
    assert r.to_json() == state and r.can_undo
    r.focus("FU1")
    r.undo()
    assert "FU1" not in r.lesion("T2").findings


def test_focus_follows_a_renamed_time_point_and_its_undo():
    r = measured()
    r.focus("FU1")
    r.rename_timepoint("FU1", "3 months")
    assert r.locks.focus == "3 months"
    r.set_status("T2", "3 months", "too_small")
    r.undo()
    r.undo()
    assert r.locks.focus == "FU1" and [tp.label for tp in r.timepoints][1] == "FU1"


# ------------------------------------------------------------------------ audit trail


def test_the_audit_trail_has_one_line_per_change_and_is_only_appended(tmp_path):
    r = measured()
    path = audit_path(tmp_path / "P1.csv")
    assert path.name == "P1.audit.jsonl"
    trail = AuditTrail(path, reader="dr a")
    r.subscribe(trail)
    r.set_line("T1", "FU1", "long", line("1.2.2", 10, 10))
    r.set_status("NT1", "FU1", "present")
    r.undo()
    r.redo()
    r.remove_lesion("T2")
    r.focus("FU1")
    r.unlock("baseline")
    rows = read_audit(path)
    actions = [x["action"] for x in rows]
    assert list(dict.fromkeys(actions)) == [
        "set_line",
        "set_status",
        "undo",
        "redo",
        "delete_lesion",
        "unlock",
    ]
    first = rows[0]
    assert first["reader"] == "dr a" and first["time"].endswith("Z")
    assert (first["what"], first["lesion"], first["timepoint"]) == ("finding", "T1", "FU1")
    assert first["old"]["long_axis_mm"] == 30.0 and first["new"]["long_axis_mm"] == 15.0
    assert first["new"]["long_axis_lps"][0] == [-36.0, -36.0, -50.0]
    undo = rows[2]
    assert undo["undoes"]["action"] == "set_status" and undo["undoes"]["op"] == rows[1]["op"]
    assert undo["old"] == {"status": "present"} and undo["new"] is None
    deleted = rows[4]
    assert deleted["what"] == "lesion" and deleted["lesion"] == "T2" and deleted["new"] is None
    assert actions.count("delete_lesion") == 2  # the lesion, and its baseline finding
    assert rows[-1]["timepoint"] == "baseline" and rows[-1]["what"] == "lock"
    # The file only grows: what was written stays byte for byte.
    head = path.read_bytes()
    r.set_status("NT1", "FU1", "absent")
    assert path.read_bytes().startswith(head)


def test_deleting_a_lesion_lists_every_finding_removed(tmp_path):
    r = measured()
    trail = AuditTrail(tmp_path / "a.audit.jsonl", reader="x")
    r.subscribe(trail)
    r.remove_lesion("T1")
    rows = read_audit(tmp_path / "a.audit.jsonl")
    lost = {(x["what"], x["timepoint"]) for x in rows}
    assert lost == {("lesion", None), ("finding", "baseline"), ("finding", "FU1")}


def test_audit_entries_before_a_file_is_known_are_written_once_it_is(tmp_path):
    r = study()
    trail = AuditTrail(reader="dr a")
    r.subscribe(trail)
    r.set_reader("dr a")
    r.add_lesion("target", "liver")
    trail.attach(tmp_path / "x.audit.jsonl")
    rows = read_audit(tmp_path / "x.audit.jsonl")
    assert [x["what"] for x in rows] == ["reader", "lesion"]


def test_a_line_torn_by_a_crash_is_skipped_the_next_edit_kept(tmp_path):
    path = tmp_path / "t.audit.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c": ')
    assert read_audit(path) == [{"a": 1}, {"b": 2}]
    r = study()
    r.subscribe(AuditTrail(path, reader="x"))
    r.set_reader("y")
    rows = read_audit(path)
    assert rows[:2] == [{"a": 1}, {"b": 2}] and rows[2]["new"] == "y"


def test_the_audit_line_is_on_disk_when_the_process_dies(tmp_path):
    """Appended with flush + fsync before the edit returns: a kill -9 right after
    loses nothing."""
    code = f"""
import os, signal
from recist_tool.reading import AuditTrail, Reading
r = Reading(patient_id="P")
r.subscribe(AuditTrail({str(tmp_path / "k.audit.jsonl")!r}, reader="r"))
r.set_reader("someone")
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), check=False)
    assert proc.returncode == -9
    rows = read_audit(tmp_path / "k.audit.jsonl")
    assert rows[0]["new"] == "someone"


def test_the_reader_is_written_to_the_reader_column(tmp_path):
    r = measured()
    r.set_reader("dr a")
    r.save(tmp_path / "P1.csv")
    text = (tmp_path / "P1.csv").read_text()
    header, *rows = text.splitlines()
    col = header.split(",").index("reader")
    assert rows and all(row.split(",")[col] == "dr a" for row in rows)


# ------------------------------------------------------------------------ policy


def test_lesion_ids_are_unique_per_kind_and_never_clash():
    r = study()
    # Loaded data with a node called N1 (as in the sample's truth) and a target t3.
    r.add_lesion("target", "lymph node", nodal=True, lesion_id="N1")
    r.add_lesion("target", "liver", lesion_id="t3")
    assert r.add_lesion("new", "bone").lesion_id == "NL1"
    assert [r.add_lesion("target").lesion_id for _ in range(3)] == ["T1", "T2", "T4"]
    assert r.add_lesion("non_target").lesion_id == "NT1"
    with pytest.raises(ReadingError, match="used already"):
        r.add_lesion("target", lesion_id="T3")  # t3 in another case
    r.remove_lesion("T4")
    assert r.add_lesion("target").lesion_id == "T5"  # a deleted id is not given again


def test_a_lesion_changed_to_new_gets_a_new_lesion_id():
    r = measured()
    r.focus("FU1")
    t4 = r.add_lesion("target", "bone").lesion_id
    r.set_marker(t4, "FU1", Marker.from_index(GEO["1.2.2"], (8, 50, 50)))
    assert t4 == "T3"
    les = r.update_lesion(t4, kind="new")
    assert les.lesion_id == "NL1" and les.findings["FU1"].status == "present"
    r.undo()
    assert r.lesion("T3").kind == "target"
    # A custom id stays.
    r.add_lesion("target", "bone", lesion_id="rib lesion")
    assert r.update_lesion("rib lesion", kind="new").lesion_id == "rib lesion"


def test_time_points_follow_the_dates_until_something_is_measured():
    r = Reading(patient_id="P")
    r.add_series(SeriesInfo("1.2.2", study_date="2024-04-10", geometry=GEO["1.2.2"]))
    r.assign_by_date()
    assert [(tp.label, tp.date) for tp in r.timepoints] == [("baseline", "2024-04-10")]
    # An earlier study arrives: nothing measured yet, so it becomes the baseline.
    r.add_series(SeriesInfo("1.2.1", study_date="2024-01-10", geometry=GEO["1.2.1"]))
    r.assign_by_date()
    assert [tp.label for tp in r.timepoints] == ["baseline", "FU1"]
    assert r.series["1.2.1"].timepoint == "baseline"
    r.set_line(r.add_lesion().lesion_id, "baseline", "long", line("1.2.1", 4, 20))
    # Once measured, assignments never move: a later date gets the next FU label.
    r.add_series(SeriesInfo("1.2.3", study_date="2024-07-10", geometry=GEO["1.2.3"]))
    r.assign_by_date()
    assert [tp.label for tp in r.timepoints] == ["baseline", "FU1", "FU2"]


def test_a_study_opens_on_baseline_when_nothing_is_measured():
    r = study()
    assert r.opening_timepoint() == "baseline"
    r.add_lesion("target", "liver")
    assert r.opening_timepoint() == "baseline"
    r.set_line("T1", "baseline", "long", line("1.2.1", 5, 20))
    assert r.opening_timepoint() == "FU1"  # baseline complete, FU1 to do
    r.set_status("T1", "FU1", "too_small")
    r.set_status("T1", "FU2", "too_small")
    assert r.opening_timepoint() == "FU2"  # everything done: the latest


def test_a_target_first_recorded_at_follow_up_is_flagged_and_left_out():
    r = measured()
    r.set_status("NT1", "FU1", "present")
    r.set_status("T2", "FU1", "not_evaluated")
    late = r.add_lesion("target", "bone").lesion_id
    r.set_line(late, "FU1", "long", line("1.2.2", 14, 10))
    notes = [n for n in r.notes() if n.lesion_id == late]
    assert notes and notes[0].severity == "error" and "make it New" in notes[0].message
    ev = evaluate_reading(r)  # the engine would refuse the patient; the rest is shown
    assert ev.timepoints["timepoint"].tolist() == ["baseline", "FU1"]
    assert late not in set(ev.target_sizes["lesion_id"])
    r.update_lesion(late, kind="new")
    assert not [n for n in r.notes() if n.severity == "error"]
    assert evaluate_reading(r).timepoints["overall_response"].tolist()[1] == "PD"


def test_history_is_not_saved_and_a_loaded_reading_has_nothing_to_undo(tmp_path):
    r = measured()
    r.save(tmp_path / "P1.csv")
    back = Reading.load(tmp_path / "P1.csv")
    assert back.to_json() == r.to_json()
    assert not back.can_undo
    doc = json.loads((tmp_path / "P1.json").read_text())
    assert "history" not in doc and "locks" not in doc


def test_a_new_series_is_assigned_by_date_past_view_locks_but_never_into_a_signed_time_point():
    geo = SeriesGeometry("1.2.4", (-96.0, -96.0, -100.0), (5.0, 1.5, 1.5))
    for signed in (False, True):
        r = measured()
        r.focus("baseline")  # FU1 read-only for the reader: a system assignment may go there
        r.add_series(SeriesInfo("1.2.4", "CT chest", "CT", "2024-04-10", 3, 5.0, 40, geometry=geo))
        if not signed:
            assert r.assign_by_date() == ["1.2.4"] and r.series["1.2.4"].timepoint == "FU1"
            continue
        r.locks.hard["FU1"] = "signed by alice"  # a signed time point: nothing goes there
        with pytest.raises(TimePointLockedError, match="FU1 is locked: signed by alice"):
            r.assign_by_date()
        assert not r.series["1.2.4"].timepoint


def test_the_kind_of_a_lesion_follows_where_it_is_first_recorded():
    from recist_tool.reading.policy import kind_first_seen

    r = Reading()
    r.set_timepoint("baseline", "2024-01-15")
    r.set_timepoint("FU1", "2024-04-16")
    assert kind_first_seen(r, "baseline", "new") == "target"
    assert kind_first_seen(r, "baseline", "non_target") == "non_target"
    assert kind_first_seen(r, None, "new") == "target"
    for kind in ("target", "non_target", "new"):  # at a follow-up the reader's kind stands
        assert kind_first_seen(r, "FU1", kind) == kind
