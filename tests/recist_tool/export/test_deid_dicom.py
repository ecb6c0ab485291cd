"""PS3.15 de-identification of SRs and images with consistent UID replacement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from recist_tool.export.deid import Deidentifier, deidentify_files
from recist_tool.export.sr import ImageIndex, export_readings
from recist_tool.export.sr_import import read_srs, to_readings

from .test_sr import dciodvfy_errors

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"
SECRET = "correct horse battery staple"


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory, sample_reading):
    out = tmp_path_factory.mktemp("deid")
    deid = Deidentifier(SECRET)
    images = deidentify_files([SAMPLE / "baseline", SAMPLE / "followup"], out / "images", deid)
    srs = export_readings([sample_reading], [SAMPLE], out / "sr", deid=deid)
    return deid, images, srs


def _uids(ds, keyword):
    out = set()
    for elem in ds.iterall():
        if elem.keyword == keyword:
            out.add(str(elem.value))
    return out


def test_references_stay_valid_after_uid_replacement(deidentified):
    deid, images, srs = deidentified
    image_ds = [pydicom.dcmread(p, stop_before_pixels=True) for p in images]
    sops = {str(d.SOPInstanceUID) for d in image_ds}
    studies = {str(d.StudyInstanceUID) for d in image_ds}
    assert len(sops) == 82 and len(studies) == 2
    for path in srs:
        sr = pydicom.dcmread(path)
        refs = _uids(sr, "ReferencedSOPInstanceUID")
        assert refs and refs <= sops  # every reference points at a de-identified image
        assert str(sr.StudyInstanceUID) in studies
        assert sr.PatientID == deid.pseudonym("RECIST-SAMPLE-001")
        assert str(sr.PatientName) == f"{sr.PatientID}^"
        assert sr.PatientIdentityRemoved == "YES"
        methods = {i.CodeValue for i in sr.DeidentificationMethodCodeSequence}
        assert {"113100", "113104", "113107"} <= methods
    # the whole round trip still works on the de-identified data
    (reading,) = to_readings(read_srs(srs), ImageIndex(sorted({p.parent for p in images})))
    assert [le.lesion_id for le in reading.lesions] == ["L1", "L2", "N1", "NT1"]
    line = reading.lesion("L1").findings["baseline"].long_axis
    assert line.length_mm == pytest.approx(42.0, abs=1e-3)


def test_tracking_uids_replaced_consistently_across_time_points(deidentified):
    _, _, srs = deidentified
    from .test_sr import groups_by_label

    uids = {}
    for path in srs:
        for name, g in groups_by_label(hd.sr.srread(path)).items():
            uids.setdefault(name, set()).add(g.tracking_uid)
    assert sorted(uids) == ["L1", "L2", "N1", "NT1"]
    assert all(len(v) == 1 for v in uids.values())


def test_dates_shift_by_one_constant(deidentified):
    deid, images, srs = deidentified
    shift = dt.timedelta(days=deid.shift_days("RECIST-SAMPLE-001"))
    dates = sorted({pydicom.dcmread(p, stop_before_pixels=True).StudyDate for p in images})
    assert dates == [
        (dt.date(2024, 1, 15) - shift).strftime("%Y%m%d"),
        (dt.date(2024, 4, 16) - shift).strftime("%Y%m%d"),
    ]
    assert sorted(pydicom.dcmread(p).StudyDate for p in srs) == dates


def test_deidentified_objects_validate(deidentified):
    _, images, srs = deidentified
    for path in [*srs, images[0]]:
        assert dciodvfy_errors(path) == []


def test_no_identifier_left_in_any_file(deidentified):
    _, images, srs = deidentified
    originals = [
        pydicom.dcmread(p, stop_before_pixels=True)
        for p in sorted((SAMPLE / "baseline").iterdir())[:3]
    ]
    idents = {
        b"RECIST-SAMPLE-001",
        b"SYNTHETIC",
        b"19600101",
        b"ACC20240115",
        b"20240115",
        b"20240416",
        b"Dr^Reader",
    }
    for ds in originals:
        for kw in (
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "FrameOfReferenceUID",
        ):
            idents.add(str(ds[kw].value).encode())
    for path in [*srs, *images]:
        raw = path.read_bytes()
        found = [i for i in idents if i in raw]
        assert not found, f"{path.name} still holds {found}"
        assert "RECIST-SAMPLE" not in str(path)
