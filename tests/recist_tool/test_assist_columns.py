"""The method / volume_ml / mean_hu columns and accepting a proposal in a reading."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from recist_tool.annotations import check_annotations, read_annotations, to_frame, write_annotations
from recist_tool.errors import AnnotationError
from recist_tool.reading import Line, Reading, SeriesGeometry, apply_proposal

HEADER = "patient_id,timepoint,date,lesion_id,kind,organ,nodal,long_axis_mm,short_axis_mm,status"


def csv(tmp_path, rows, extra="method,volume_ml,mean_hu"):
    p = tmp_path / "a.csv"
    p.write_text(HEADER + "," + extra + "\n" + "\n".join(rows) + "\n")
    return p


def test_columns_are_read_typed_and_written_back(tmp_path):
    p = csv(
        tmp_path,
        [
            "P1,BL,2024-01-01,T1,target,liver,false,20,,measured,assisted,4.25,-12.5",
            "P1,BL,2024-01-01,T2,target,lung,false,15,,measured,MANUAL,,",
            "P1,BL,2024-01-01,T3,target,lung,false,15,,measured,assisted_edited,0.5,+30",
        ],
    )
    f = read_annotations(p)
    assert list(f["method"].astype(str)) == ["assisted", "manual", "assisted_edited"]
    assert f["volume_ml"].tolist()[0] == 4.25 and np.isnan(f["volume_ml"].iloc[1])
    assert f["mean_hu"].tolist()[0] == -12.5 and f["mean_hu"].iloc[2] == 30.0
    out = tmp_path / "b.csv"
    write_annotations(f, out)
    assert "assisted,4.25,-12.5" in out.read_text()
    back = read_annotations(out)
    assert back["mean_hu"].tolist()[0] == -12.5
    check_annotations(back)  # a checked frame checks again


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("guessed,1,1", "column method: 'guessed': unknown method"),
        ("assisted,-1,1", "column volume_ml: '-1': must not be negative"),
        ("assisted,1,12 HU", "column mean_hu: '12 HU': not a number of HU"),
        ("assisted,1,1e3", "column mean_hu: '1e3': not a number of HU"),
        ("assisted,1,-100001", "column mean_hu: '-100001': not a number of HU"),
        ("assisted,1," + "9" * 400, "column mean_hu: '9{20}.*not a number of HU"),  # inf
    ],
)
def test_bad_cells_are_reported_with_line_and_column(tmp_path, cells, message):
    p = csv(tmp_path, ["P1,BL,2024-01-01,T1,target,liver,false,20,,measured," + cells])
    with pytest.raises(AnnotationError, match="line 2: " + message):
        read_annotations(p)


def geometry():
    sops = ("a", "b", "c")
    return SeriesGeometry("1.2.3", (0.0, 0.0, 0.0), (2.0, 0.5, 0.5), sop_instance_uids=sops)


def proposal():
    return SimpleNamespace(
        slice_index=1,
        long_axis_lps=((0.0, 0.0, 2.0), (20.0, 0.0, 2.0)),
        short_axis_lps=((10.0, -6.0, 2.0), (10.0, 6.0, 2.0)),
        volume_ml=3.14159,
        mean_hu=-4.26,
    )


def test_accepted_proposal_then_edit_then_csv_and_sidecar(tmp_path):
    r = Reading(patient_id="P1", reader="R")
    r.set_timepoint("baseline", "2024-01-01")
    r.add_lesion("target", "liver", lesion_id="T1")
    r.add_lesion("target", "lung", lesion_id="T2")
    f = apply_proposal(r, "T1", "baseline", proposal(), geometry())
    assert f.method == "assisted" and f.long_mm == 20.0 and f.short_mm == 12.0
    assert f.long_axis.sop_instance_uid == "b" and f.long_axis.slice_index == 1
    r.set_line("T2", "baseline", "long", Line((0, 0, 0), (11, 0, 0), "1.2.3", "a", 0))
    rows = {m.lesion_id: m.extra for m in r.to_measurements()}
    assert rows["T1"]["method"] == "assisted"
    assert rows["T1"]["volume_ml"] == "3.142" and rows["T1"]["mean_hu"] == "-4.3"
    assert rows["T2"]["method"] == "manual" and rows["T2"]["volume_ml"] == ""
    # re-committing the same line is no edit; moving an end point is
    r.set_line("T1", "baseline", "long", f.long_axis)
    assert r.lesion("T1").findings["baseline"].method == "assisted"
    r.set_line("T1", "baseline", "long", Line((0, 0, 2), (21, 0, 2), "1.2.3", "b", 1))
    assert r.lesion("T1").findings["baseline"].method == "assisted_edited"
    csv_path, _ = r.save(tmp_path / "reading.csv")
    table = read_annotations(csv_path)
    assert sorted(table["method"].astype(str)) == ["assisted_edited", "manual"]
    back = Reading.load(csv_path)
    g = back.lesion("T1").findings["baseline"]
    assert (g.method, g.volume_ml, g.mean_hu) == ("assisted_edited", 3.14159, -4.26)
    # a CSV without sidecar keeps the columns too
    (tmp_path / "reading.json").unlink()
    g = Reading.load(csv_path).lesion("T1").findings["baseline"]
    assert (g.method, g.volume_ml, g.mean_hu) == ("assisted_edited", 3.142, -4.3)
    assert to_frame(back.to_measurements())["method"].tolist() == ["assisted_edited", "manual"]


def test_accepting_a_proposal_is_one_undoable_audited_operation(tmp_path):
    from recist_tool.reading import AuditTrail, read_audit

    r = Reading(patient_id="P1", reader="R")
    r.set_timepoint("baseline", "2024-01-01")
    r.add_lesion("target", "liver", lesion_id="T1")
    r.subscribe(AuditTrail(tmp_path / "a.audit.jsonl", reader="R"))
    apply_proposal(r, "T1", "baseline", proposal(), geometry())
    assert r.undo_step.action == "accept_proposal"
    r.undo()
    f = r.lesion("T1").findings.get("baseline")
    assert f is None or (f.long_axis is None and f.method is None)
    r.redo()
    g = r.lesion("T1").findings["baseline"]
    assert (g.method, g.volume_ml) == ("assisted", 3.14159)
    rows = read_audit(tmp_path / "a.audit.jsonl")
    assert [x["action"] for x in rows] == ["accept_proposal", "undo", "redo"]
    assert rows[0]["new"]["method"] == "assisted"
