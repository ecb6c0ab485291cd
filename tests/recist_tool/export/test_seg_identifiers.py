"""DICOM SEG (and its SR) leak no identifier the user did not ask for, free text
included: the images carry a name, comments, a study description, study ID and
accession number; the reading's time point labels, lesion IDs and organs carry the
patient's ID and name. Every element of every file written is checked."""

from __future__ import annotations

import shutil

import pydicom
import pytest

from recist_tool.export.deid import Deidentifier
from recist_tool.export.seg import export_segmentations

from .conftest import SAMPLE, reading_from_truth
from .test_seg import accept_proposals

IMAGE_TEXT = {
    "PatientName": "Doe^Jane",
    "PatientComments": "referred by Dr Smithers",
    "StudyDescription": "CT chest Jane Doe",
    "StudyID": "STUDY-4711",
    "AccessionNumber": "ACC-0815",
    "InstitutionName": "St Elsewhere",
}
SECRET = "seg identifiers secret"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The sample's images with identifiers in their headers, and an assisted reading
    whose free text names the patient."""
    tmp = tmp_path_factory.mktemp("seg_ids")
    images = tmp / "images"
    shutil.copytree(SAMPLE, images)
    for path in images.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        for kw, value in IMAGE_TEXT.items():
            setattr(ds, kw, value)
        ds.save_as(path)
    reading = reading_from_truth()
    accept_proposals(reading, images)
    pid = reading.patient_id
    for tp in list(reading.timepoints):
        reading.rename_timepoint(tp.label, f"{tp.label} Jane Doe")
    for lesion in reading.lesions:
        lesion.lesion_id = f"{pid} {lesion.lesion_id}"
        lesion.organ = f"{lesion.organ} of {pid}"
    return reading, images, tmp


def texts(paths) -> list[tuple[str, str, str]]:
    """(file, keyword, text) of every element of every file, nested ones included."""
    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        for elem in [*ds.file_meta, *ds.iterall()]:
            if elem.VR != "SQ" and elem.value is not None:
                out.append((path.name, elem.keyword or str(elem.tag), str(elem.value)))
        out.append((path.name, "file name", path.name))
    return out


def leaks(paths, needles) -> list:
    return [(f, kw, v) for f, kw, v in texts(paths) for n in needles if n.lower() in v.lower()]


def test_deidentified_seg_holds_no_identifier(hostile):
    reading, images, tmp = hostile
    deid = Deidentifier(SECRET)
    res = export_segmentations([reading], [images], tmp / "deid", deid=deid)
    assert len(res.paths) == 4  # SEG + SEG-SR at baseline and follow-up
    needles = ["Jane", "Doe", "Smithers", "STUDY-4711", "ACC-0815", "Elsewhere"]
    assert leaks(res.paths, [*needles, reading.patient_id]) == []
    # the lesion IDs and organs are kept, their patient part pseudonymised
    pseudo = deid.pseudonym(reading.patient_id)
    seg = pydicom.dcmread(next(p for p in res.paths if p.name.endswith("_SEG.dcm")))
    assert [s.SegmentLabel for s in seg.SegmentSequence] == [f"{pseudo} L1", f"{pseudo} L2",
                                                            f"{pseudo} N1"]  # fmt: skip
    assert seg.SegmentSequence[0].AnatomicRegionSequence[0].CodeMeaning == f"liver of {pseudo}"
    assert seg.ContentDescription.startswith("RECIST lesions baseline")


def test_seg_without_identity_holds_none_of_the_images_identity_or_free_text(hostile):
    reading, images, tmp = hostile
    res = export_segmentations([reading], [images], tmp / "plain")
    # the reading's own texts are the user's (kept); the images' identity and free
    # text were not asked for
    needles = ["Doe^Jane", "Smithers", "CT chest", "STUDY-4711", "ACC-0815", "Elsewhere"]
    assert leaks(res.paths, needles) == []
    seg = pydicom.dcmread(next(p for p in res.paths if p.name.endswith("_SEG.dcm")))
    assert seg.PatientID == reading.patient_id  # files the SEG with its images
    assert seg.SegmentSequence[0].SegmentLabel == f"{reading.patient_id} L1"


def test_identity_when_asked_but_still_no_free_text(hostile):
    reading, images, tmp = hostile
    res = export_segmentations([reading], [images], tmp / "identity", include_identity=True)
    seg = pydicom.dcmread(next(p for p in res.paths if p.name.endswith("_SEG.dcm")))
    assert str(seg.PatientName) == "Doe^Jane" and seg.AccessionNumber == "ACC-0815"
    assert leaks(res.paths, ["Smithers", "CT chest", "Elsewhere"]) == []
