"""Bounded fuzzing of the annotation reader (issue 11).

Generated CSV files — valid and broken rows, odd line endings, byte order marks,
quoted line breaks, huge cells, markup, reserved or repeated column names — are
either read into a checked table (sizes finite and within the limit, lines
increasing) that the RECIST engine evaluates, or refused with an AnnotationError
naming the file; never another exception. Derandomized, fixed budget (a few seconds
in CI); ``RECIST_FUZZ_EXAMPLES=N`` runs a larger randomized campaign.
"""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from recist_tool.annotations import COLUMNS, MAX_SIZE_MM, read_annotations
from recist_tool.errors import AnnotationError, RecistError
from recist_tool.response import evaluate
from tests.recist_tool.fuzzing import budget

BUDGET = budget(150)

ODD = ["", " ", "[/]", "[bold]x", "é", "😀", '"', ",", "\n", "\r", "a\r\nb", "NaN", "inf",
       "-0", "1e3", "0001-01-01", "9999-12-31", "2024-02-30", "x" * 300, "\x00"]  # fmt: skip
# Cells of valid rows, and other values a cell sometimes gets instead.
VALID = {
    "patient_id": ["P1", "P2", "P/1", "P_1"],
    "timepoint": ["baseline", "3mo", "6mo"],
    "lesion_id": ["L1", "L2", "N1"],
    "organ": ["liver", "lung", "lymph node", "bone"],
}
DATES = {"baseline": "2024-01-01", "3mo": "2024-04-01", "6mo": "2024-07-01"}
STATUS = {"target": ["measured"] * 4 + ["too_small", "disappeared"],
          "non_target": ["present", "absent", "progression"], "new": ["present"]}  # fmt: skip
OTHER = {
    "date": ["2024-13-01", "20240101", "0001-01-01", "9999-12-31"],
    "kind": ["Target", "targett"],
    "nodal": ["0", "yes", "maybe"],
    "long_axis_mm": ["0", "2000", "2000.5", "1e12", "-3", "9300000000000", "", ".5", "1."],
    "short_axis_mm": ["17.5", "-1", "abc"],
    "status": ["measured", "absent", "equivocal"],
}


def valid_row(draw) -> dict[str, str]:
    r = {k: draw(st.sampled_from(v)) for k, v in VALID.items()}
    r["date"] = DATES[r["timepoint"]]
    r["kind"] = "target" if r["timepoint"] == "baseline" else draw(st.sampled_from(list(STATUS)))
    r["status"] = draw(st.sampled_from(STATUS[r["kind"]]))
    r["nodal"] = "true" if r["organ"] == "lymph node" else "false"
    measured = r["status"] == "measured"
    r["long_axis_mm"] = draw(st.sampled_from(["33.3", "12", "20.25"])) if measured else ""
    r["short_axis_mm"] = "12" if measured and r["nodal"] == "true" else ""
    r["treatment_date"] = "2024-01-10"
    return r


@st.composite
def csv_files(draw) -> bytes:
    cols = list(COLUMNS)
    if draw(st.booleans()):
        cols = draw(st.permutations(cols))
    extras = draw(st.lists(st.sampled_from(["note", "reader", "treatment_date", "[b]"] * 4
                                           + ["_line", "_source", "", "kind"]),
                           max_size=2))  # fmt: skip
    cols = cols + extras
    if draw(st.integers(0, 30)) == 0:
        cols.remove(draw(st.sampled_from(list(COLUMNS))))  # a required column missing
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        base = valid_row(draw)
        row = []
        for c in cols:
            v = base.get(c, draw(st.sampled_from(["", "x", "1.5"])))
            if draw(st.integers(0, 40)) == 0:
                v = draw(st.sampled_from(OTHER.get(c, []) + ODD))
            row.append(v)
        if draw(st.integers(0, 30)) == 0:
            row = row[:-1]  # a short row
        rows.append(row)

    def cell(v: str) -> str:
        if any(ch in v for ch in ',"\r\n') or draw(st.integers(0, 9)) == 0:
            return '"' + v.replace('"', '""') + '"'
        return v

    nl = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [",".join(cell(c) for c in cols)] + [",".join(cell(v) for v in r) for r in rows]
    if draw(st.integers(0, 5)) == 0 and len(lines) > 1:
        lines.insert(draw(st.integers(1, len(lines))), "")  # a blank line
    text = nl.join(lines) + (nl if draw(st.booleans()) else "")
    data = text.encode("utf-8")
    if draw(st.integers(0, 5)) == 0:
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 20)) == 0:
        data = data.replace(b"liver", b"\xff\xfe", 1)  # not UTF-8
    if draw(st.integers(0, 20)) == 0:
        data += b"P1,baseline,2024-01-01,L9,target,liver,false,1,,measured,big:" + b"z" * 2_500_000
    return data


def test_reader_reads_or_refuses_clearly(tmp_path):
    seen = {"read": 0, "refused": 0}

    @BUDGET
    @given(data=csv_files())
    def check(data):
        f = tmp_path / "fuzz.csv"
        f.write_bytes(data)
        try:
            frame = read_annotations(f)
        except AnnotationError as exc:
            assert str(f) in str(exc) or "bad annotation input" in str(exc)
            seen["refused"] += 1
            return
        seen["read"] += 1
        for c in ("long_axis_mm", "short_axis_mm"):
            v = frame[c].to_numpy(float)
            ok = v[~np.isnan(v)]
            assert ((ok >= 0) & (ok <= MAX_SIZE_MM)).all()
        lines = frame["_line"].to_numpy()
        assert (np.diff(lines) > 0).all() and (lines >= 2).all()
        assert (frame["patient_id"].astype(str).str.strip() != "").all()
        with contextlib.suppress(RecistError):  # errors are messages, never tracebacks
            evaluate(frame)

    check()
    assert seen["read"] > 10 and seen["refused"] > 10, seen
