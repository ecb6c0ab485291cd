"""DICOM SR (TID 1500) export and import on the sample study."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.sr.codedict import codes

from recist_tool.export import sr_codes
from recist_tool.export.sr import (
    ImageIndex,
    SRExportError,
    build_sr,
    export_readings,
    tracking_uid,
)
from recist_tool.export.sr_import import SRImportError, read_sr, read_srs, to_frame, to_readings

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"
LONG = codes.SCT.LongAxis
SHORT = codes.SCT.ShortAxis


def dciodvfy_errors(path) -> list[str]:
    """Error lines of dicom3tools' validator (the test fails, never skips, without it)."""
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy (Debian package dicom3tools) is required"
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, check=False)
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]


def label(group) -> str:
    """The lesion ID of a measurement group: its Comment (DCM 121106)."""
    (text,) = [
        it.TextValue
        for it in group[0].ContentSequence
        if it.ConceptNameCodeSequence[0].CodeValue == "121106"
    ]
    return text


def groups_by_label(sr) -> dict:
    groups = [
        *sr.content.get_image_measurement_groups(),
        *sr.content.get_planar_roi_measurement_groups(),
    ]
    return {label(g): g for g in groups}


def test_one_sr_per_time_point_validates(sample_srs):
    assert [p.name for p in sample_srs] == [
        "RECIST-SAMPLE-001_baseline_SR.dcm",
        "RECIST-SAMPLE-001_followup_SR.dcm",
    ]
    for path in sample_srs:
        assert dciodvfy_errors(path) == []
        sr = hd.sr.srread(path)
        assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
        groups = sr.content.get_image_measurement_groups()
        # targets with both axis lines on one image: OHIF's bidirectional tool
        assert [label(g) for g in groups] == ["L1", "L2", "N1"]
        assert {g.tracking_identifier for g in groups} == {sr_codes.TOOL_BIDIRECTIONAL}
        # the non-target's point marker: a planar ROI group with a POINT, OHIF's arrow
        (nt,) = sr.content.get_planar_roi_measurement_groups()
        assert label(nt) == "NT1" and nt.tracking_identifier == sr_codes.TOOL_ARROW
        assert nt.roi.graphic_type == hd.sr.GraphicTypeValues.POINT
        for g in groups:  # the measurements come first, the label next (OHIF's layout)
            kinds = [it.ValueType for it in g[0].ContentSequence]
            assert kinds[:5] == ["TEXT", "UIDREF", "NUM", "NUM", "TEXT"]
        # an Image Library of the referenced images
        (library,) = [
            it for it in sr.ContentSequence if it.ConceptNameCodeSequence[0].CodeValue == "111028"
        ]
        assert len(library.ContentSequence[0].ContentSequence) == 4  # 3 lesion slices + NT


def test_sr_content_codes_and_half_pixel_coordinates(sample_srs, sample_reading):
    truth = json.loads((SAMPLE / "truth.json").read_text())
    sr = hd.sr.srread(sample_srs[0])
    groups = groups_by_label(sr)
    g = groups["L1"]
    assert g.tracking_uid == tracking_uid("RECIST-SAMPLE-001", "L1")
    assert g.finding_type.value == "52988006"  # Lesion
    assert groups["N1"].finding_type.value == "59441001"  # Lymph node
    assert g.method.value == "126081"  # RECIST 1.1
    assert g.finding_sites[0].value.value == "10200004"  # liver
    cat = {q.name.value: q.value.value for q in g.get_qualitative_evaluations()}
    assert cat["112016"] == "112074"  # baseline category: target
    nt = {q.name.value: q.value.value for q in groups["NT1"].get_qualitative_evaluations()}
    assert nt["112016"] == "112075"
    (long,) = g.get_measurements(name=LONG)
    (short,) = g.get_measurements(name=SHORT)
    assert long.value == 42.0 and short.value == 30.0 and long.unit.value == "mm"
    # expected image coordinates from the truth end points: (column + 0.5, row + 0.5)
    les = next(x for x in truth["timepoints"][0]["lesions"] if x["lesion_id"] == "L1")
    coords = long.referenced_coordinates[0]
    sop = coords.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    image = pydicom.dcmread(ImageIndex([SAMPLE]).files[sop], stop_before_pixels=True)
    ipp = np.array(image.ImagePositionPatient, float)
    spacing = float(image.PixelSpacing[0])
    expected = [
        [(p[0] - ipp[0]) / spacing + 0.5, (p[1] - ipp[1]) / spacing + 0.5]
        for p in les["long_axis_endpoints_lps"]
    ]
    assert np.allclose(coords.value, expected, atol=1e-4)
    assert float(image.ImagePositionPatient[2]) == les["center_lps"][2]  # the lesion's slice


