"""Input checks: every error names file, line, column and value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recist_tool.errors import RecistError
from recist_tool.survival.inputs import SurvivalInputError, read_inputs


def _edit(path: Path, row: int, column: str, value: str) -> Path:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return path


def test_reads_days_from_time_zero(small_study):
    inp = read_inputs(small_study["clinical"], small_study["responses"], small_study["treatments"])
    assert inp.clinical.loc[["P1", "P2", "P3", "P4", "P5", "P6"], "os_days"].tolist() == [
        300,
        60,
        500,
        200,
        80,
        400,
    ]
    r = inp.responses
    assert r.loc["P1", "last_scan_days"] == 188  # 2019-12-20 + 200 days, from 2020-01-01
    assert r.loc["P4", "progression_days"] == 84
    assert r.loc["P6", "first_followup_response"] == "CR"
    assert sorted(inp.treatments.loc[inp.treatments.patient_id == "P3", "days"]) == [0, 213]
    assert inp.covariates["symptomatic_response"].known_days["P3"] == 121


@pytest.mark.parametrize(
    ("which", "row", "column", "value", "expected"),
    [
        ("clinical", 1, "death", "2", "line 3: column death: '2': expected 0 or 1"),
        (
            "clinical",
            0,
            "treatment_date",
            "2020-13-01",
            "line 2: column treatment_date: '2020-13-01': not a date",
        ),
        (
            "clinical",
            2,
            "last_contact_date",
            "2019-05-01",
            "line 4: column last_contact_date: '2019-05-01': before time zero",
        ),
        ("clinical", 3, "patient_id", "P1", "line 5: column patient_id: 'P1': duplicate of line 2"),
        (
            "clinical",
            0,
            "symptomatic_response_date",
            "2019-12-01",
            "line 2: column symptomatic_response_date: '2019-12-01': before time zero",
        ),
        ("clinical", 0, "patient_id", "", "line 2: column patient_id: empty: must not be empty"),
        ("responses", 1, "patient_id", "P9", "line 3: column patient_id: 'P9': unknown patient"),
        (
            "responses",
            0,
            "first_followup_response",
            "XX",
            "line 2: column first_followup_response: 'XX': unknown response",
        ),
        (
            "responses",
            0,
            "first_followup_date",
            "2019-12-25",
            "line 2: column first_followup_date: '2019-12-25': before time zero",
        ),
        (
            "responses",
            2,
            "progression_date",
            "2019-12-31",
            "line 4: column progression_date: '2019-12-31': before time zero",
        ),
        ("responses", 2, "progression_date", "2022-01-01", "after last_contact_date"),
        ("responses", 0, "pfs_days", "-3", "line 2: column pfs_days: '-3': expected a number"),
        (
            "responses",
            0,
            "pfs_event",
            "1",
            "line 2: column pfs_event: '1': is 1 but progression_date is empty",
        ),
        (
            "treatments",
            6,
            "date",
            "2019-06-01",
            "line 8: column date: '2019-06-01': before time zero",
        ),
        ("treatments", 0, "patient_id", "Q1", "line 2: column patient_id: 'Q1': unknown patient"),
        ("treatments", 1, "date", "01/02/2020", "line 3: column date: '01/02/2020': not a date"),
    ],
)
def test_bad_values_are_named(small_study, which, row, column, value, expected):
    path = _edit(small_study[which], row, column, value)
    with pytest.raises(SurvivalInputError) as info:
        read_inputs(small_study["clinical"], small_study["responses"], small_study["treatments"])
    assert isinstance(info.value, RecistError)
    msg = str(info.value)
    assert str(path) in msg
    assert expected in msg


@pytest.mark.parametrize(
    ("which", "column"),
    [("clinical", "death"), ("responses", "pfs_days"), ("treatments", "date")],
)
def test_missing_columns(small_study, which, column):
    path = small_study[which]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=[column])
    frame.to_csv(path, index=False)
    with pytest.raises(SurvivalInputError, match=rf"line 1: missing column\(s\) {column}"):
        read_inputs(small_study["clinical"], small_study["responses"], small_study["treatments"])


def test_missing_and_empty_files(tmp_path, small_study):
    with pytest.raises(SurvivalInputError, match="no such file"):
        read_inputs(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SurvivalInputError, match="empty"):
        read_inputs(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("patient_id,treatment_date,last_contact_date,death\n")
    with pytest.raises(SurvivalInputError, match="no data rows"):
        read_inputs(header_only)


def test_several_problems_reported_together(small_study):
    _edit(small_study["clinical"], 0, "death", "x")
    _edit(small_study["clinical"], 1, "death", "y")
    with pytest.raises(SurvivalInputError) as info:
        read_inputs(small_study["clinical"])
    assert "line 2: column death: 'x'" in str(info.value)
    assert "line 3: column death: 'y'" in str(info.value)


# ---------------------------------------------------------------- hostile input (issue 11)

CLIN = "patient_id,treatment_date,last_contact_date,death"


def test_duplicate_column_is_an_error_not_a_rename(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(f"{CLIN},death\nP1,2024-01-01,2024-06-01,1,0\n")
    with pytest.raises(SurvivalInputError, match="line 1: column\\(s\\) named twice: death"):
        read_inputs(f)


def test_reserved_line_column(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(f"{CLIN},_line\nP1,2024-01-01,2024-06-01,1,3\n")
    with pytest.raises(SurvivalInputError, match="_line is reserved"):
        read_inputs(f)


def test_years_0001_and_9999_are_dates(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(f"{CLIN}\nP1,0001-01-01,0001-03-02,1\nP2,9999-01-01,9999-12-31,0\n")
    clin = read_inputs(f).clinical
    assert clin["os_days"].tolist() == [60, 364]


def test_not_a_date_treatment_date(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(f"{CLIN}\nP1,not-a-date,2024-06-01,1\n")
    with pytest.raises(SurvivalInputError, match="line 2: column treatment_date: 'not-a-date'"):
        read_inputs(f)


def test_baseline_after_last_contact(small_study, tmp_path):
    responses = pd.read_csv(small_study["responses"], dtype=str, keep_default_na=False)
    clinical = pd.read_csv(small_study["clinical"], dtype=str, keep_default_na=False)
    pid = responses.loc[0, "patient_id"]
    last = clinical.loc[clinical.patient_id == pid, "last_contact_date"].iloc[0]
    responses.loc[0, "baseline_date"] = str((pd.Timestamp(last) + pd.Timedelta(days=3)).date())
    path = tmp_path / "patients.csv"
    responses.to_csv(path, index=False)
    with pytest.raises(SurvivalInputError, match=r"baseline_date: .*after last_contact"):
        read_inputs(small_study["clinical"], path)


def test_fixture_writes_the_readers_columns_which_batch_writes(small_study):
    """patients.csv of the fixture has the reader's own column list (not a copy), and
    every column the survival reader needs is one ``recist-tool batch`` writes."""
    from recist_tool.response import PATIENT_COLUMNS
    from recist_tool.survival.inputs import RESPONSE_COLUMNS

    from . import conftest

    assert conftest.RESPONSE_COLUMNS is RESPONSE_COLUMNS
    header = pd.read_csv(small_study["responses"], nrows=0).columns.tolist()
    assert header == list(RESPONSE_COLUMNS)
    assert set(RESPONSE_COLUMNS) <= set(PATIENT_COLUMNS)
