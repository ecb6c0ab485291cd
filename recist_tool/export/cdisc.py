"""CDISC datasets: SDTM TU, TR, RS and ADaM ADRS, as CSV and SAS transport (XPT v5).

Built from a batch run's tables (``timepoints.csv``, ``patients.csv``) and its
annotation files; nothing is re-computed: responses, sums and dates are the
engine's, lesion sizes are the recorded measurements. Variables and controlled
terms follow the SDTM IG oncology domains (TU/TR/RS) and the ADaM ADRS conventions
that pharmaverse's admiralonco uses (PARAMCD OVR, BOR, CBOR; AVAL 1 CR, 2 PR, 3 SD,
4 NON-CR/NON-PD, 5 PD, 6 NE). XPT files are written by pyreadstat (ReadStat) in
version 5, the format regulators accept; names are at most 8 characters, labels at
most 40. See docs/cdisc.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool._atomic import atomic_write, atomic_write_bytes
from recist_tool.annotations import iso_dates, to_dates
from recist_tool.export import ExportError
from recist_tool.export.tables import Results

#: admiralonco's ``aval_resp``: AVALC -> AVAL.
AVAL = {"CR": 1, "PR": 2, "SD": 3, "NON-CR/NON-PD": 4, "PD": 5, "NE": 6, "MISSING": 7}
CRITERIA_CAT = {"recist": "RECIST 1.1", "irecist": "iRECIST", "choi": "CHOI"}
LABELS = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "TUSEQ": "Sequence Number",
    "TUGRPID": "Group ID",
    "TULNKID": "Link ID",
    "TUTESTCD": "Tumor Identification Short Name",
    "TUTEST": "Tumor Identification Test Name",
    "TUORRES": "Tumor Identification Result",
    "TUSTRESC": "Tumor Identification Result Std. Format",
    "TULOC": "Location of the Tumor",
    "TUMETHOD": "Method of Identification",
    "TUEVAL": "Evaluator",
    "TRSEQ": "Sequence Number",
    "TRLNKID": "Link ID",
    "TRTESTCD": "Tumor Assessment Short Name",
    "TRTEST": "Tumor Assessment Test Name",
    "TRORRES": "Result or Finding in Original Units",
    "TRORRESU": "Original Units",
    "TRSTRESC": "Character Result/Finding in Std Format",
    "TRSTRESN": "Numeric Result/Finding in Standard Units",
    "TRSTRESU": "Standard Units",
    "TRSTAT": "Completion Status",
    "TRMETHOD": "Method used to Identify the Tumor",
    "TREVAL": "Evaluator",
    "RSSEQ": "Sequence Number",
    "RSTESTCD": "Assessment Short Name",
    "RSTEST": "Assessment Name",
    "RSCAT": "Category for Assessment",
    "RSORRES": "Result or Finding in Original Units",
    "RSSTRESC": "Character Result/Finding in Std Format",
    "RSEVAL": "Evaluator",
    "VISITNUM": "Visit Number",
    "VISIT": "Visit Name",
    "TUDTC": "Date/Time of Tumor Identification",
    "TRDTC": "Date/Time of Tumor Measurement",
    "RSDTC": "Date/Time of Response Assessment",
    "PARAMCD": "Parameter Code",
    "PARAM": "Parameter",
    "PARCAT1": "Parameter Category 1",
    "AVALC": "Analysis Value (C)",
    "AVAL": "Analysis Value",
    "ADT": "Analysis Date",
    "AVISIT": "Analysis Visit",
    "AVISITN": "Analysis Visit (N)",
    "ANL01FL": "Analysis Flag 01",
    "ASEQ": "Analysis Sequence Number",
}
_NT_STATE = {
    "present": "PRESENT",
    "absent": "ABSENT",
    "progression": "UNEQUIVOCAL PROGRESSION",
    "equivocal_progression": "EQUIVOCAL PROGRESSION",
    "equivocal": "EQUIVOCAL",
    "not_evaluated": "NOT EVALUABLE",
}
_TU_RESULT = {
    "target": "TARGET",
    "non_target": "NON-TARGET",
    "new": "NEW",
    "new_target": "NEW",
    "new_non_target": "NEW",
}


def _iso(values) -> np.ndarray:
    """``YYYY-MM-DD`` text of dates ("" where none), any year 0001-9999."""
    return iso_dates(values).to_numpy(dtype=object)


def _dates(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    """A date column at day resolution (any year 0001-9999: pandas' nanosecond
    dates stop at 1677 and 2262); a value that is not ``YYYY-MM-DD`` is an error
    naming the file, row and value."""
    d = to_dates(frame[column])
    bad = d.isna().to_numpy() & frame[column].notna().to_numpy()
    bad &= frame[column].astype(str).str.strip().ne("").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ExportError(
            f"{source}: row {i + 1} (patient {frame['patient_id'].iloc[i]}): column {column}: "
            f"{frame[column].iloc[i]!r}: not a date in the form YYYY-MM-DD"
        )
    return d


def _sas_dates(values: pd.Series) -> list:
    """Dates as ``datetime.date`` for the XPT's DATE9 (None where none)."""
    return [None if pd.isna(v) else v.date() for v in values]


