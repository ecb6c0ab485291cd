"""Years 0001-9999 through every export (issue 11: pandas' nanosecond dates stop at
1677 and 2262, and strftime writes year 1 as "1-01-01"); bad treatment dates are
named errors."""

from __future__ import annotations

import pandas as pd
import pytest

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


def _batch_1600_2300(tmp_path):
    rows = [HEADER + ",treatment_date"]
    for p, year, treat in (("P1", "1600", "1600-02-15"), ("P2", "2300", "2299-12-01")):
        rows += [f"{p},baseline,{year}-01-01,L1,target,liver,false,33,,measured,{treat}",
                 f"{p},fu,{year}-04-01,L1,target,liver,false,8,,measured,{treat}"]  # fmt: skip
    ann = tmp_path / "ann.csv"
    ann.write_text("\n".join(rows) + "\n")
    out = tmp_path / "b"
    code, err = run_cli(["batch", str(ann), "-o", str(out), "-q"])
    assert code == 0, err
    return ann, out


def test_treatment_dates_and_cdisc_outside_1677_2262(tmp_path):
    """Dates are calendar days of years 0001-9999 (docs/annotation_format.md):
    treatment dates in 1600 and 2299 give their baseline-timing messages, and the
    CDISC datasets carry the dates (CSV and XPT DATE9)."""
    import pyreadstat

    ann, out = _batch_1600_2300(tmp_path)
    messages = pd.read_csv(out / "messages.csv", dtype=str)
    timing = dict(zip(messages["patient_id"], messages["message"], strict=False))
    assert timing["P1"].startswith("baseline scan 45 days before treatment start")
    assert timing["P2"] == "baseline scan 31 days after treatment start"
    code, err = run_cli(["export", "cdisc", str(out), str(ann), "-o", str(tmp_path / "c")])
    assert code == 0, err
    adrs = pd.read_csv(tmp_path / "c" / "adrs.csv", dtype=str)
    ovr = adrs[adrs["PARAMCD"] == "OVR"].set_index("USUBJID")["ADT"]
    assert ovr.to_dict() == {"RECIST-P1": "1600-04-01", "RECIST-P2": "2300-04-01"}
    tr = pd.read_csv(tmp_path / "c" / "tr.csv", dtype=str)
    assert set(tr["TRDTC"]) == {"1600-01-01", "1600-04-01", "2300-01-01", "2300-04-01"}
    xpt, _ = pyreadstat.read_xport(str(tmp_path / "c" / "adrs.xpt"))
    assert "1600-04-01" in xpt["ADT"].astype(str).tolist()


def test_bad_date_given_to_build_cdisc_is_named(tmp_path):
    """Result files are checked against their run (a hand edit is refused before any
    date is read); results given through the API get a named error, not a traceback."""
    from recist_tool.export import ExportError
    from recist_tool.export.cdisc import build_cdisc
    from recist_tool.export.tables import load_results

    ann, out = _batch_1600_2300(tmp_path)
    res = load_results(out, ann)
    res.timepoints["date"] = res.timepoints["date"].astype(object)
    res.timepoints.loc[1, "date"] = "1600-13-01"
    with pytest.raises(ExportError, match=r"timepoints.csv: row 2 \(patient P1\): column date: "
                       "'1600-13-01'"):  # fmt: skip
        build_cdisc(res)
