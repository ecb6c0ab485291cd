"""The command line of issue 10, run as a user would: --keep-going, --clinical,
endpoints.csv, --criteria, export cdisc (CSV + XPT read back), survival --predictor tgr."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from recist_tool.annotations import write_annotations
from recist_tool.response.endpoints import clopper_pearson
from tests.recist_tool.cohort_builder import GONE, nt, patient, tp

EXE = str(Path(sys.executable).with_name("recist-tool"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, check=False)


def rows_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Six patients: PR, CR, SD, PD, NT-only, and a PR that later progresses."""
    d = tmp_path_factory.mktemp("cohort")
    rows = []
    rows += patient(
        tp(0, L1=100, T1=nt()), tp(56, L1=60, T1=nt()), tp(112, L1=60, T1=nt()), pid="P1"
    )
    rows += patient(tp(0, L1=40), tp(56, L1=GONE), tp(112, L1=GONE), pid="P2")
    rows += patient(tp(0, L1=40), tp(56, L1=38), tp(180, L1=38), pid="P3")
    rows += patient(tp(0, L1=40), tp(56, L1=50), pid="P4")
    rows += patient(tp(0, T1=nt()), tp(56, T1=nt()), pid="P5")
    rows += patient(tp(0, L1=50), tp(56, L1=30), tp(112, L1=40), pid="P6")
    write_annotations(rows, d / "a.csv")
    return d / "a.csv"


def test_batch_endpoints_and_criteria(cohort, tmp_path):
    out = tmp_path / "out"
    r = run("batch", str(cohort), "-o", str(out), "-q", "--criteria", "irecist,choi")
    assert r.returncode == 0, r.stderr
    ends = {e["endpoint"]: e for e in rows_csv(out / "endpoints.csv")}
    # BOR: P1 PR, P2 CR, P3 SD, P4 PD, P5 NON-CR/NON-PD, P6 PR -> ORR 3/6
    assert (ends["ORR"]["events"], ends["ORR"]["n"]) == ("3", "6")
    low, high = beta.ppf(0.025, 3, 4), beta.ppf(0.975, 4, 3)
    assert float(ends["ORR"]["ci_low"]) == pytest.approx(low, abs=5e-5)
    assert float(ends["ORR"]["ci_high"]) == pytest.approx(high, abs=5e-5)
    assert ends["DCR"]["events"] == "5" and ends["CBR"]["events"] == "4"  # P3 SD at 180 d
    assert ends["PFS"]["events"] == "2"  # P4 and P6
    tps = rows_csv(out / "timepoints.csv")
    assert {"ioverall_response", "ireason", "choi_response", "reason"} <= set(tps[0])
    settings = json.loads((out / "settings.json").read_text())
    assert settings["settings"]["criteria"] == ["recist", "irecist", "choi"]
    assert "pfs_censoring" in settings["conventions"]


def test_clopper_pearson_matches_beta_quantiles():
    for k, n in ((0, 5), (3, 6), (7, 7), (13, 40)):
        low, high = clopper_pearson(k, n)
        assert low == pytest.approx(0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1), abs=1e-9)
        assert high == pytest.approx(1.0 if k == n else beta.ppf(0.975, k + 1, n - k), abs=1e-9)


def test_keep_going_leaves_out_bad_patients(cohort, tmp_path):
    bad = tmp_path / "bad.csv"
    text = cohort.read_text().splitlines()
    text.append("P7,baseline,2024-01-01,L1,target,liver,false,-3,,measured")
    text.append("P7,d56,2024-02-26,L1,target,liver,false,20,,measured")
    text.append("P8,baseline,2024-01-01,L1,target,liver,false,30,,measured")
    text.append("P8,d56,2024-01-01,L1,target,liver,false,20,,measured")  # same date
    bad.write_text("\n".join(text) + "\n")
    r = run("batch", str(bad), "-o", str(tmp_path / "x"), "-q")
    assert r.returncode == 2 and not (tmp_path / "x").exists()
    out = tmp_path / "out"
    r = run("batch", str(bad), "-o", str(out), "-q", "--keep-going")
    assert r.returncode == 1, r.stderr
    pts = {p["patient_id"] for p in rows_csv(out / "patients.csv")}
    assert pts == {"P1", "P2", "P3", "P4", "P5", "P6"}
    errs = [m for m in rows_csv(out / "messages.csv") if m["severity"] == "error"]
    by = {m["patient_id"]: m for m in errs}
    assert by["P7"]["file"] == str(bad) and by["P7"]["line"] == str(len(text) - 3)
    assert (by["P7"]["column"], by["P7"]["value"]) == ("long_axis_mm", "-3")
    assert "must not be negative" in by["P7"]["message"]
    assert "same date" in by["P8"]["message"]


