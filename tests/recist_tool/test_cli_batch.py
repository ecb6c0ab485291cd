"""``recist-tool batch`` on real files: outputs, and every bad-input case.

The command is run as a user runs it (a subprocess of the installed console
script), so exit codes and messages are the real ones.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

HEADER = "patient_id,timepoint,date,lesion_id,kind,organ,nodal,long_axis_mm,short_axis_mm,status"
GOOD = [
    "P1,baseline,2024-01-01,L1,target,liver,false,33.3,,measured",
    "P1,baseline,2024-01-01,N1,target,lymph node,true,25,17,measured",
    "P1,baseline,2024-01-01,T1,non_target,bone,false,,,present",
    "P1,3mo,2024-04-01,L1,target,liver,false,15,,measured",
    "P1,3mo,2024-04-01,N1,target,lymph node,true,20,12,measured",
    "P1,3mo,2024-04-01,T1,non_target,bone,false,,,present",
    "P2,baseline,2024-02-01,L1,target,lung,false,20,,measured",
    "P2,8wk,2024-03-28,L1,target,lung,false,25,,measured",
]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("recist-tool")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def write(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_batch_writes_the_three_tables_and_settings(tmp_path):
    src = write(tmp_path / "a.csv", GOOD)
    out = tmp_path / "out"
    r = run("batch", str(src), "-o", str(out), "--confirm", "--sd-min-days", "35")
    assert r.returncode == 0, r.stderr
    tps = read_csv(out / "timepoints.csv")
    assert list(tps[0]) == [
        "patient_id",
        "timepoint",
        "date",
        "days_from_baseline",
        "days_from_reference",
        "sum_mm",
        "nadir_mm",
        "change_from_baseline_pct",
        "change_from_nadir_pct",
        "target_response",
        "target_response_strict",
        "non_target_response",
        "new_lesions",
        "overall_response",
        "reason",
    ]
    p1 = [t for t in tps if t["patient_id"] == "P1"]
    # 33.3 + 17 = 50.3 -> 15 + 12 = 27: -46.3 %; NT present -> PR overall.
    assert p1[1]["sum_mm"] == "27" and p1[1]["change_from_baseline_pct"] == "-46.3"
    assert (p1[1]["target_response"], p1[1]["non_target_response"]) == ("PR", "NON-CR/NON-PD")
    assert p1[1]["overall_response"] == "PR"
    pts = {p["patient_id"]: p for p in read_csv(out / "patients.csv")}
    # Confirmation required and no second scan: PR unconfirmed -> SD (91 d >= 35 d).
    assert pts["P1"]["best_overall_response"] == "SD"
    assert pts["P2"]["best_overall_response"] == "PD"
    assert (pts["P2"]["progression_date"], pts["P2"]["pfs_days"]) == ("2024-03-28", "56")
    settings = json.loads((out / "settings.json").read_text())["settings"]
    assert settings["confirm"] is True and settings["sd_min_days"] == 35
    assert read_csv(out / "messages.csv") == []
    assert "RECIST 1.1 response, 2 patient(s)" in r.stdout


def test_batch_reads_folders_and_several_files(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    write(tmp_path / "in" / "p1.csv", GOOD[:6])
    write(tmp_path / "in" / "sub" / "p2.csv", GOOD[6:])
    r = run("batch", str(tmp_path / "in"), "-o", str(tmp_path / "o1"), "-q")
    assert r.returncode == 0, r.stderr
    r = run(
        "batch",
        str(tmp_path / "in" / "p1.csv"),
        str(tmp_path / "in" / "sub" / "p2.csv"),
        "-o",
        str(tmp_path / "o2"),
        "-q",
    )
    assert r.returncode == 0, r.stderr
    a = (tmp_path / "o1" / "patients.csv").read_text()
    assert a == (tmp_path / "o2" / "patients.csv").read_text()
    assert a.count("\n") == 3


def test_strict_exits_1_and_writes_messages(tmp_path):
    src = write(
        tmp_path / "a.csv",
        [
            "P1,baseline,2024-01-01,L1,target,liver,false,8,,measured",
            "P1,3mo,2024-04-01,L1,target,liver,false,8,,measured",
        ],
    )
    r = run("batch", str(src), "-o", str(tmp_path / "o"), "--strict", "-q")
    assert r.returncode == 1
    msgs = read_csv(tmp_path / "o" / "messages.csv")
    assert [(m["severity"], m["rule"], m["lesion_id"]) for m in msgs] == [
        ("error", "measurable_size", "L1")
    ]


def test_extra_columns_are_carried_not_rejected(tmp_path):
    header = HEADER + ",reader,my_note"
    src = write(tmp_path / "a.csv", [g + ",dr a,x" for g in GOOD], header=header)
    assert run("batch", str(src), "-o", str(tmp_path / "o"), "-q").returncode == 0


BAD = [
    # (name, lines, header, expected fragments of the message)
    ("missing column", GOOD[:1], HEADER.replace(",organ", ""), ["line 1", "organ"]),
    (
        "unknown kind",
        [GOOD[0].replace("target", "tumour")],
        HEADER,
        ["line 2", "column kind", "'tumour'"],
    ),
    (
        "unknown status",
        [GOOD[0].replace("measured", "shrunk")],
        HEADER,
        ["line 2", "column status", "'shrunk'"],
    ),
    (
        "status of another kind",
        [GOOD[2].replace("present", "measured")],
        HEADER,
        ["line 2", "column status", "non_target"],
    ),
    (
        "negative size",
        [GOOD[0].replace("33.3", "-33.3")],
        HEADER,
        ["line 2", "column long_axis_mm", "'-33.3'", "negative"],
    ),
    (
        "non-numeric size",
        [GOOD[0], GOOD[1].replace(",17,", ",1 7,")],
        HEADER,
        ["line 3", "column short_axis_mm", "'1 7'", "not a number"],
    ),
    (
        "bad date",
        [GOOD[0].replace("2024-01-01", "01/02/2024")],
        HEADER,
        ["line 2", "column date", "'01/02/2024'"],
    ),
    (
        "impossible date",
        [GOOD[0].replace("2024-01-01", "2024-02-30")],
        HEADER,
        ["line 2", "column date", "'2024-02-30'"],
    ),
    (
        "bad nodal flag",
        [GOOD[0].replace("false", "nope")],
        HEADER,
        ["line 2", "column nodal", "'nope'"],
    ),
    (
        "same lesion twice at a time point",
        [GOOD[0], GOOD[1], GOOD[0]],
        HEADER,
        ["line 4", "lesion L1", "twice", "line 2"],
    ),
    (
        "measured node without short axis",
        [GOOD[1].replace(",17,", ",,")],
        HEADER,
        ["line 2", "short_axis_mm", "nodal target"],
    ),
    (
        "kind changes between time points",
        [GOOD[0], GOOD[3].replace("target", "non_target").replace("measured", "present")],
        HEADER,
        ["line 3", "column kind", "was target", "line 2"],
    ),
    (
        "target first seen at follow-up",
        [GOOD[0], GOOD[4]],
        HEADER,
        ["line 3", "lesion N1", "first appears at follow-up"],
    ),
    (
        "new lesion at baseline",
        [GOOD[0].replace("target", "new").replace("measured", "present")],
        HEADER,
        ["line 2", "new at the baseline"],
    ),
    (
        "wrong number of fields",
        [GOOD[0], GOOD[1] + ",extra"],
        HEADER,
        ["line 3", "expected 10 fields"],
    ),
    (
        "empty patient id",
        [GOOD[0].replace("P1", "", 1)],
        HEADER,
        ["line 2", "column patient_id", "empty"],
    ),
    (
        "two time points on one date",
        [GOOD[0], GOOD[3].replace("2024-04-01", "2024-01-01")],
        HEADER,
        ["same date", "'baseline'", "'3mo'"],
    ),
]


@pytest.mark.parametrize(("name", "lines", "header", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_line_column_value(tmp_path, name, lines, header, expected):
    src = write(tmp_path / "bad.csv", lines, header=header)
    out = tmp_path / "out"
    r = run("batch", str(src), "-o", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(src) in r.stderr
    for fragment in expected:
        assert fragment in r.stderr, (fragment, r.stderr)
    assert "Traceback" not in r.stderr
    assert not out.exists()  # no partial output


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text(HEADER + "\n" + GOOD[0] + "\n\n" + GOOD[1].replace("17", "x") + "\n")
    r = run("batch", str(src), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "line 4" in r.stderr, r.stderr


def test_unreadable_and_missing_inputs(tmp_path):
    r = run("batch", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "no such file" in r.stderr
    (tmp_path / "empty").mkdir()
    r = run("batch", str(tmp_path / "empty"), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "holds no .csv" in r.stderr
    binary = tmp_path / "bin.csv"
    binary.write_bytes(HEADER.encode() + b"\n\xff\xfe\x00garbage\n")
    r = run("batch", str(binary), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "not UTF-8" in r.stderr, r.stderr


def test_a_file_with_a_header_and_no_row_is_refused_as_every_command_refuses_it(tmp_path):
    """An empty reading (a header, then blank lines or nothing) is not a cohort of 0
    patients: batch said "0 patient(s)" and exit 0, and in a folder passed over it."""
    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / "a.csv", GOOD)
    empty = tmp_path / "in" / "b.csv"
    empty.write_text(HEADER + "\n\n\n", encoding="utf-8")
    expected = "b.csv: no rows after the header: an empty reading"
    r = run("batch", str(empty), "-o", str(tmp_path / "o1"), "-q")
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o1").exists()
    r = run("batch", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "-q")
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    # --keep-going leaves it out and says so (exit 1); the other file's patients are
    # evaluated
    r = run("batch", str(tmp_path / "in"), "-o", str(tmp_path / "o3"), "-q", "--keep-going")
    assert r.returncode == 1, r.stderr
    msgs = read_csv(tmp_path / "o3" / "messages.csv")
    assert [(m["severity"], m["rule"]) for m in msgs] == [("error", "input_error")]
    assert expected in msgs[0]["message"]
    assert len(read_csv(tmp_path / "o3" / "patients.csv")) == 2
    # a Parquet file without rows alike (from its metadata)
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = HEADER.split(",")
    empty_pq = tmp_path / "none.parquet"
    pq.write_table(pa.table({n: pa.array([], pa.string()) for n in names}), empty_pq)
    r = run("batch", str(empty_pq), "-o", str(tmp_path / "o4"), "-q")
    assert r.returncode == 2 and "none.parquet: no rows: an empty reading" in r.stderr, r.stderr


def test_existing_outputs_survive_a_failed_run(tmp_path):
    good = write(tmp_path / "good.csv", GOOD)
    out = tmp_path / "out"
    assert run("batch", str(good), "-o", str(out), "-q").returncode == 0
    before = (out / "patients.csv").read_bytes()
    bad = write(tmp_path / "bad.csv", [GOOD[0].replace("33.3", "-1")])
    assert run("batch", str(bad), "-o", str(out), "-q").returncode == 2
    assert (out / "patients.csv").read_bytes() == before


def test_help_lists_the_settings():
    r = run("batch", "--help")
    assert r.returncode == 0
    for opt in ("--confirm", "--confirm-days", "--sd-min-days", "--strict-pr", "--strict"):
        assert opt in r.stdout


def test_user_text_prints_as_typed(tmp_path):
    """Patient IDs and paths with rich markup ("[/]", "[bold]") are printed verbatim."""
    rows = [r.replace("P1,", "[/],", 1).replace("P2,", "[bold]x,", 1) for r in GOOD]
    src = write(tmp_path / "[red]a.csv", rows)
    out = tmp_path / "o[/]"
    r = run("batch", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    titles = [line.split(":")[0] for line in r.stdout.splitlines() if "response per time" in line]
    assert titles == ["[/]", "[bold]x"], r.stdout  # one table per patient, titled as typed
    assert f"results in {out}/" in r.stdout


def test_blanks_after_the_header_are_refused_without_scanning_them(tmp_path, monkeypatch):
    """300 MB of empty lines after a header were scanned line by line (2.3 GB peak,
    14 s) before batch said "an empty reading"; the file is now searched in place for
    anything but blanks first, and the scanner never runs."""
    from recist_tool import partition
    from recist_tool.errors import AnnotationError

    src = tmp_path / "blank.csv"
    src.write_bytes(HEADER.encode() + b"\n" + b"\n \r\n\t" * 200_000)

    def no_scan(*a, **k):
        raise AssertionError("the blank lines were scanned")

    monkeypatch.setattr(partition, "blocks", no_scan)
    with pytest.raises(AnnotationError, match=r"blank\.csv: no rows after the header"):
        partition.index_cohort([src])