def test_tracking_uid_is_the_same_at_every_time_point(sample_srs):
    uids = {}
    for path in sample_srs:
        for name, g in groups_by_label(hd.sr.srread(path)).items():
            uids.setdefault(name, set()).add(g.tracking_uid)
    assert all(len(v) == 1 for v in uids.values()) and len(uids) == 4
    assert len({next(iter(v)) for v in uids.values()}) == 4


def test_export_import_round_trip_is_lossless(sample_srs, sample_reading):
    imported = read_srs(sample_srs)
    frame = to_frame(imported)
    orig = sample_reading.to_frame()
    cols = ["patient_id", "timepoint", "date", "lesion_id", "kind", "nodal", "long_axis_mm",
            "short_axis_mm", "status", "reader", "series_uid"]  # fmt: skip
    a = orig.sort_values(["timepoint", "lesion_id"])[cols].reset_index(drop=True)
    b = frame.sort_values(["timepoint", "lesion_id"])[cols].reset_index(drop=True)
    assert a.astype(str).equals(b.astype(str))
    # organ names come back exactly as written ("lymph_node" stays "lymph_node")
    assert frame["organ"].tolist() == orig.sort_values(["date", "lesion_id"])["organ"].tolist()
    assert "lymph_node" in frame["organ"].tolist()
    # lines come back in patient coordinates on the same slice
    (back,) = to_readings(imported, ImageIndex([SAMPLE]))
    n = 0
    for lesion in sample_reading.lesions:
        for tp, f in lesion.findings.items():
            g = back.lesion(lesion.lesion_id).findings[tp]
            assert g.status == f.status
            for axis in ("long_axis", "short_axis"):
                a_line, b_line = getattr(f, axis), getattr(g, axis)
                if a_line is None:
                    assert b_line is None
                    continue
                n += 1
                assert np.allclose(a_line.p1_lps, b_line.p1_lps, atol=1e-3)
                assert np.allclose(a_line.p2_lps, b_line.p2_lps, atol=1e-3)
                assert (a_line.sop_instance_uid, a_line.slice_index, a_line.series_uid) == (
                    b_line.sop_instance_uid,
                    b_line.slice_index,
                    b_line.series_uid,
                )
            # the non-target's point marker survives (SCOORD POINT)
            if f.marker is not None:
                n += 1
                assert np.allclose(f.marker.position_lps, g.marker.position_lps, atol=1e-3)
                assert (f.marker.sop_instance_uid, f.marker.slice_index) == (
                    g.marker.sop_instance_uid,
                    g.marker.slice_index,
                )
    assert n == 14


def test_no_patient_identity_unless_asked(sample_srs, sample_reading, tmp_path):
    raw = b"".join(p.read_bytes() for p in sample_srs)
    for ident in (b"SYNTHETIC^RECIST", b"19600101", b"ACC20240115"):
        assert ident not in raw
    (with_id,) = export_readings(
        [sample_reading], [SAMPLE], tmp_path, timepoints=["baseline"], include_identity=True
    )
    ds = pydicom.dcmread(with_id)
    image = ImageIndex([SAMPLE / "baseline"]).by_sop
    image = next(iter(image.values()))
    # asked for: the patient attributes are those of the images of the study
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
               "AccessionNumber", "StudyInstanceUID", "StudyID"):  # fmt: skip
        assert ds[kw].value == image[kw].value, kw
    assert "InstitutionName" not in ds  # free text only when asked for