def _visits(timepoints: pd.DataFrame) -> pd.DataFrame:
    """VISIT, VISITNUM (1 = baseline, then in date order) per patient and time point."""
    tp = timepoints[["patient_id", "timepoint", "date"]].copy()
    tp["patient_id"] = tp["patient_id"].astype(str)
    tp["timepoint"] = tp["timepoint"].astype(str)
    tp["date"] = _dates(tp, "date", "timepoints.csv")
    tp = tp.sort_values(["patient_id", "date"], kind="stable")
    tp["VISITNUM"] = tp.groupby("patient_id").cumcount() + 1.0
    tp["VISIT"] = np.where(tp["VISITNUM"] == 1, "BASELINE", tp["timepoint"].str.upper())
    return tp


def build_cdisc(
    results: Results, studyid: str = "RECIST", evaluator: str = "INVESTIGATOR"
) -> dict[str, pd.DataFrame]:
    """The four datasets (TU, TR, RS, ADRS) as DataFrames.

    Raises
    ------
    ExportError
        When the annotations of the run are not given (TU and TR need them).
    """
    if results.annotations is None:
        raise ExportError("CDISC export needs the run's annotation files (TU and TR)")
    if not studyid or len(studyid) > 200:
        raise ExportError("--studyid must be 1-200 characters")
    ann = results.annotations.copy()
    for c in ("patient_id", "timepoint", "lesion_id", "kind", "status", "organ"):
        ann[c] = ann[c].astype(str).where(ann[c].notna(), "")
    ann["date"] = _dates(ann, "date", "annotations")
    tp = results.timepoints.copy()
    visits = _visits(tp)
    key = ["patient_id", "timepoint"]
    ann = ann.merge(visits[[*key, "VISITNUM", "VISIT"]], on=key, how="left")
    # a lesion that split has a row per part (``fragment``): each part is a tumor of
    # its own in TU/TR (TULNKID "T1.1", "T1.2", numbered in the order first seen),
    # grouped with the lesion it came from (TUGRPID), as the SDTM IG models splits
    frag = (
        ann["fragment"].astype(str).where(ann["fragment"].notna(), "").str.strip()
        if "fragment" in ann.columns
        else pd.Series("", index=ann.index)
    )
    ann["_frag"] = frag
    ann = ann.sort_values(["patient_id", "VISITNUM", "lesion_id", "_frag"], kind="stable")
    numbers: dict[tuple[str, str], dict[str, int]] = {}
    links = []
    for pid, lid, part in zip(ann["patient_id"], ann["lesion_id"], ann["_frag"], strict=True):
        if not part:
            links.append(lid)
            continue
        seen = numbers.setdefault((pid, lid), {})
        links.append(f"{lid}.{seen.setdefault(part, len(seen) + 1)}")
    ann["_link"] = links
    usubjid = lambda pid: studyid + "-" + pid.astype(str)  # noqa: E731
    method = (
        ann["modality"]
        .astype(str)
        .str.upper()
        .map({"CT": "CT SCAN", "MR": "MRI"})
        .fillna("CT SCAN")
        if "modality" in ann.columns
        else pd.Series("CT SCAN", index=ann.index)
    )

    # ---- TU: one record per lesion, at the visit where it was identified

    def tu_records(rows: pd.DataFrame, link: str, testcd: str, test: str) -> pd.DataFrame:
        loc = np.where(
            rows["nodal"].astype(bool) & (rows["organ"].str.strip() == ""),
            "LYMPH NODE",
            rows["organ"].str.upper().str.replace("_", " "),
        )
        return pd.DataFrame(
            {
                "STUDYID": studyid,
                "DOMAIN": "TU",
                "USUBJID": usubjid(rows["patient_id"]).to_numpy(),
                "TUSEQ": 0.0,
                "TULNKID": rows[link].to_numpy(),
                "TUTESTCD": testcd,
                "TUTEST": test,
                "TUORRES": rows["kind"].map(_TU_RESULT).to_numpy(),
                "TUSTRESC": rows["kind"].map(_TU_RESULT).to_numpy(),
                "TULOC": loc,
                "TUMETHOD": method.loc[rows.index].to_numpy(),
                "TUEVAL": evaluator,
                "VISITNUM": rows["VISITNUM"].to_numpy(),
                "VISIT": rows["VISIT"].to_numpy(),
                "TUDTC": _iso(rows["date"]),
            }
        )

    first = ann.drop_duplicates(["patient_id", "lesion_id"], keep="first")
    tu = tu_records(first, "lesion_id", "TUMIDENT", "Tumor Identification")
    parts = ann[ann["_frag"] != ""].drop_duplicates(["patient_id", "_link"], keep="first")
    if len(parts):
        tu_split = tu_records(parts, "_link", "TUSPLIT", "Tumor Split")
        tu_split.insert(4, "TUGRPID", parts["lesion_id"].to_numpy())
        tu.insert(4, "TUGRPID", "")
        tu = pd.concat([tu, tu_split], ignore_index=True)
        tu = tu.sort_values(["USUBJID", "VISITNUM", "TULNKID"], kind="stable")
    tu["TUSEQ"] = tu.groupby("USUBJID").cumcount() + 1.0

    # ---- TR: measurements and states per lesion and visit, and the sum per visit
    nodal = ann["nodal"].astype(bool).to_numpy()
    measured_kind = ann["kind"].isin(["target", "new_target"]).to_numpy()
    st = ann["status"].to_numpy()
    size = np.where(nodal, ann["short_axis_mm"], ann["long_axis_mm"]).astype(float)
    testcd = np.where(measured_kind, np.where(nodal, "SAXIS", "LDIAM"), "TUMSTATE")
    test = np.select(
        [testcd == "SAXIS", testcd == "LDIAM"], ["Short Axis", "Longest Diameter"], "Tumor State"
    )
    num_ok = measured_kind & (st == "measured") & ~np.isnan(size)
    disappeared = measured_kind & (st == "disappeared")
    orres = np.where(
        num_ok,
        pd.Series(size).map(lambda v: f"{v:g}").to_numpy(dtype=object),
        np.where(
            measured_kind,
            pd.Series(st)
            .map(
                {
                    "too_small": "TOO SMALL TO MEASURE",
                    "disappeared": "0",
                    "not_evaluated": "",
                }
            )
            .to_numpy(dtype=object),
            pd.Series(st).map(_NT_STATE).to_numpy(dtype=object),
        ),
    )
    node_kept = disappeared & nodal & ~np.isnan(size)
    orres = np.where(node_kept, pd.Series(size).map(lambda v: f"{v:g}").to_numpy(object), orres)
    strn = np.where(num_ok | node_kept, size, np.where(disappeared, 0.0, np.nan))
    numeric = ~np.isnan(strn)
    not_done = st == "not_evaluated"
    tr_les = pd.DataFrame(
        {
            "STUDYID": studyid,
            "DOMAIN": "TR",
            "USUBJID": usubjid(ann["patient_id"]).to_numpy(),
            "TRSEQ": 0.0,
            "TRLNKID": ann["_link"].to_numpy(),
            "TRTESTCD": testcd,
            "TRTEST": test,
            "TRORRES": np.where(not_done, "", orres),
            "TRORRESU": np.where(numeric, "mm", ""),
            "TRSTRESC": np.where(not_done, "", orres),
            "TRSTRESN": strn,
            "TRSTRESU": np.where(numeric, "mm", ""),
            "TRSTAT": np.where(not_done, "NOT DONE", ""),
            "TRMETHOD": method.to_numpy(),
            "TREVAL": evaluator,
            "VISITNUM": ann["VISITNUM"].to_numpy(),
            "VISIT": ann["VISIT"].to_numpy(),
            "TRDTC": _iso(ann["date"]),
        }
    )
    tpv = tp.copy()
    tpv["patient_id"] = tpv["patient_id"].astype(str)
    tpv["timepoint"] = tpv["timepoint"].astype(str)
    tpv = tpv.merge(visits[[*key, "VISITNUM", "VISIT"]], on=key, how="left")
    sums = tpv[pd.to_numeric(tpv["sum_mm"], errors="coerce").notna()]
    sod = pd.to_numeric(sums["sum_mm"]).to_numpy(float)
    tr_sum = pd.DataFrame(
        {
            "STUDYID": studyid,
            "DOMAIN": "TR",
            "USUBJID": usubjid(sums["patient_id"]).to_numpy(),
            "TRSEQ": 0.0,
            "TRLNKID": "",
            "TRTESTCD": "SUMDIAM",
            "TRTEST": "Sum of Diameter",
            "TRORRES": [f"{v:g}" for v in sod],
            "TRORRESU": "mm",
            "TRSTRESC": [f"{v:g}" for v in sod],
            "TRSTRESN": sod,
            "TRSTRESU": "mm",
            "TRSTAT": "",
            "TRMETHOD": "",
            "TREVAL": evaluator,
            "VISITNUM": sums["VISITNUM"].to_numpy(),
            "VISIT": sums["VISIT"].to_numpy(),
            "TRDTC": _iso(sums["date"]),
        }
    )
    tr = pd.concat([tr_les, tr_sum], ignore_index=True)
    tr = tr.sort_values(["USUBJID", "VISITNUM", "TRTESTCD", "TRLNKID"], kind="stable")
    tr["TRSEQ"] = tr.groupby("USUBJID").cumcount() + 1.0

    # ---- RS: responses per visit (follow-ups) and best response per patient
    fu = tpv[tpv["VISITNUM"] > 1]
    parts = []
    tests = [
        ("TRGRESP", "Target Response", "target_response", "recist"),
        ("NTRGRESP", "Non-target Response", "non_target_response", "recist"),
        ("NEWLIND", "New Lesion Indicator", "new_lesions", "recist"),
        ("OVRLRESP", "Overall Response", "overall_response", "recist"),
        ("OVRLRESP", "Overall Response", "ioverall_response", "irecist"),
        ("OVRLRESP", "Overall Response", "choi_response", "choi"),
    ]
    for code, name, col, crit in tests:
        if col not in fu.columns:
            continue
        v = fu[col].astype(str).where(fu[col].notna(), "")
        if code == "NEWLIND":
            v = v.map({"yes": "Y", "no": "N", "equivocal": "EQUIVOCAL"}).fillna("")
        keep = (v != "").to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": usubjid(fu["patient_id"][keep]).to_numpy(),
                    "RSTESTCD": code,
                    "RSTEST": name,
                    "RSCAT": CRITERIA_CAT[crit],
                    "RSORRES": v[keep].to_numpy(),
                    "VISITNUM": fu["VISITNUM"][keep].to_numpy(),
                    "VISIT": fu["VISIT"][keep].to_numpy(),
                    "RSDTC": _iso(fu["date"][keep]),
                }
            )
        )
    pts = results.patients.copy()
    pts["patient_id"] = pts["patient_id"].astype(str)
    for col, date_col, crit in (
        ("best_overall_response", "best_response_date", "recist"),
        ("ibest_overall_response", "ibest_response_date", "irecist"),
        ("choi_best_response", "choi_best_response_date", "choi"),
    ):
        if col not in pts.columns:
            continue
        v = pts[col].astype(str).where(pts[col].notna(), "")
        keep = (v != "").to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": usubjid(pts["patient_id"][keep]).to_numpy(),
                    "RSTESTCD": "BESTRSP",
                    "RSTEST": "Best Overall Response",
                    "RSCAT": CRITERIA_CAT[crit],
                    "RSORRES": v[keep].to_numpy(),
                    "VISITNUM": np.nan,
                    "VISIT": "",
                    "RSDTC": _iso(pts[date_col][keep]),
                }
            )
        )
    rs = pd.concat(parts, ignore_index=True)
    rs.insert(0, "STUDYID", studyid)
    rs.insert(1, "DOMAIN", "RS")
    rs.insert(3, "RSSEQ", 0.0)
    rs["RSSTRESC"] = rs["RSORRES"]
    rs["RSEVAL"] = evaluator
    rs = rs.sort_values(["USUBJID", "RSCAT", "VISITNUM", "RSTESTCD"], kind="stable")
    rs["RSSEQ"] = rs.groupby("USUBJID").cumcount() + 1.0
    rs = rs[
        [
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "RSSEQ",
            "RSTESTCD",
            "RSTEST",
            "RSCAT",
            "RSORRES",
            "RSSTRESC",
            "RSEVAL",
            "VISITNUM",
            "VISIT",
            "RSDTC",
        ]
    ]

    # ---- ADRS: OVR per visit, BOR and CBOR per patient (admiralonco parameters)
    confirmed = bool(results.settings.get("settings", {}).get("confirm", False))
    ovr = pd.DataFrame(
        {
            "USUBJID": usubjid(fu["patient_id"]).to_numpy(),
            "PARAMCD": "OVR",
            "PARAM": "Overall Response by Investigator",
            "AVALC": fu["overall_response"].astype(str).to_numpy(),
            "ADT": _sas_dates(_dates(fu, "date", "timepoints.csv")),
            "AVISIT": fu["VISIT"].to_numpy(),
            "AVISITN": fu["VISITNUM"].to_numpy(),
        }
    )
    bor_col = "best_overall_response"
    bor = pd.DataFrame(
        {
            "USUBJID": usubjid(pts["patient_id"]).to_numpy(),
            "PARAMCD": "CBOR" if confirmed else "BOR",
            "PARAM": (
                "Best Confirmed Overall Response by Investigator"
                if confirmed
                else "Best Overall Response by Investigator"
            ),
            "AVALC": pts[bor_col].astype(str).to_numpy(),
            "ADT": _sas_dates(_dates(pts, "best_response_date", "patients.csv")),
            "AVISIT": "",
            "AVISITN": np.nan,
        }
    )
    adrs_parts = [ovr, bor]
    if not confirmed and "confirmed_best_overall_response" in pts.columns:
        cb = bor.copy()
        cb["PARAMCD"] = "CBOR"
        cb["PARAM"] = "Best Confirmed Overall Response by Investigator"
        cb["AVALC"] = pts["confirmed_best_overall_response"].astype(str).to_numpy()
        cb["ADT"] = pd.NaT
        adrs_parts.append(cb)
    adrs = pd.concat(adrs_parts, ignore_index=True)
    adrs["ADT"] = [None if pd.isna(d) else d for d in adrs["ADT"]]
    adrs = adrs[adrs["AVALC"] != ""]
    adrs.insert(0, "STUDYID", studyid)
    adrs["PARCAT1"] = "RECIST 1.1"
    adrs["AVAL"] = adrs["AVALC"].map(AVAL).astype(float)
    adrs["ANL01FL"] = "Y"
    adrs = adrs.sort_values(["USUBJID", "PARAMCD", "AVISITN"], kind="stable").reset_index(drop=True)
    adrs["ASEQ"] = adrs.groupby("USUBJID").cumcount() + 1.0
    adrs = adrs[
        [
            "STUDYID",
            "USUBJID",
            "ASEQ",
            "PARAMCD",
            "PARAM",
            "PARCAT1",
            "AVALC",
            "AVAL",
            "ADT",
            "AVISIT",
            "AVISITN",
            "ANL01FL",
        ]
    ]
    return {
        "tu": tu.reset_index(drop=True),
        "tr": tr.reset_index(drop=True),
        "rs": rs.reset_index(drop=True),
        "adrs": adrs,
    }


