"""The export commands end to end; every de-identified export is scanned for identifiers."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from typer.testing import CliRunner

from recist_tool.cli import app
from recist_tool.export.deid import Deidentifier

from .conftest import NAMES, cohort_rows

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"
SECRET = "cli test secret 123"
runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def file_text(path: Path) -> str:
    """Everything a person or a program could read from an export file."""
    if path.suffix == ".pdf":
        return subprocess.run(
            [shutil.which("pdftotext") or "pdftotext", str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if path.suffix == ".xlsx":
        sheets = pd.read_excel(path, sheet_name=None)
        return "\n".join(f.astype(str).to_csv() for f in sheets.values())
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(str).to_csv() + path.read_bytes().decode("latin-1")
    return path.read_bytes().decode("latin-1")


@pytest.fixture(scope="module")
def exports(tmp_path_factory, sample_reading):
    """Every export, de-identified, of the cohort and of the sample study."""
    from recist_tool.annotations import to_frame, write_annotations

    tmp = tmp_path_factory.mktemp("cli")
    cohort = tmp / "HOSP-cohort.csv"
    write_annotations(to_frame(cohort_rows()), cohort)
    sample_csv, _ = sample_reading.save(tmp / "RECIST-SAMPLE-001.csv")
    out = tmp / "out"
    deid = ("--deidentify", "--secret", SECRET)
    run("export", "tables", cohort, "-o", out / "tables", *deid)
    run("export", "plots", cohort, "-o", out / "plots", *deid)
    run("export", "report", cohort, "-o", out / "report", *deid)
    run("export", "sr", sample_csv, "--dicom", SAMPLE, "-o", out / "sr", *deid)
    run("export", "patient-report", sample_csv, "--dicom", SAMPLE, "-o", out / "patient", *deid)
    run(
        "export",
        "dicom",
        SAMPLE / "baseline",
        SAMPLE / "followup",
        "-o",
        out / "dicom",
        "--secret",
        SECRET,
    )
    return out, cohort


def _identifiers() -> set[str]:
    ids = set()
    for pid, (name, birth) in NAMES.items():
        ids |= {pid, name, birth, birth.replace("-", "")}
    ids |= {"Dr^Who", "Dr^Reader", "RECIST-SAMPLE-001", "SYNTHETIC", "19600101", "ACC20240115"}
    truth = json.loads((SAMPLE / "truth.json").read_text())
    for tp in truth["timepoints"]:
        ids |= {tp["study_instance_uid"], tp["series_instance_uid"]}
    first = pydicom.dcmread(sorted((SAMPLE / "baseline").iterdir())[0], stop_before_pixels=True)
    ids |= {str(first.SOPInstanceUID), str(first.FrameOfReferenceUID)}
    return ids


def _original_dates(deid: Deidentifier) -> set[str]:
    """Original dates (both spellings), minus any that a shifted date happens to equal."""
    pairs = {(m.patient_id, m.date) for m in cohort_rows()}
    pairs |= {("RECIST-SAMPLE-001", "2024-01-15"), ("RECIST-SAMPLE-001", "2024-04-16")}
    shifted = {deid.shift_date(d, p) for p, d in pairs}
    orig = {d for _, d in pairs} - shifted
    return orig | {d.replace("-", "") for d in orig}


def test_every_export_is_free_of_identifiers(exports):
    out, _ = exports
    files = sorted(p for p in out.rglob("*") if p.is_file())
    kinds = {p.suffix for p in files}
    assert {".xlsx", ".parquet", ".csv", ".json", ".png", ".svg", ".html", ".pdf", ".dcm"} <= kinds
    needles = _identifiers() | _original_dates(Deidentifier(SECRET))
    for path in files:
        text = file_text(path)
        found = sorted(n for n in needles if n in text or n in str(path.relative_to(out)))
        assert not found, f"{path.relative_to(out)} holds {found}"


def test_deidentified_tables_keep_intervals_and_pseudonyms(exports):
    out, _ = exports
    deid = Deidentifier(SECRET)
    pts = pd.read_csv(out / "tables" / "patients.csv")
    assert sorted(pts["patient_id"]) == sorted(deid.pseudonym(p) for p in NAMES)
    row = pts.set_index("patient_id").loc[deid.pseudonym("HOSP-0001")]
    shift = dt.timedelta(days=deid.shift_days("HOSP-0001"))
    assert row["baseline_date"] == (dt.date(2024, 1, 8) - shift).isoformat()
    assert row["pfs_days"] == 112 and row["best_overall_response"] == "PR"
    lesions = pd.read_excel(out / "tables" / "results.xlsx", sheet_name="lesions")
    assert not {"patient_name", "birth_date"} & set(lesions.columns)
    svg = (out / "plots" / "waterfall.svg").read_text()
    assert deid.pseudonym("HOSP-0002") in svg  # real text in the SVG, pseudonymised


def test_deidentified_sr_points_at_deidentified_images(exports):
    out, _ = exports
    sops = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
        for p in (out / "dicom").rglob("*.dcm")
    }
    for sr_path in (out / "sr").glob("*.dcm"):
        sr = pydicom.dcmread(sr_path)
        refs = {str(e.value) for e in sr.iterall() if e.keyword == "ReferencedSOPInstanceUID"}
        assert refs and refs <= sops


def test_import_sr_command_restores_the_annotations(exports, tmp_path, sample_reading):
    from recist_tool.reading import Reading

    sample_csv, _ = sample_reading.save(tmp_path / "orig.csv")
    run("export", "sr", sample_csv, "--dicom", SAMPLE, "-o", tmp_path / "sr")
    run("import", "sr", tmp_path / "sr", "--dicom", SAMPLE, "-o", tmp_path / "back.csv")
    back = Reading.load(tmp_path / "back.csv")
    assert back.to_frame()[["lesion_id", "timepoint", "long_axis_mm", "short_axis_mm"]].equals(
        sample_reading.to_frame()[["lesion_id", "timepoint", "long_axis_mm", "short_axis_mm"]]
    )
    assert back.lesion("L1").findings["baseline"].long_axis is not None


def test_user_errors_exit_2_with_a_message(tmp_path, annotations_csv):
    missing_secret = [
        sys.executable,
        "-m",
        "recist_tool",
        "export",
        "tables",
        str(annotations_csv),
        "-o",
        str(tmp_path),
        "--deidentify",
    ]
    not_results = [
        sys.executable,
        "-m",
        "recist_tool",
        "export",
        "report",
        str(tmp_path / "nope.csv"),
        "-o",
        str(tmp_path),
    ]
    for cmd, message in ((missing_secret, "needs a secret"), (not_results, "nope.csv")):
        env = {k: v for k, v in os.environ.items() if k != "RECIST_DEID_SECRET"}
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.xlsx"))
