"""DICOM SR both ways with OHIF v3, checked with OHIF's own adapter in node.

Our SRs go through ``MeasurementReport.generateToolState`` (what OHIF calls to turn an
SR into editable measurements); OHIF-style SRs are written by
``MeasurementReport.generateReport`` from tool state and imported back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from recist_tool.cli import app
from recist_tool.export.sr import ImageIndex, export_readings, image_coordinates, tracking_uid
from recist_tool.export.sr_import import read_srs, to_frame, to_readings

from . import ohif
from .conftest import reading_from_truth
from .test_sr import dciodvfy_errors

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"
PATIENT = "RECIST-SAMPLE-001"


def test_our_srs_hydrate_in_ohif_as_editable_measurements(sample_srs, sample_reading):
    hydrated = ohif.hydrate(sample_srs, [SAMPLE])
    for path in sample_srs:
        tp = "baseline" if "baseline" in path.name else "followup"
        state = hydrated[path.name]
        by_label = {m["label"]: m for m in state["measurements"]}
        assert sorted(by_label) == ["L1", "L2", "N1", "NT1"]
        for lesion in sample_reading.lesions:
            m = by_label[lesion.lesion_id]
            f = lesion.findings[tp]
            assert m["trackingUid"] == tracking_uid(PATIENT, lesion.lesion_id)
            if lesion.kind == "target":
                assert m["toolType"] == "Bidirectional"
                assert (m["length"], m["width"], m["unit"]) == (f.long_mm, f.short_mm, "mm")
                assert m["sopInstanceUid"] == f.long_axis.sop_instance_uid
                assert Path(m["referencedFile"]).parent.name == tp  # that time point's image
                # OHIF's handles: long axis ends, then short axis ends, in patient mm
                pts = np.array(m["points"])
                want = [f.long_axis.p1_lps, f.long_axis.p2_lps]
                want += [f.short_axis.p1_lps, f.short_axis.p2_lps]
                assert np.allclose(pts, want, atol=1e-3)
                assert m["findingSites"][0]["CodeValue"] in ("10200004", "39607008", "59441001")
            else:  # the non-target's marker: OHIF's arrow, its tip at the marker
                assert (m["toolType"], m["text"]) == ("ArrowAnnotate", lesion.lesion_id)
                assert m["sopInstanceUid"] == f.marker.sop_instance_uid
                assert np.allclose(m["points"][0], f.marker.position_lps, atol=1e-3)


def _reading_variants():
    """A long axis alone (Length), a lesion with sizes but no lines (numbers only)."""
    reading = reading_from_truth()
    reading.set_line("L2", "baseline", "short", None)
    reading.lesion("N1").findings["baseline"].long_axis = None
    reading.lesion("N1").findings["baseline"].long_axis_mm = 28.0
    reading.lesion("N1").findings["baseline"].short_axis = None
    reading.lesion("N1").findings["baseline"].short_axis_mm = 20.0
    return reading


def test_length_only_and_numbers_only_groups(tmp_path):
    from recist_tool.export.sr import numbers_only

    reading = _reading_variants()
    (path,) = export_readings([reading], [SAMPLE], tmp_path, timepoints=["baseline"])
    assert dciodvfy_errors(path) == []
    state = ohif.hydrate([path], [SAMPLE])[path.name]
    kinds = {m["label"]: (m["toolType"], m["length"]) for m in state["measurements"]}
    assert kinds == {
        "L1": ("Bidirectional", 42.0),
        "L2": ("Length", 24.0),  # no short axis line: OHIF's length tool
        "NT1": ("ArrowAnnotate", None),
    }  # N1 has sizes only: not a tool OHIF can draw (it stays in the SR as numbers)
    (warning,) = numbers_only([reading])
    assert "N1 (baseline)" in warning and "sizes only" in warning
    back = to_frame(read_srs([path])).set_index("lesion_id")
    assert back.loc["N1", ["long_axis_mm", "short_axis_mm"]].tolist() == [28.0, 20.0]


def test_export_sr_without_geometry_warns(tmp_path):
    result = CliRunner().invoke(
        app,
        ["export", "sr", str(SAMPLE / "annotations.csv"), "--dicom", str(SAMPLE),
         "-o", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: patient RECIST-SAMPLE-001: no line geometry for" in result.stderr
    assert "sizes only" in result.stderr


def _xy(line, index):
    image = index.by_sop[line.sop_instance_uid]
    return image_coordinates(np.array([line.p1_lps, line.p2_lps]), image).tolist()


@pytest.fixture(scope="module")
def ohif_srs(tmp_path_factory):
    """SRs written by OHIF's adapter: baseline with SCT codes, follow-up with the older
    SRT codes; Bidirectional and Length tools, an aorta diameter and a probe."""
    tmp = tmp_path_factory.mktemp("ohif")
    truth = reading_from_truth()
    index = ImageIndex([SAMPLE])
    reports = []
    for tp, legacy in (("baseline", False), ("followup", True)):
        l1, l2, n1 = (truth.lesion(x).findings[tp] for x in ("L1", "L2", "N1"))
        liver = {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Liver"}
        aorta = {"CodeValue": "15825003", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Aorta"}
        sop = l2.long_axis.sop_instance_uid
        tools = [
            {"tool": "Bidirectional", "sop": l1.long_axis.sop_instance_uid, "label": "Liver 1",
             "points": _xy(l1.long_axis, index) + _xy(l1.short_axis, index),
             "findingSites": [liver]},
            {"tool": "Length", "sop": sop, "points": _xy(l2.long_axis, index), "label": "Lung 1"},
            {"tool": "Bidirectional", "sop": n1.long_axis.sop_instance_uid, "label": "Node 1",
             "points": _xy(n1.long_axis, index) + _xy(n1.short_axis, index)},
            {"tool": "Length", "sop": sop, "points": [[200.5, 150.5], [220.5, 150.5]],
             "label": "Aorta", "findingSites": [aorta]},
            {"tool": "Probe", "sop": sop, "points": [[100.5, 120.5]], "label": "HU"},
        ]  # fmt: skip
        reports.append({"out": str(tmp / f"ohif_{tp}.dcm"), "tools": tools, "legacyCodes": legacy})
    paths = ohif.generate(reports, [SAMPLE], tmp)
    return truth, paths


def test_ohif_written_srs_import_as_one_lesion_per_group(ohif_srs):
    truth, paths = ohif_srs
    raw = [pydicom.dcmread(p) for p in paths]
    assert raw[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22"  # OHIF writes Enhanced SR
    texts = {
        it.TextValue
        for g in raw[1].ContentSequence[-1].ContentSequence
        for it in g.ContentSequence
        if it.ConceptNameCodeSequence[0].CodeValue == "112039"
    }
    tag = "Cornerstone3DTools@^0.1.0"
    assert texts == {f"{tag}:Bidirectional", f"{tag}:Length", f"{tag}:Probe"}
    names = {
        it.ConceptNameCodeSequence[0].CodeValue
        for g in raw[1].ContentSequence[-1].ContentSequence
        for it in g.ContentSequence
    }
    assert {"G-A185", "G-A186"} <= names  # the follow-up SR has the older SRT codes

    skipped: list = []
    lesions = read_srs(paths, skipped)
    frame = to_frame(lesions).set_index(["timepoint", "lesion_id"])
    for tp, date in (("baseline", "2024-01-15"), ("followup", "2024-04-16")):
        assert sorted(frame.loc[date].index) == ["Liver 1", "Lung 1", "Node 1"]
        for name, lid in (("Liver 1", "L1"), ("Lung 1", "L2"), ("Node 1", "N1")):
            f = truth.lesion(lid).findings[tp]
            row = frame.loc[(date, name)]
            assert row["long_axis_mm"] == pytest.approx(f.long_mm, abs=1e-4)
            short = f.short_mm if name != "Lung 1" else None  # Length: one axis
            if short is None:
                assert np.isnan(row["short_axis_mm"])
            else:
                assert row["short_axis_mm"] == pytest.approx(short, abs=1e-4)
            assert (row["kind"], row["status"]) == ("target", "measured")
        assert frame.loc[(date, "Liver 1"), "organ"] == "liver"
    # the aorta diameter and the HU probe are reported, not turned into targets
    assert sorted((s.description, s.reason.split(" ")[0]) for s in skipped) == [
        ("Length 'Aorta'", "finding"), ("Length 'Aorta'", "finding"),
        ("Probe 'HU'", "a"), ("Probe 'HU'", "a"),
    ]  # fmt: skip
    # lines back in patient mm on the same slices
    (reading,) = to_readings(lesions, ImageIndex([SAMPLE]))
    line = reading.lesion("Liver 1").findings["2024-04-16"].long_axis
    want = truth.lesion("L1").findings["followup"].long_axis
    assert line.sop_instance_uid == want.sop_instance_uid
    assert np.allclose([line.p1_lps, line.p2_lps], [want.p1_lps, want.p2_lps], atol=1e-3)


def test_cli_import_of_ohif_srs_lists_what_it_skipped(ohif_srs, tmp_path):
    _, paths = ohif_srs
    out = tmp_path / "back.csv"
    result = CliRunner().invoke(
        app, ["import", "sr", *map(str, paths), "-o", str(out), "--dicom", str(SAMPLE)]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.count("skipped (not a lesion)") == 4
    assert "(Length 'Aorta'): finding site Aorta is not where" in result.stderr
    doc = json.loads(out.with_suffix(".json").read_text())
    assert {le["lesion_id"] for le in doc["lesions"]} == {"Liver 1", "Lung 1", "Node 1"}


def test_our_sr_saved_again_by_ohif_keeps_the_lesions(sample_srs, sample_reading, tmp_path):
    """Open our SR in OHIF and save it (what OHIF does on "Save"): the labels carry the
    lesion IDs back, with their sizes and lines, and NT1's arrow comes back as its marker."""
    index = ImageIndex([SAMPLE])
    path = sample_srs[0]  # baseline
    state = ohif.hydrate([path], [SAMPLE])[path.name]
    tools = []
    for m in state["measurements"]:
        image = index.by_sop[m["sopInstanceUid"]]
        xy = image_coordinates(np.array(m["points"]), image).tolist()
        tools.append({"tool": m["toolType"], "sop": m["sopInstanceUid"], "points": xy,
                      "label": m["label"]})  # fmt: skip
    (saved,) = ohif.generate([{"out": str(tmp_path / "resaved.dcm"), "tools": tools}],
                             [SAMPLE], tmp_path)  # fmt: skip
    skipped: list = []
    lesions = read_srs([saved], skipped)
    assert skipped == []
    frame = to_frame(lesions).set_index("lesion_id")
    assert sorted(frame.index) == ["L1", "L2", "N1", "NT1"]
    for lid in ("L1", "L2", "N1"):
        f = sample_reading.lesion(lid).findings["baseline"]
        assert frame.loc[lid, "long_axis_mm"] == pytest.approx(f.long_mm, abs=1e-3)
        assert frame.loc[lid, "short_axis_mm"] == pytest.approx(f.short_mm, abs=1e-3)
        assert frame.loc[lid, "kind"] == "target"
    assert frame.loc["NT1", ["kind", "status"]].tolist() == ["non_target", "present"]
    (reading,) = to_readings(lesions, index)
    tp = reading.timepoints[0].label
    marker = sample_reading.lesion("NT1").findings["baseline"].marker
    back = reading.lesion("NT1").findings[tp].marker
    assert back.sop_instance_uid == marker.sop_instance_uid
    assert np.allclose(back.position_lps, marker.position_lps, atol=1e-3)
