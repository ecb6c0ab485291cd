"""DICOM SEG of assisted measurements and the TID 1500 SR that references it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from recist_tool.cli import app
from recist_tool.dicom import load_series
from recist_tool.export.seg import SEGExportError, export_segmentations
from recist_tool.export.sr import tracking_uid
from recist_tool.export.sr_import import read_srs, to_frame
from recist_tool.measure import propose
from recist_tool.reading import apply_proposal

from .conftest import SAMPLE, reading_from_truth
from .test_sr import dciodvfy_errors, label


def accept_proposals(r, images=SAMPLE) -> None:
    """Measure the sample's targets in ``r`` by accepting proposals at the truth centres
    (on the sample's images, or a copy of them in ``images``)."""
    truth = json.loads((SAMPLE / "truth.json").read_text())
    for tp in truth["timepoints"]:
        vol = load_series(images / tp["folder"])
        geo = r.series[vol.metadata["series_instance_uid"]].geometry
        for les in tp["lesions"]:
            if les["kind"] == "target":
                p = propose(vol, les["center_lps"], nodal=les["nodal"])
                apply_proposal(r, les["lesion_id"], tp["timepoint"], p, geo)


@pytest.fixture(scope="module")
def assisted_reading(tmp_path_factory):
    """The sample study measured by accepting proposals at the truth centres."""
    r = reading_from_truth()
    accept_proposals(r)
    path = tmp_path_factory.mktemp("reading") / "reading.csv"
    r.save(path)
    return r, path


@pytest.fixture(scope="module")
def exported(assisted_reading, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg")
    return export_segmentations([assisted_reading[0]], [SAMPLE], out)


def test_files_validate_and_read_back(exported, assisted_reading):
    reading = assisted_reading[0]
    names = sorted(p.name for p in exported.paths)
    assert names == [
        "RECIST-SAMPLE-001_baseline_SEG-SR.dcm",
        "RECIST-SAMPLE-001_baseline_SEG.dcm",
        "RECIST-SAMPLE-001_followup_SEG-SR.dcm",
        "RECIST-SAMPLE-001_followup_SEG.dcm",
    ]
    seg_path = next(p for p in exported.paths if p.name.endswith("baseline_SEG.dcm"))
    assert dciodvfy_errors(seg_path) == []
    seg = hd.seg.segread(seg_path)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    labels = [d.segment_label for d in seg.SegmentSequence]
    assert labels == ["L1", "L2", "N1"]
    uids = dict(seg.get_tracking_ids())
    assert uids["L1"] == tracking_uid(reading.patient_id, "L1")
    assert seg.PatientName == ""  # no identity unless asked for
    # the masks come back on the image grid: voxel count × voxel volume = the SR volume
    vol = load_series(SAMPLE / "baseline")
    mask = seg.get_volume(combine_segments=False).array
    voxel_ml = float(np.prod(vol.spacing_zyx)) / 1000
    sr_path = next(p for p in exported.paths if p.name.endswith("baseline_SEG-SR.dcm"))
    assert dciodvfy_errors(sr_path) == []
    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == ["L1", "L2", "N1"]
    for i, g in enumerate(groups):
        ref = g.referenced_segment
        assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert ref.referenced_segment_numbers == [i + 1]
        (v,) = g.get_measurements(name=codes.SCT.Volume)
        assert v.value == pytest.approx(mask[..., i].sum() * voxel_ml, rel=1e-3)
        (mean,) = g.get_measurements(name=codes.DCM.AttenuationCoefficient)
        assert mean.unit.value == "[hnsf'U]"
    # the planar groups (long/short axes) are there too
    planar = sr.content.get_planar_roi_measurement_groups() + list(
        sr.content.get_image_measurement_groups()
    )
    assert {label(g) for g in planar} >= {"L1", "L2", "N1"}  # OHIF's label (Comment)
    # imported back: one lesion each (the volumetric groups add no duplicates)
    notes: list[str] = []
    back = to_frame(read_srs([sr_path], notes)).set_index("lesion_id")
    assert sorted(back.index) == ["L1", "L2", "N1", "NT1"], notes
    f = reading.lesion("L1").findings["baseline"]
    assert back.loc["L1", ["long_axis_mm", "short_axis_mm"]].tolist() == [f.long_mm, f.short_mm]
    evidence = [
        i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for s in sr.CurrentRequestedProcedureEvidenceSequence
        for i in s.ReferencedSeriesSequence
    ]
    assert seg.SOPInstanceUID in evidence


def test_slicers_readers_load_them(exported, tmp_path):
    """dcmqi (3D Slicer's Quantitative Reporting readers) parses both."""
    seg_path = next(p for p in exported.paths if p.name.endswith("baseline_SEG.dcm"))
    sr_path = next(p for p in exported.paths if p.name.endswith("baseline_SEG-SR.dcm"))
    bin_dir = Path(sys.executable).parent  # the venv's bin, where dcmqi's tools are
    assert (bin_dir / "tid1500reader").exists(), "dcmqi (dev dependency) is required"
    out = subprocess.run(
        [bin_dir / "segimage2itkimage", "--inputDICOM", seg_path, "--outputDirectory", tmp_path,
         "--outputType", "nrrd"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.glob("*.nrrd")) == ["1.nrrd", "2.nrrd", "3.nrrd"]
    meta = tmp_path / "sr.json"
    out = subprocess.run(
        [bin_dir / "tid1500reader", "--inputDICOM", sr_path, "--outputMetadata", meta],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(meta.read_text())
    vol_groups = [m for m in doc["Measurements"] if "ReferencedSegment" in m]
    assert [m["TrackingIdentifier"] for m in vol_groups] == ["L1", "L2", "N1"]
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    assert {m["segmentationSOPInstanceUID"] for m in vol_groups} == {seg.SOPInstanceUID}


def test_cli_writes_seg_and_deidentifies_consistently(assisted_reading, tmp_path, capsys):
    from typer.testing import CliRunner

    _, csv_path = assisted_reading
    res = CliRunner().invoke(
        app,
        ["export", "seg", str(csv_path), "--dicom", str(SAMPLE), "-o", str(tmp_path),
         "--timepoint", "followup", "--deidentify", "--secret", "a-long-secret"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    files = sorted(tmp_path.glob("*.dcm"))
    assert len(files) == 2 and all("ANON-" in f.name for f in files)
    seg = pydicom.dcmread(next(f for f in files if f.name.endswith("_SEG.dcm")))
    sr = hd.sr.srread(next(f for f in files if f.name.endswith("SEG-SR.dcm")))
    assert "RECIST-SAMPLE" not in str(seg.PatientID)
    (g, *_) = sr.content.get_volumetric_roi_measurement_groups()
    assert g.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID


def test_nothing_to_segment_is_a_clear_error(tmp_path):
    with pytest.raises(SEGExportError, match="no lesion has drawn axes"):
        from recist_tool.export.tables import load_any  # noqa: F401
        from recist_tool.reading import Reading

        r = Reading.load(SAMPLE / "annotations.csv")
        export_segmentations([r], [SAMPLE], tmp_path)
