"""The reading model: geometry, lines, findings, the annotation table and the sidecar."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recist_tool.annotations import COLUMNS, read_annotations
from recist_tool.reading import (
    Fragment,
    Line,
    Marker,
    Reading,
    ReadingError,
    SeriesGeometry,
    SeriesInfo,
    axis_checks,
    dicom_date,
    evaluate_reading,
    load_sidecar,
    sidecar_path,
    write_snapshot,
)

SAMPLE = Path(__file__).resolve().parents[2] / "sample_dicom"

# An oblique grid: rotated 20° about S, anisotropic voxels.
_T = math.radians(20)
OBLIQUE = SeriesGeometry(
    series_uid="1.2.826.0.1.3",
    origin_lps=(-120.0, -80.0, 35.0),
    spacing_zyx=(2.5, 0.8, 0.7),
    direction=(math.cos(_T), -math.sin(_T), 0.0, math.sin(_T), math.cos(_T), 0.0, 0.0, 0.0, 1.0),
    sop_instance_uids=tuple(f"1.2.826.0.1.3.{k}" for k in range(40)),
)
AXIAL = SeriesGeometry("1.2.826.0.1.4", (-191.25, -191.25, -90.0), (5.0, 1.5, 1.5))


def _reading() -> Reading:
    """Two time points, a liver target, a nodal target and a non-target."""
    r = Reading(patient_id="P1", reader="dr x")
    base, fu = OBLIQUE.series_uid, AXIAL.series_uid
    r.add_series(SeriesInfo(base, "base", "CT", "2024-01-15", 2, 2.5, 40, geometry=OBLIQUE))
    r.add_series(SeriesInfo(fu, "fu", "CT", "2024-04-16", 3, 5.0, 41, geometry=AXIAL))
    r.assign_series(base, "baseline")
    r.assign_series(fu, "FU1")
    bl = Line.from_indices
    t1 = r.add_lesion("target", "liver").lesion_id
    r.set_line(t1, "baseline", "long", bl(OBLIQUE, (10, 50, 40), (10, 50, 100)))
    n = r.add_lesion("target", "mediastinum", nodal=True).lesion_id
    r.set_line(n, "baseline", "long", bl(OBLIQUE, (12, 20, 20), (12, 60, 20)))
    r.set_line(n, "baseline", "short", bl(OBLIQUE, (12, 40, 5), (12, 40, 30)))
    nt = r.add_lesion("non_target", "lung").lesion_id
    r.set_marker(nt, "baseline", Marker.from_index(OBLIQUE, (20, 70, 80)))
    r.set_line(t1, "FU1", "long", bl(AXIAL, (20, 100, 90), (20, 100, 110)))
    r.set_status(n, "FU1", "not_evaluated")
    r.set_status(nt, "FU1", "present")
    return r


def test_geometry_round_trip_and_matches_the_loader_convention():
    idx = np.array([[3.0, 17.5, 40.25], [0.0, 0.0, 0.0], [39.0, 511.0, 2.0]])
    lps = OBLIQUE.index_to_lps(idx)
    np.testing.assert_allclose(OBLIQUE.lps_to_index(lps), idx, atol=1e-9)
    # lps = origin + D @ (spacing_xyz * (x, y, z)) by hand for the first point
    d = np.reshape(OBLIQUE.direction, (3, 3))
    by_hand = np.add(OBLIQUE.origin_lps, d @ (np.array([0.7, 0.8, 2.5]) * [40.25, 17.5, 3.0]))
    np.testing.assert_allclose(lps[0], by_hand)
    assert not OBLIQUE.is_axial and AXIAL.is_axial


def test_geometry_agrees_with_the_dicom_volume():
    from recist_tool.dicom import Volume

    vol = Volume(
        array=np.zeros((40, 4, 4), np.int16),
        spacing_zyx=OBLIQUE.spacing_zyx,
        origin_lps=OBLIQUE.origin_lps,
        direction=OBLIQUE.direction,
        sop_instance_uids=OBLIQUE.sop_instance_uids,
        metadata={"series_instance_uid": "1.2.3", "study_date": "20240115", "series_number": 4},
    )
    geo = SeriesGeometry.from_volume(vol)
    p = np.array([[1.0, 2.0, 3.0], [7.5, 0.25, 3.0]])
    np.testing.assert_allclose(geo.index_to_lps(p), vol.index_to_lps(p))
    info = SeriesInfo.from_volume(vol)
    assert (info.series_uid, info.study_date, info.series_number) == ("1.2.3", "2024-01-15", 4)


def test_line_length_is_in_mm_and_records_its_slice():
    line = Line.from_indices(OBLIQUE, (10, 50, 40), (10, 50, 100))
    assert line.length_mm == pytest.approx(60 * 0.7)  # 60 columns of 0.7 mm, rotated
    assert line.slice_index == 10
    assert line.sop_instance_uid == "1.2.826.0.1.3.10"
    diag = Line.from_indices(AXIAL, (0, 0, 0), (0, 30, 40))
    assert diag.length_mm == pytest.approx(math.hypot(30 * 1.5, 40 * 1.5))


def test_drawing_sets_statuses_and_sizes():
    r = _reading()
    f = r.lesion("T1").findings["baseline"]
    assert f.status == "measured" and f.long_mm == pytest.approx(42.0)
    node = r.lesion("T2").findings["baseline"]
    assert node.short_mm == pytest.approx(round(25 * 0.7, 1))
    assert r.lesion("NT1").findings["baseline"].status == "present"


def test_too_small_drops_the_line_but_a_disappeared_node_keeps_its_short_axis():
    r = _reading()
    r.set_status("T1", "FU1", "too_small")
    f = r.lesion("T1").findings["FU1"]
    assert f.long_axis is None and f.status == "too_small"
    r.set_line("T2", "FU1", "short", Line.from_indices(AXIAL, (5, 10, 10), (5, 10, 15)))
    r.set_status("T2", "FU1", "disappeared")
    assert r.lesion("T2").findings["FU1"].short_mm == pytest.approx(7.5)
    with pytest.raises(ReadingError, match="not a status of a non_target"):
        r.set_status("NT1", "FU1", "too_small")


def test_annotation_rows():
    frame = _reading().to_frame()
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    rows = {(x.timepoint, x.lesion_id): x for x in frame.itertuples()}
    assert set(rows) == {
        ("baseline", "T1"),
        ("baseline", "T2"),
        ("baseline", "NT1"),
        ("FU1", "T1"),
        ("FU1", "T2"),
        ("FU1", "NT1"),
    }
    assert rows[("baseline", "T1")].long_axis_mm == pytest.approx(42.0)
    assert rows[("baseline", "T2")].nodal
    assert rows[("FU1", "T1")].date == "2024-04-16"
    assert rows[("FU1", "T1")].series_uid == "1.2.826.0.1.4"
    assert rows[("FU1", "T1")].slice_thickness_mm == "5"
    assert math.isnan(rows[("FU1", "T2")].long_axis_mm)


def test_an_undrawn_target_is_left_out_and_noted():
    r = _reading()
    r.set_line("T1", "FU1", "long", None)  # deleted: status stays "measured"
    assert ("FU1", "T1") not in {(m.timepoint, m.lesion_id) for m in r.to_measurements()}
    assert any(n.lesion_id == "T1" and "not drawn" in n.message for n in r.notes())


def test_save_and_load_restore_everything_exactly(tmp_path):
    r = _reading()
    csv, side = r.save(tmp_path / "reading.csv")
    assert side == sidecar_path(csv) == tmp_path / "reading.json"
    back = Reading.load(csv)
    assert back.load_notes == []
    assert back.to_json() == r.to_json()
    assert back.lesions == r.lesions and back.timepoints == r.timepoints
    # The CSV is a valid annotation file with the same values.
    table = read_annotations(csv)
    assert len(table) == 6
    assert table.loc[table.lesion_id == "T1", "long_axis_mm"].tolist() == [42.0, 20 * 1.5]


def test_sidecar_documents_geometry_for_other_tools(tmp_path):
    _, side = _reading().save(tmp_path / "r.csv")
    doc = json.loads(side.read_text())
    assert doc["format"] == "recist-tool-reading" and doc["version"] == 1
    t1 = next(les for les in doc["lesions"] if les["lesion_id"] == "T1")
    base = next(f for f in t1["findings"] if f["timepoint"] == "baseline")
    la = base["long_axis"]
    assert la["sop_instance_uid"] == "1.2.826.0.1.3.10" and la["slice_index"] == 10
    np.testing.assert_allclose(la["p1_index_zyx"], [10, 50, 40], atol=1e-3)
    np.testing.assert_allclose(la["p1_lps"], OBLIQUE.index_to_lps([10, 50, 40]))
    assert la["length_mm"] == pytest.approx(42.0)
    assert doc["timepoints"][0] == {
        "label": "baseline",
        "date": "2024-01-15",
        "baseline": True,
        "series_uids": ["1.2.826.0.1.3"],
    }
    assert load_sidecar(side).to_json() == _reading().to_json()


def test_csv_edited_after_the_sidecar_wins_and_stale_lines_are_dropped(tmp_path):
    csv, _ = _reading().save(tmp_path / "r.csv")
    text = csv.read_text().replace(",42,", ",44,")
    csv.write_text(text)
    back = Reading.load(csv)
    f = back.lesion("T1").findings["baseline"]
    assert f.long_mm == 44.0 and f.long_axis is None
    assert back.lesion("T2").findings["baseline"].long_axis is not None  # unchanged: kept
    assert back.lesion("NT1").findings["baseline"].marker is not None
    assert any("T1 at baseline: long axis line dropped" in n for n in back.load_notes)


def test_csv_without_sidecar_loads_sizes(tmp_path):
    csv, side = _reading().save(tmp_path / "r.csv")
    side.unlink()
    back = Reading.load(csv)
    assert back.lesion("T1").findings["baseline"].long_mm == 42.0
    assert back.lesion("T1").findings["baseline"].long_axis is None
    assert [tp.label for tp in back.timepoints] == ["baseline", "FU1"]
    assert "not found" in back.load_notes[0]


def test_bad_sidecars_name_the_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{ not json")
    with pytest.raises(ReadingError, match=r"x\.json: line 1: not valid JSON"):
        load_sidecar(bad)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ReadingError, match="not a recist-tool reading sidecar"):
        load_sidecar(bad)
    doc = _reading().to_json()
    doc["lesions"][0]["findings"][0]["status"] = "huge"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ReadingError, match=r"lesions\[0\]\.findings\[0\]: unknown status 'huge'"):
        load_sidecar(bad)


def test_node_axis_checks():
    r = _reading()
    f = r.lesion("T2").findings["baseline"]
    assert axis_checks(f) == []  # drawn perpendicular, SA < LA
    r.set_line("T2", "baseline", "short", Line.from_indices(OBLIQUE, (12, 20, 5), (12, 70, 40)))
    msgs = " ".join(m for _, m in axis_checks(r.lesion("T2").findings["baseline"]))
    assert "from the long axis" in msgs and "longer than the long axis" in msgs


def test_time_points_follow_dates_and_default_to_study_date():
    r = Reading(patient_id="P")
    r.add_series(SeriesInfo("9.1", study_date="2024-05-01"))
    r.add_series(SeriesInfo("9.2", study_date="2024-01-01"))
    r.add_series(SeriesInfo("9.3"))
    r.assign_series("9.1", "FU1")
    r.assign_series("9.2", "baseline")
    assert [tp.label for tp in r.timepoints] == ["baseline", "FU1"]
    assert r.baseline.date == "2024-01-01"
    with pytest.raises(ReadingError, match="has no StudyDate"):
        r.assign_series("9.3", "FU2")
    r.assign_series("9.3", "FU2", "2024-09-01")
    r.rename_timepoint("FU2", "FU 6 months")
    assert r.series["9.3"].timepoint == "FU 6 months"
    r.assign_series("9.3", None)  # nothing left at that time point: it goes
    assert [tp.label for tp in r.timepoints] == ["baseline", "FU1"]
    assert dicom_date("20240115") == "2024-01-15" and dicom_date("2024-13-01") == ""


def test_new_lesions_appear_from_where_they_were_seen():
    r = _reading()
    new = r.add_lesion("new", "bone")
    r.set_marker(new.lesion_id, "FU1", Marker.from_index(AXIAL, (3, 40, 40)))
    assert new.lesion_id == "NL1" and new.findings["FU1"].status == "present"
    assert "NL1" not in [les.lesion_id for les in r.lesions_for("baseline")]
    assert "NL1" in [les.lesion_id for les in r.lesions_for("FU1")]
    r.set_marker(new.lesion_id, "baseline", Marker.from_index(OBLIQUE, (3, 40, 40)))
    assert any("cannot be at baseline" in n.message for n in r.notes())


def test_one_patient_per_reading():
    frame = _reading().to_frame()
    frame.loc[0, "patient_id"] = "P2"
    with pytest.raises(ReadingError, match="one patient"):
        Reading.from_frame(frame)


def test_the_engine_sees_the_sample_truth_as_a_partial_response():
    reading = Reading.from_frame(read_annotations(SAMPLE / "annotations.csv"))
    ev = evaluate_reading(reading)
    fu = ev.timepoints.iloc[-1]
    assert fu["sum_mm"] == pytest.approx(53.0)
    assert fu["change_from_baseline_pct"] == -38.4  # the display value (exact -38.37 %)
    assert ev.exact_pct("change_from_baseline_pct")[-1] == pytest.approx(-38.372, abs=1e-3)
    assert fu["target_response"] == "PR" and fu["overall_response"] == "PR"


def test_a_recovery_file_newer_than_the_sidecar_wins(tmp_path):
    from recist_tool.reading import drop_recovery, recovery_path, write_recovery

    csv = tmp_path / "r.csv"
    r = _reading()
    first = r.snapshot()
    write_snapshot(first, csv)
    r.set_status("T1", "FU1", "disappeared")  # then the app "crashes" before saving
    later = r.snapshot()
    write_recovery(later, csv)
    assert recovery_path(csv).name == "r.recovery.json"
    back = Reading.load(csv)
    assert back.lesion("T1").findings["FU1"].status == "disappeared"
    assert "before a crash" in back.load_notes[0]
    drop_recovery(csv, first.doc["revision"])  # an older save does not remove it
    assert recovery_path(csv).exists()
    write_snapshot(later, csv)
    drop_recovery(csv, later.doc["revision"])
    assert not recovery_path(csv).exists()
    assert Reading.load(csv).load_notes == []


def test_an_old_or_torn_recovery_file_is_ignored(tmp_path):
    from recist_tool.reading import write_recovery

    csv = tmp_path / "r.csv"
    r = _reading()
    old = r.snapshot()
    r.set_status("T1", "FU1", "too_small")
    write_snapshot(r.snapshot(), csv)
    write_recovery(old, csv)  # older than the sidecar
    assert Reading.load(csv).lesion("T1").findings["FU1"].status == "too_small"
    rec = tmp_path / "r.recovery.json"
    rec.write_text('{"format": "recist-tool-reading", "revision": 99999999999999999999, "les')
    assert Reading.load(csv).lesion("T1").findings["FU1"].status == "too_small"


def test_a_split_lesion_keeps_its_fragments_through_load_edit_and_save(tmp_path):
    """A target that split at FU1, recorded as the plugin's README said (the CSV
    edited: a second row with a 'fragment' label). Loading kept only the last row: T1
    was 12 mm instead of 30 + 12 mm, and the response turned from SD into PR."""
    r = _reading()
    csv, _ = r.save(tmp_path / "r.csv")
    frame = read_annotations(csv).drop(columns=["_source", "_line"], errors="ignore")
    frame["fragment"] = ""
    t1 = (frame["lesion_id"] == "T1") & (frame["timepoint"] == "FU1")
    part = frame[t1].assign(long_axis_mm=12.0, fragment="b", method="")
    frame.loc[t1, "fragment"] = "a"
    frame = pd.concat([frame, part], ignore_index=True)
    frame.to_csv(csv, index=False)
    back = Reading.load(csv)
    f = back.lesion("T1").findings["FU1"]
    assert f.long_mm == 30.0 and f.long_axis is not None  # the drawn part keeps its line
    assert (f.fragment, f.fragments) == ("a", (Fragment("b", 12.0, None),))
    assert f.added_up("long") == 42.0
    sizes = evaluate_reading(back).target_sizes.set_index(["lesion_id", "timepoint"])
    assert float(sizes.loc[("T1", "FU1"), "counted_mm"]) == pytest.approx(42.0)  # both parts
    # saved again (CSV and sidecar): both rows, and the sidecar restores them exactly
    csv2, side2 = back.save(tmp_path / "again.csv")
    rows = read_annotations(csv2)
    rows = rows[(rows["lesion_id"] == "T1") & (rows["timepoint"] == "FU1")]
    assert sorted(zip(rows["fragment"], rows["long_axis_mm"], strict=True)) == [
        ("a", 30.0),
        ("b", 12.0),
    ]
    assert Reading.load(csv2).to_json() == back.to_json()
    assert "fragments" in side2.read_text()
    # a status of the whole lesion drops the other parts
    back.set_status("T1", "FU1", "disappeared")
    assert back.lesion("T1").findings["FU1"].fragments == ()
    back.undo()
    assert back.lesion("T1").findings["FU1"].added_up("long") == 42.0


def test_the_same_lesion_twice_at_a_time_point_without_fragment_labels_is_an_error():
    rows = pd.DataFrame(
        {
            "patient_id": ["P1"] * 3,
            "lesion_id": ["T1"] * 3,
            "timepoint": ["baseline", "FU1", "FU1"],
            "date": ["2024-01-01", "2024-04-01", "2024-04-01"],
            "kind": ["target"] * 3,
            "organ": ["liver"] * 3,
            "nodal": [False] * 3,
            "status": ["measured"] * 3,
            "long_axis_mm": [40.0, 20.0, 25.0],
            "short_axis_mm": [None] * 3,
        }
    )
    with pytest.raises(ReadingError, match="lesion T1 is given twice at FU1"):
        Reading.from_frame(rows)
    ok = Reading.from_frame(rows.assign(fragment=["", "a", "b"]))
    assert [m.long_axis_mm for m in ok.to_measurements()] == [40.0, 20.0, 25.0]
    assert ok.lesion("T1").findings["baseline"].fragment == ""


def test_parts_of_a_split_lesion_are_drawn_undone_and_saved(tmp_path):
    r = _reading()
    bl = Line.from_indices
    f = r.lesion("T1").findings["FU1"]
    assert (f.fragment, f.next_part()) == ("", "b")
    r.set_line("T1", "FU1", "long", bl(AXIAL, (20, 60, 60), (20, 60, 68)), part="b")
    f = r.lesion("T1").findings["FU1"]
    assert (f.fragment, [fr.label for fr in f.fragments], f.next_part()) == ("a", ["b"], "c")
    assert f.added_up("long") == 30.0 + 12.0
    rows = [(m.long_axis_mm, m.extra.get("fragment")) for m in r.to_measurements()]
    assert (30.0, "a") in rows and (12.0, "b") in rows
    csv, _ = r.save(tmp_path / "r.csv")
    back = Reading.load(csv)
    assert back.to_json() == r.to_json()
    assert back.lesion("T1").findings["FU1"].part("b").long_axis is not None  # the line
    r.undo()  # one undoable step each
    assert r.lesion("T1").findings["FU1"].fragments == ()
    r.redo()
    r.set_line("T1", "FU1", "long", None, part="b")  # its last line: the part goes
    f = r.lesion("T1").findings["FU1"]
    assert (f.fragment, f.fragments) == ("", ())
    with pytest.raises(ReadingError, match="only a target is measured in parts"):
        r.set_line("NT1", "FU1", "long", bl(AXIAL, (20, 60, 60), (20, 60, 68)), part="b")


def test_a_target_that_coalesced_counts_zero_and_names_the_other(tmp_path):
    r = _reading()
    t3 = r.add_lesion("target", "liver").lesion_id
    bl = Line.from_indices
    r.set_line(t3, "baseline", "long", bl(OBLIQUE, (10, 80, 40), (10, 80, 60)))
    f = r.set_merged(t3, "FU1", "T1")
    assert (f.status, f.long_mm, f.merged_into) == ("measured", 0.0, "T1")
    assert r.still_to_assess("FU1") == []
    rows = {(m.lesion_id, m.timepoint): m for m in r.to_measurements()}
    assert rows[(t3, "FU1")].long_axis_mm == 0.0
    assert rows[(t3, "FU1")].extra["merged_into"] == "T1"
    sizes = evaluate_reading(r).target_sizes.set_index(["lesion_id", "timepoint"])
    assert float(sizes.loc[(t3, "FU1"), "counted_mm"]) == 0.0
    csv, _ = r.save(tmp_path / "r.csv")
    assert Reading.load(csv).to_json() == r.to_json()
    side = csv.with_suffix(".json")
    side.unlink()  # the CSV alone keeps it too
    assert Reading.load(csv).lesion(t3).findings["FU1"].merged_into == "T1"
    # drawn again: on its own again; undone: coalesced again
    r.set_line(t3, "FU1", "long", bl(AXIAL, (20, 80, 40), (20, 80, 50)))
    assert r.lesion(t3).findings["FU1"].merged_into == ""
    r.undo()
    assert r.lesion(t3).findings["FU1"].merged_into == "T1"
    # the other lesion not measured there: a warning
    r.set_line("T1", "FU1", "long", None)
    r.set_status("T1", "FU1", None)
    assert any("coalesced into T1, which is not measured" in n.message for n in r.notes())
    with pytest.raises(ReadingError, match="only non-nodal targets coalesce"):
        r.set_merged(t3, "FU1", "T2")  # T2 is the node
    with pytest.raises(ReadingError, match="is not another lesion"):
        r.set_merged(t3, "FU1", t3)
    r.set_merged(t3, "FU1", None)
    assert t3 in r.still_to_assess("FU1")
