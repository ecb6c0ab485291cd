"""Per-patient file names are unique and bounded (issue 11): ``P/1`` and ``P_1`` used
to map to the same SR and report files (one lost, exit 0), and a 300-character
patient ID raised "File name too long"."""

from __future__ import annotations

import copy
import dataclasses

from recist_tool.filenames import file_stem

from .conftest import SAMPLE


def test_file_stem_is_readable_when_it_can_be_and_unique_always():
    assert file_stem("RECIST-SAMPLE-001", "baseline") == "RECIST-SAMPLE-001_baseline"
    names = {file_stem(p, "bl") for p in ("P/1", "P_1", "P 1", "P\\1", "p/1", "P1")}
    assert len(names) == 6
    assert file_stem("P", "1_bl") != file_stem("P_1", "bl")
    long = file_stem("x" * 300, "é" * 300)
    assert len(long.encode()) <= 2 * 61 + 9 and long.isascii()


def test_sr_and_report_files_of_colliding_and_long_ids(sample_reading, tmp_path):
    from recist_tool.export.patient_report import build_patient_report, write_patient_report
    from recist_tool.export.sr import ImageIndex, export_readings

    readings = []
    for pid in ("P/1", "P_1", "Z" * 300):
        r = copy.deepcopy(sample_reading)
        r.patient_id = pid
        readings.append(r)
    paths = export_readings(readings, [SAMPLE], tmp_path / "sr")
    assert len(paths) == 6 and len({p.name for p in paths}) == 6
    assert all(p.is_file() and len(p.name) < 200 for p in paths)
    report = build_patient_report(sample_reading, ImageIndex([SAMPLE]))  # rendered once
    out = []
    for r in readings:
        out += write_patient_report(dataclasses.replace(report, patient_id=r.patient_id),
                                    tmp_path / "pr")  # fmt: skip
    assert len({p.name for p in out}) == 6 and all(p.is_file() for p in out)