def write_cdisc(datasets: dict[str, pd.DataFrame], outdir: str | os.PathLike) -> list[Path]:
    """Write each dataset as ``<name>.csv`` and ``<name>.xpt`` (XPT v5, pyreadstat)."""
    import tempfile

    import pyreadstat

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in datasets.items():
        csv_path = outdir / f"{name}.csv"
        with atomic_write(csv_path, "w") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
        paths.append(csv_path)
        labels = {c: LABELS.get(c, c)[:40] for c in frame.columns}
        formats = {"ADT": "DATE9"} if "ADT" in frame.columns else None
        xpt = frame.copy()
        for c in xpt.columns:
            if xpt[c].dtype == object and c != "ADT":
                xpt[c] = xpt[c].fillna("").astype(str)
        with tempfile.TemporaryDirectory(dir=outdir, prefix=".xpt-") as tmp:
            tmp_path = Path(tmp) / f"{name}.xpt"
            pyreadstat.write_xport(
                xpt,
                str(tmp_path),
                file_label=name.upper(),
                column_labels=labels,
                table_name=name.upper(),
                file_format_version=5,
                variable_format=formats,
            )
            atomic_write_bytes(outdir / f"{name}.xpt", tmp_path.read_bytes())
        paths.append(outdir / f"{name}.xpt")
    return paths
