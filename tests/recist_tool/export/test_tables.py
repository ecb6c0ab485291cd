"""Excel, Parquet and per-lesion tables from computed batch results."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from recist_tool.export import ExportError
from recist_tool.export.tables import lesion_table, load_results, write_excel, write_parquet


def test_excel_has_one_sheet_per_table_and_settings(results, tmp_path):
    path = write_excel(results.without_identifiers(), tmp_path / "results.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["patients", "timepoints", "lesions", "messages", "settings"]
    sheet = pd.read_excel(path, sheet_name="patients", dtype={"patient_id": str})
    assert sheet["patient_id"].tolist() == results.patients["patient_id"].tolist()
    assert sheet["best_overall_response"].tolist() == ["PR", "PD", "PD", "CR", "SD", "PD"]
    settings = dict(pd.read_excel(path, sheet_name="settings").values.tolist())
    assert settings["criteria"] == "RECIST 1.1"
    assert settings["settings.sd_min_days"] == 42
    assert "version" in settings
    # dates are real Excel dates, not text
    ws = wb["patients"]
    col = [c.value for c in ws[1]].index("baseline_date") + 1
    assert ws.cell(2, col).is_date


def test_parquet_round_trip_keeps_values_and_settings(results, tmp_path):
    paths = write_parquet(results, tmp_path)
    assert sorted(p.name for p in paths) == [
        "lesions.parquet",
        "messages.parquet",
        "patients.parquet",
        "timepoints.parquet",
    ]
    tp = pd.read_parquet(tmp_path / "timepoints.parquet")
    assert (
        tp["overall_response"].fillna("").tolist()
        == results.timepoints["overall_response"].fillna("").tolist()
    )
    meta = pq.read_schema(tmp_path / "patients.parquet").metadata[b"recist_tool.settings"]
    assert json.loads(meta)["settings"]["confirm"] is False


def test_lesion_table_sizes_and_changes(results):
    les = lesion_table(results.annotations).set_index(["patient_id", "lesion_id", "timepoint"])
    # liver 50 → 30: −40 %; nadir of FU2 is FU1's 30 → 32 is +6.67 %, shown +6.7 (display value)
    assert les.loc[("HOSP-0001", "T1", "FU1"), "change_from_baseline_pct"] == -40.0
    assert les.loc[("HOSP-0001", "T1", "FU2"), "nadir_mm"] == 30.0
    assert les.loc[("HOSP-0001", "T1", "FU2"), "change_from_nadir_pct"] == 6.7
    # a node is sized by its short axis and keeps it when the lesion "disappears"
    assert les.loc[("HOSP-0004", "T2", "BL"), "size_mm"] == 20.0
    assert les.loc[("HOSP-0004", "T1", "FU2"), "counted_mm"] == 0.0
    assert les.loc[("HOSP-0004", "T1", "FU2"), "change_from_baseline_pct"] == -100.0
    # non-target and new lesions are listed but not counted
    assert pd.isna(les.loc[("HOSP-0002", "N1", "FU1"), "counted_mm"])
    assert les.loc[("HOSP-0002", "T1", "FU1"), "days_from_baseline"] == 56
    # the per-lesion values add up to the engine's sums
    tp = results.timepoints.set_index(["patient_id", "timepoint"])
    sums = les.groupby(level=["patient_id", "timepoint"])["counted_mm"].sum(min_count=1)
    for key, value in sums.dropna().items():
        assert value == pytest.approx(tp.loc[key, "sum_mm"])


def test_load_results_from_batch_folder(results, tmp_path, annotations_csv):
    from recist_tool.response import evaluate

    evaluate(results.annotations).write(tmp_path / "batch")
    loaded = load_results(tmp_path / "batch", annotations=[annotations_csv])
    assert loaded.settings["criteria"] == "RECIST 1.1"
    assert loaded.patients["best_overall_response"].tolist() == (
        results.patients["best_overall_response"].tolist()
    )
    assert "lesions" in loaded.tables()


def test_load_results_names_missing_table(tmp_path):
    with pytest.raises(ExportError, match=r"no timepoints\.csv"):
        load_results(tmp_path)
