"""De-identification of free text and of real-world DICOM (issue 11).

Dates and identifiers inside labels, lesion IDs and organs are scrubbed in every
export (tables, plots, reports, SR text and file names); the DICOM profile runs on
every one of pydicom's own test files (private tags, sequences, overlays, old-style
dates, files without SOPInstanceUID) and refuses images with burned-in text.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.uid import UID_dictionary
from typer.testing import CliRunner

from recist_tool.cli import app
from recist_tool.export.deid import DeidentificationError, Deidentifier, deidentify_files

from .conftest import reading_from_truth
from .test_cli import SAMPLE, file_text

SECRET = "free text secret 42"
PID = "HOSP-0001"
D = Deidentifier(SECRET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BL 2024-01-15", "BL {2024-01-15}"),
        ("20240115", "{20240115}"),
        ("FU 2024.04.16", "FU {2024.04.16}"),
        ("HOSP-0001-liver", "{pid}-liver"),
        ("liver (hosp-0001)", "liver ({pid})"),
        ("T1", "T1"),
        ("baseline", "baseline"),
        ("scan 15.01.2024", "scan [date]"),
        ("1/15/24", "[date]"),
        ("15 Jan 2024", "[date]"),
        ("January 2024", "[date]"),
        ("2 decreased, may be", "2 decreased, may be"),
    ],
)
def test_scrub_text(text, expected):
    def shifted(iso: str) -> str:
        sep = "-" if "-" in iso else "." if "." in iso else ""
        d = dt.date(int(iso[:4]), int(iso[4 + len(sep) : 6 + len(sep)]), int(iso[-2:]))
        d -= dt.timedelta(days=D.shift_days(PID))
        return f"{d.year:04d}{sep}{d.month:02d}{sep}{d.day:02d}"

    want = expected.replace("{pid}", D.pseudonym(PID))
    for iso in ("2024-01-15", "20240115", "2024.04.16"):
        want = want.replace("{" + iso + "}", shifted(iso))
    assert D.scrub_text(text, PID) == want


def test_every_text_column_of_a_table_is_scrubbed():
    frame = pd.DataFrame(
        {
            "patient_id": [PID],
            "timepoint": ["BL 2024-01-08"],
            "date": ["2024-01-08"],
            "lesion_id": [f"{PID}-T1"],
            "organ": ["liver 08.01.2024"],
            "kind": ["target"],
            "my_comment": [f"seen {PID} on 2024-01-08"],
            "long_axis_mm": [33.3],
        }
    )
    out = D.frame(frame)
    text = out.to_csv()
    assert PID not in text and "2024-01-08" not in text and "08.01.2024" not in text
    assert out.loc[0, "timepoint"] == f"BL {out.loc[0, 'date']}"  # label and date agree
    assert out.loc[0, "kind"] == "target" and out.loc[0, "long_axis_mm"] == 33.3


@pytest.fixture(scope="module")
def hostile_exports(tmp_path_factory):
    """Every export of a cohort and a reading whose free text holds IDs and dates."""
    from recist_tool.annotations import to_frame, write_annotations

    from .conftest import cohort_rows

    tmp = tmp_path_factory.mktemp("hostile")
    rows = cohort_rows()
    for m in rows:
        m.timepoint = f"{m.timepoint} {m.date}"  # e.g. "BL 2024-01-08"
        m.lesion_id = f"{m.patient_id}-{m.lesion_id}"
        m.organ = f"{m.organ} ({m.patient_id})"
    cohort = tmp / "cohort.csv"
    write_annotations(to_frame(rows), cohort)
    reading = reading_from_truth()
    for tp in list(reading.timepoints):
        reading.rename_timepoint(tp.label, f"{tp.label} {tp.date}")
    for lesion in reading.lesions:
        lesion.lesion_id = f"RECIST-SAMPLE-001 {lesion.lesion_id}"
        lesion.organ = f"{lesion.organ} of RECIST-SAMPLE-001"
    sample_csv, _ = reading.save(tmp / "reading.csv")
    out = tmp / "out"
    deid = ("--deidentify", "--secret", SECRET)
    runner = CliRunner()
    for args in (
        ("export", "tables", cohort, "-o", out / "tables", *deid),
        ("export", "plots", cohort, "-o", out / "plots", *deid),
        ("export", "report", cohort, "-o", out / "report", *deid),
        ("export", "sr", sample_csv, "--dicom", SAMPLE, "-o", out / "sr", *deid),
        ("export", "patient-report", sample_csv, "--dicom", SAMPLE, "-o", out / "pr", *deid),
    ):
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    dates = {m.date for m in rows} | {"2024-01-15", "2024-04-16"}
    return out, dates


def test_no_identifier_or_real_date_in_any_export(hostile_exports):
    out, dates = hostile_exports
    needles = (
        {"HOSP-0", "hosp-0", "RECIST-SAMPLE-001"} | dates | {d.replace("-", "") for d in dates}
    )
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.suffix for p in files} >= {".xlsx", ".parquet", ".csv", ".pdf", ".html", ".dcm"}
    for path in files:
        text = file_text(path) + str(path.relative_to(out))
        found = sorted(n for n in needles if n in text)
        assert not found, f"{path.relative_to(out)} holds {found}"


def test_sr_text_is_scrubbed_but_kept(hostile_exports):
    out, _ = hostile_exports
    sr_files = sorted((out / "sr").glob("*.dcm"))
    assert len(sr_files) == 2
    ds = pydicom.dcmread(sr_files[0])
    texts = {str(e.value) for e in ds.iterall() if e.keyword == "TextValue"}
    pseudo = D.pseudonym("RECIST-SAMPLE-001")
    assert f"{pseudo} L1" in texts  # the lesion ID, its patient part pseudonymised
    meanings = {str(e.value) for e in ds.iterall() if e.keyword == "CodeMeaning"}
    assert any(m.endswith(f"of {pseudo}") for m in meanings)  # the organ's free text


# ------------------------------------------------------------------ DICOM, real files

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _identifiers(ds) -> set[bytes]:
    out = set()
    for e in ds.iterall():
        if e.VR == "UI" and e.value and e.keyword.endswith(("InstanceUID", "FrameOfReferenceUID")):
            for v in (
                e.value if isinstance(e.value, list | pydicom.multival.MultiValue) else [e.value]
            ):
                v = str(v)
                if v not in UID_dictionary and not v.startswith("1.2.840.10008.") and len(v) > 12:
                    out.add(v.encode())
        elif e.keyword in ("PatientName", "PatientID") and len(str(e.value)) >= 4:
            out.add(str(e.value).encode())
    return out


def test_pydicom_test_files_are_deidentified_or_named(tmp_path):
    files = sorted(p for p in TEST_FILES.rglob("*") if p.is_file())
    done = refused = 0
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                original = pydicom.dcmread(f)
            except Exception:
                continue  # not DICOM (or not readable by pydicom at all)
            try:
                (path,) = deidentify_files([f], tmp_path / f.name, D)
            except DeidentificationError as exc:
                if "DICOMDIR file(s) left out" in str(exc):
                    continue  # a DICOMDIR is not copied (its references would break)
                assert str(f) in str(exc)  # refused, naming the file and why
                refused += 1
                continue
            out = pydicom.dcmread(path)
        done += 1
        assert out.PatientIdentityRemoved == "YES"
        assert not [e for e in out.iterall() if e.tag.is_private], f
        assert not [
            e for e in out if (e.tag.group & 0xFF00) in (0x5000, 0x6000) and e.tag.group % 2 == 0
        ], f
        raw = path.read_bytes()
        leaked = [i for i in _identifiers(original) if i in raw]
        assert not leaked, f"{f.name}: {leaked}"
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if original.get(kw):
                assert str(out.get(kw, "")) != str(original.get(kw)), (f.name, kw)
    assert done > 140 and refused <= 3, (done, refused)  # 3 lack a SOP Class UID


def test_old_style_date_and_missing_uid_and_burned_in_text(tmp_path):
    src = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    src.StudyDate = "1997.04.24"  # ACR-NEMA style
    del src.SOPInstanceUID
    src.save_as(tmp_path / "old.dcm")
    (path,) = deidentify_files([tmp_path / "old.dcm"], tmp_path / "out", D)
    out = pydicom.dcmread(path)
    expected = dt.date(1997, 4, 24) - dt.timedelta(days=D.shift_days(str(src.PatientID)))
    assert out.StudyDate == expected.strftime("%Y%m%d")
    assert out.SOPInstanceUID == out.file_meta.MediaStorageSOPInstanceUID
    assert out.SOPInstanceUID != src.file_meta.MediaStorageSOPInstanceUID
    burned = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    burned.BurnedInAnnotation = "YES"
    burned.save_as(tmp_path / "burned.dcm")
    with pytest.raises(DeidentificationError, match=r"burned\.dcm: BurnedInAnnotation is YES"):
        deidentify_files([tmp_path / "burned.dcm"], tmp_path / "out2", D)
    assert not (tmp_path / "out2").exists()
