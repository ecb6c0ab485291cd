"""Bounded fuzzing of the survival inputs (clinical.csv, patients.csv, treatments.csv).

Files made of valid rows whose cells are replaced by odd values (dates out of range
or of the wrong shape, huge numbers, markup, quotes, line breaks, empty cells), or
of arbitrary bytes, are either read into checked inputs or refused with a
SurvivalInputError naming the file; never another exception.
"""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from recist_tool.survival.inputs import SurvivalInputError, read_inputs
from tests.recist_tool.fuzzing import budget

CLINICAL = [
    ["patient_id", "treatment_date", "last_contact_date", "death", "symptomatic_response",
     "symptomatic_response_date", "age"],
    ["P1", "2020-01-01", "2020-10-27", "1", "yes", "2020-02-01", "61"],
    ["P2", "2020-01-01", "2021-05-15", "0", "no", "", "70"],
    ["P3", "2020-02-01", "2020-07-19", "1", "yes", "2020-03-01", "55"],
]  # fmt: skip
PATIENTS = [
    ["patient_id", "baseline_date", "n_targets", "baseline_sum_mm", "best_overall_response",
     "best_response_date", "best_change_pct", "first_followup_date", "first_followup_response",
     "progression_date", "pfs_days", "pfs_event"],
    ["P1", "2019-12-20", "1", "40", "PR", "2020-03-25", "-40", "2020-03-25", "PR", "", "200", "0"],
    ["P3", "2020-01-20", "1", "40", "PD", "2020-04-25", "30", "2020-04-25", "PD", "2020-04-25",
     "84", "1"],
]  # fmt: skip
TREATMENTS = [
    ["patient_id", "date"],
    ["P1", "2020-01-01"],
    ["P1", "2020-05-01"],
    ["P2", "2020-01-01"],
    ["P3", "2020-02-01"],
]

ODD_CELLS = ["", " ", "2020-02-30", "1677-09-21", "2262-04-12", "0001-01-01", "9999-12-31",
             "20200101", "01/02/2020", "NaN", "inf", "-1", "1e308", "9" * 40, "2", "yes ",
             "YES", '"', ",", "\n", "[bold]x", "é😀", "\x00", "P1", "P9"]  # fmt: skip
ODD = st.sampled_from(ODD_CELLS)


def _csv(rows: list[list[str]], edits) -> str:
    rows = [list(r) for r in rows]
    for i, j, value in edits:
        rows[i % len(rows)][j % len(rows[0])] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _write_inputs(folder, ce, pe, te) -> list:
    """clinical.csv, patients.csv and treatments.csv with those edits; their paths."""
    paths = []
    for name, rows, edits in (("clinical.csv", CLINICAL, ce), ("patients.csv", PATIENTS, pe),
                              ("treatments.csv", TREATMENTS, te)):  # fmt: skip
        (folder / name).write_text(_csv(rows, edits), encoding="utf-8")
        paths.append(folder / name)
    return paths


def _read_or_refused(tmp_path_factory, ce, pe, te):
    """The inputs read, or None when refused with an error naming one of the files."""
    paths = _write_inputs(tmp_path_factory.mktemp("surv"), ce, pe, te)
    try:
        return read_inputs(*paths)
    except SurvivalInputError as exc:
        assert any(p.name in str(exc) for p in paths), str(exc)
        return None


EDITS = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), ODD), max_size=3)


@budget(120)
@given(EDITS, EDITS, EDITS)
def test_inputs_are_read_or_refused_naming_the_file(tmp_path_factory, ce, pe, te):
    inputs = _read_or_refused(tmp_path_factory, ce, pe, te)
    if inputs is not None:
        assert inputs.clinical.index.is_unique


@budget(40)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_naming_the_file(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("surv") / "clinical.csv"
    p.write_bytes(data)
    try:
        read_inputs(p)
    except SurvivalInputError as exc:
        assert "clinical.csv" in str(exc)


@budget(25)
@given(EDITS, EDITS, EDITS)
def test_inputs_that_are_read_are_analysed_or_refused(tmp_path_factory, ce, pe, te):
    from recist_tool.errors import RecistError
    from recist_tool.survival.pipeline import SurvivalSettings, analyse

    inputs = _read_or_refused(tmp_path_factory, ce, pe, te)
    if inputs is None:
        return
    try:
        analyse(inputs, SurvivalSettings(figures=False, endpoints=("os", "pfs")))
    except RecistError as exc:  # e.g. too few patients for a model: said in words
        assert str(exc)