def test_free_text_fields_only_when_asked(sample_reading, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(SAMPLE, images)
    for f in images.rglob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.PatientComments = "lives at 12 Elm Street, daughter Anna"
        ds.AdditionalPatientHistory = "prior surgery at St Mary's"
        ds.StationName = "CT-ROOM-3"
        ds.DeviceSerialNumber = "SN-998877"
        ds.save_as(f)
    texts = (b"Elm Street", b"St Mary", b"CT-ROOM-3", b"SN-998877", b"Synthetic")
    (plain,) = export_readings([sample_reading], [images], tmp_path / "a", ["baseline"])
    (ident,) = export_readings(
        [sample_reading], [images], tmp_path / "b", ["baseline"], include_identity=True
    )
    for path in (plain, ident):
        raw = path.read_bytes()
        assert not [t for t in texts if t in raw]
    (free,) = export_readings(
        [sample_reading], [images], tmp_path / "c", ["baseline"], include_free_text=True
    )
    ds = pydicom.dcmread(free)
    assert ds.PatientComments == "lives at 12 Elm Street, daughter Anna"
    assert (ds.StationName, ds.DeviceSerialNumber, ds.InstitutionName) == (
        "CT-ROOM-3",
        "SN-998877",
        "Synthetic",
    )
    assert dciodvfy_errors(free) == []


def test_images_that_disagree_on_the_patient_are_refused(sample_reading, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(SAMPLE / "baseline", images)
    f = sorted(images.iterdir())[-1]
    ds = pydicom.dcmread(f)
    ds.PatientName = "OTHER^PERSON"
    ds.save_as(f)
    sops = {lesion.findings["baseline"].long_axis.sop_instance_uid
            for lesion in sample_reading.lesions if lesion.kind == "target"}  # fmt: skip
    if ds.SOPInstanceUID not in sops:  # make one of the measured slices disagree
        f = next(p for p in images.iterdir() if pydicom.dcmread(p).SOPInstanceUID in sops)
        ds = pydicom.dcmread(f)
        ds.PatientName = "OTHER^PERSON"
        ds.save_as(f)
    with pytest.raises(SRExportError, match=r"time point baseline: the images disagree on "
                       r"PatientName"):  # fmt: skip
        export_readings(
            [sample_reading], [images], tmp_path / "o", ["baseline"], include_identity=True
        )


def test_missing_images_are_named(sample_reading, tmp_path):
    other = tmp_path / "only-baseline"
    shutil.copytree(SAMPLE / "baseline", other)
    with pytest.raises(SRExportError, match=r"time point followup, lesion L1: image with SOP"):
        export_readings([sample_reading], [other], tmp_path / "out")


def _foreign_sr(tmp_path):
    """A TID 1500 SR as another viewer writes it: planar ROI groups with a Length
    (OHIF/Cornerstone style) and one bidirectional group, no recist-tool codes."""
    from highdicom.sr import (
        Comprehensive3DSR,
        DeviceObserverIdentifyingAttributes,
        GraphicTypeValues,
        ImageRegion,
        Measurement,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
        PlanarROIMeasurementsAndQualitativeEvaluations,
        SourceImageForRegion,
        TrackingIdentifier,
    )  # fmt: skip

    index = ImageIndex([SAMPLE / "baseline"])
    image = next(iter(index.by_sop.values()))
    src = SourceImageForRegion(image.SOPClassUID, image.SOPInstanceUID)
    region = ImageRegion(
        GraphicTypeValues.POLYLINE, np.array([[10.5, 20.5], [40.5, 20.5]], dtype=np.float32), src
    )
    group = PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(
            uid=hd.UID(), identifier="Cornerstone3DTools@^0.1.0:Length"
        ),
        referenced_region=region,
        finding_type=codes.SCT.Lesion,
        measurements=[Measurement(codes.SCT.Length, 4.5, codes.UCUM.Centimeter)],
    )
    obs = ObservationContext(
        observer_device_context=ObserverContext(
            codes.DCM.Device, DeviceObserverIdentifyingAttributes(uid=hd.UID(), name="viewer")
        )
    )
    report = MeasurementReport(obs, codes.LN.CTUnspecifiedBodyRegion, [group])
    sr = Comprehensive3DSR([image], report[0], hd.UID(), 1, hd.UID(), 1, manufacturer="viewer")
    path = tmp_path / "foreign.dcm"
    sr.save_as(path)
    return path, image


def test_import_other_tools_length_measurement(tmp_path):
    path, image = _foreign_sr(tmp_path)
    (les,) = read_sr(path)
    assert les.lesion_id == "G1"  # no label, and the tracking text names a tool
    assert les.long_axis_mm == pytest.approx(45.0)  # 4.5 cm
    assert (les.kind, les.status, les.nodal) == ("target", "measured", False)
    assert les.date == "2024-01-15" and les.timepoint == "2024-01-15"
    assert les.patient_id == "RECIST-SAMPLE-001"
    assert les.series_uid == image.SeriesInstanceUID
    (reading,) = to_readings([les], ImageIndex([SAMPLE / "baseline"]))
    line = reading.lesion(les.lesion_id).findings["2024-01-15"].long_axis
    assert line.length_mm == pytest.approx(30 * 1.5, abs=1e-4)  # 30 pixels of 1.5 mm


def test_import_rejects_non_measurement_reports(tmp_path):
    ct = next((SAMPLE / "baseline").iterdir())
    with pytest.raises(SRImportError, match="not a DICOM Structured Report"):
        read_sr(ct)
    bad = tmp_path / "x.dcm"
    bad.write_text("hello")
    with pytest.raises(SRImportError, match=r"x\.dcm: not a readable DICOM file"):
        read_sr(bad)


def test_new_lesions_and_states_round_trip(tmp_path):
    from .conftest import reading_from_truth

    reading = reading_from_truth()
    reading.add_lesion("new", "right adrenal", False, "N9")
    reading.set_status("N9", "followup", "equivocal")
    reading.set_status("L2", "followup", "too_small")
    reading.set_status("NT1", "followup", "progression")
    paths = export_readings([reading], [SAMPLE], tmp_path)
    assert all(dciodvfy_errors(p) == [] for p in paths)
    back = to_frame(read_srs(paths)).set_index(["timepoint", "lesion_id"])
    assert back.loc[("followup", "N9"), ["kind", "status", "organ"]].tolist() == [
        "new",
        "equivocal",
        "right adrenal",  # as written; the SR also codes it (adrenal gland, right)
    ]
    sr = hd.sr.srread(paths[1])
    site = groups_by_label(sr)["N9"].finding_sites[0]
    assert site.value.value == "23451007" and site.laterality.value == "24028007"
    assert back.loc[("followup", "L2"), "status"] == "too_small"
    assert pd.isna(back.loc[("followup", "L2"), "long_axis_mm"])
    assert back.loc[("followup", "NT1"), ["kind", "status"]].tolist() == [
        "non_target",
        "progression",
    ]


def test_export_leaves_the_image_headers_untouched(sample_reading, tmp_path):
    """Identity is removed from copies: the index's own headers keep it, so a later
    export with --include-identity still matches the images."""
    index = ImageIndex([SAMPLE])
    before = {sop: str(ds.PatientName) for sop, ds in index.by_sop.items()}
    build_sr(sample_reading, "baseline", index)
    assert {sop: str(ds.PatientName) for sop, ds in index.by_sop.items()} == before
    sr = build_sr(sample_reading, "baseline", index, include_identity=True)
    assert str(sr.PatientName) == next(iter(before.values())) != ""


def test_a_split_lesion_is_reported_as_its_parts_added_up(sample_reading, tmp_path):
    """One line would show one part of a lesion that split: the group gives the size
    RECIST counts (the parts added up) as a number, without geometry."""
    import copy

    from recist_tool.reading import Fragment

    reading = copy.deepcopy(sample_reading)
    fu = reading.timepoints[1].label
    lesion = next(le for le in reading.lesions if le.kind == "target" and not le.nodal)
    f = lesion.findings[fu]
    whole = f.long_mm
    f.fragment, f.fragments = "a", (Fragment("b", 12.0, None),)
    paths = export_readings([reading], [SAMPLE], tmp_path)
    (sr_path,) = [p for p in paths if f"_{fu}_" in p.name]
    group = groups_by_label(hd.sr.srread(sr_path))[lesion.lesion_id]
    (long,) = [m for m in group.get_measurements() if m.name == LONG]
    assert float(long.value) == pytest.approx(whole + 12.0)

    def kinds(items) -> list[str]:
        out = []
        for it in items:
            out.append(it.ValueType)
            out += kinds(getattr(it, "ContentSequence", []))
        return out

    assert "SCOORD" not in kinds(group[0].ContentSequence)  # no line of one part
    back = to_frame(read_srs([sr_path])).set_index("lesion_id")
    assert float(back.loc[lesion.lesion_id, "long_axis_mm"]) == pytest.approx(whole + 12.0)
