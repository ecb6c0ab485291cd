"""Years 0001-9999 through every export (issue 11: pandas' nanosecond dates stop at
1677 and 2262, and strftime writes year 1 as "1-01-01"); bad treatment dates are
named errors."""

from __future__ import annotations

import pandas as pd

from tests.recist_tool.cli_helpers import run_cli

HEADER = "patient_id,timepoint,date,lesion_id,kind,organ,nodal,long_axis_mm,short_axis_mm,status"


def test_years_0001_and_9998_through_batch_and_exports(tmp_path):
    rows = [HEADER]
    for p, year in (("P1", "0001"), ("P2", "9998")):
        rows += [f"{p},baseline,{year}-01-01,L1,target,liver,false,33,,measured",
                 f"{p},fu,{year}-04-01,L1,target,liver,false,8,,measured"]  # fmt: skip
    ann = tmp_path / "ann.csv"
    ann.write_text("\n".join(rows) + "\n")
    treatments = tmp_path / "tr.csv"
    treatments.write_text("patient_id,date\nP1,0001-02-01\nP2,9998-02-01\n")
    out = tmp_path / "b"
    assert run_cli(["batch", str(ann), "-o", str(out), "-q"])[0] == 0
    for args in (
        ["export", "tables", str(out), str(ann), "-o", str(tmp_path / "t")],
        ["export", "plots", str(out), "--treatments", str(treatments), "-o", str(tmp_path / "p")],
        ["export", "report", str(out), str(ann), "-o", str(tmp_path / "r")],
    ):
        code, err = run_cli(args)
        assert code == 0, err
    lesions = pd.read_csv(tmp_path / "t" / "lesions.csv", dtype=str)
    assert sorted(lesions["date"]) == ["0001-01-01", "0001-04-01", "9998-01-01", "9998-04-01"]
    sheet = pd.read_excel(tmp_path / "t" / "results.xlsx", sheet_name="lesions")
    assert "0001-01-01" in sheet["date"].astype(str).tolist()  # kept (as text), not blanked
    code, err = run_cli(["export", "tables", str(out), "-o", str(tmp_path / "d"),
                         "--deidentify", "--secret", "0123456789"])  # fmt: skip
    assert code == 2 and "cannot be shifted" in err and "Traceback" not in err, err


def test_bad_treatment_dates_are_named(tmp_path):
    ann = tmp_path / "ann.csv"
    ann.write_text(HEADER + "\nP1,baseline,2024-01-01,L1,target,liver,false,33,,measured\n")
    treatments = tmp_path / "tr.csv"
    treatments.write_text("patient_id,date\nP1,2024-01-05\nP1,not-a-date\n")
    code, err = run_cli(["export", "plots", str(ann), "--treatments", str(treatments),
                         "-o", str(tmp_path / "p")])  # fmt: skip
    assert code == 2 and "tr.csv: line 3: column date: 'not-a-date'" in err, err