def test_clinical_death_and_cdisc_export(cohort, tmp_path):
    clin = tmp_path / "clinical.csv"
    pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
            "treatment_date": "2023-12-28",
            "last_contact_date": [
                "2024-05-01",
                "2024-06-01",
                "2024-08-01",
                "2024-03-01",
                "2024-04-01",
                "2024-05-01",
            ],
            "death": [1, 0, 0, 1, 0, 0],
        }
    ).to_csv(clin, index=False)
    out = tmp_path / "out"
    r = run("batch", str(cohort), "-o", str(out), "-q", "--clinical", str(clin))
    assert r.returncode == 0, r.stderr
    pts = {p["patient_id"]: p for p in rows_csv(out / "patients.csv")}
    # P1: no progression, died 2024-05-01 = day 125 from treatment (2023-12-28)
    assert (pts["P1"]["pfs_days"], pts["P1"]["pfs_event"]) == ("125", "1")
    assert pts["P1"]["pfs_censoring"] == "death" and pts["P1"]["reference_date"] == "2023-12-28"

    cd = tmp_path / "cdisc"
    r = run("export", "cdisc", str(out), str(cohort), "-o", str(cd), "--studyid", "S1")
    assert r.returncode == 0, r.stderr
    import pyreadstat

    for name in ("tu", "tr", "rs", "adrs"):
        df, meta = pyreadstat.read_xport(str(cd / f"{name}.xpt"))
        assert meta.table_name == name.upper()
        assert all(len(c) <= 8 for c in df.columns)
        assert all(len(lab or "") <= 40 for lab in meta.column_labels)
        assert len(df) == len(pd.read_csv(cd / f"{name}.csv"))
    tu = pd.read_csv(cd / "tu.csv")
    assert set(tu["TUORRES"]) == {"TARGET", "NON-TARGET"} and set(tu["TUTESTCD"]) == {"TUMIDENT"}
    tr = pd.read_csv(cd / "tr.csv")
    p1 = tr[(tr["USUBJID"] == "S1-P1") & (tr["TRTESTCD"] == "SUMDIAM")]
    assert p1["TRSTRESN"].tolist() == [100, 60, 60]
    adrs, _ = pyreadstat.read_xport(str(cd / "adrs.xpt"))
    bor = adrs[adrs["PARAMCD"] == "BOR"].set_index("USUBJID")
    assert bor.loc["S1-P2", "AVALC"] == "CR" and bor.loc["S1-P2", "AVAL"] == 1
    assert bor.loc["S1-P5", "AVAL"] == 4  # NON-CR/NON-PD
    assert set(adrs["PARAMCD"]) == {"OVR", "BOR", "CBOR"}
    assert np.issubdtype(np.asarray(adrs["AVAL"]).dtype, np.floating)
    rs = pd.read_csv(cd / "rs.csv")
    assert {"TRGRESP", "NTRGRESP", "NEWLIND", "OVRLRESP", "BESTRSP"} <= set(rs["RSTESTCD"])


def test_cdisc_export_of_a_split_lesion(tmp_path):
    """Each part of a lesion that split is a tumor of its own in TU (TUSPLIT, grouped
    with its lesion) and TR (its own link ID); the sum counts both. Both parts had the
    lesion's link ID, so TR held one lesion measured twice at one visit."""
    ann = tmp_path / "a.csv"
    ann.write_text(
        "patient_id,lesion_id,timepoint,date,kind,organ,nodal,status,long_axis_mm,"
        "short_axis_mm,fragment\n"
        "P1,T1,baseline,2024-01-01,target,liver,false,measured,40,,\n"
        "P1,T1,FU1,2024-04-01,target,liver,false,measured,20,,a\n"
        "P1,T1,FU1,2024-04-01,target,liver,false,measured,25,,b\n"
        "P1,T1,FU2,2024-07-01,target,liver,false,measured,22,,a\n"
        "P1,T1,FU2,2024-07-01,target,liver,false,measured,30,,b\n"
    )
    out, cd = tmp_path / "out", tmp_path / "cdisc"
    assert run("batch", str(ann), "-o", str(out), "-q").returncode == 0
    r = run("export", "cdisc", str(out), str(ann), "-o", str(cd), "--studyid", "S1")
    assert r.returncode == 0, r.stderr
    import pyreadstat

    tu, meta = pyreadstat.read_xport(str(cd / "tu.xpt"))
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["TUGRPID"] == "Group ID"
    got = tu[["TULNKID", "TUTESTCD", "TUGRPID", "VISIT"]].values.tolist()
    assert got == [
        ["T1", "TUMIDENT", "", "BASELINE"],
        ["T1.1", "TUSPLIT", "T1", "FU1"],
        ["T1.2", "TUSPLIT", "T1", "FU1"],
    ]
    assert tu["TUSEQ"].tolist() == [1.0, 2.0, 3.0]
    tr = pd.read_csv(cd / "tr.csv", keep_default_na=False)
    ld = tr[tr["TRTESTCD"] == "LDIAM"][["TRLNKID", "VISIT", "TRSTRESN"]].values.tolist()
    assert ld == [["T1", "BASELINE", 40], ["T1.1", "FU1", 20], ["T1.2", "FU1", 25],
                  ["T1.1", "FU2", 22], ["T1.2", "FU2", 30]]  # fmt: skip
    assert tr[tr["TRTESTCD"] == "SUMDIAM"]["TRSTRESN"].tolist() == [40, 45, 52]
