"""The one-pass record scanner: the rows pyarrow parses, on the lines an editor shows."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.csv as pacsv
from hypothesis import given, settings
from hypothesis import strategies as st

from recist_tool._csvscan import blocks, record_lines

FIELD = st.text(alphabet="ab ,\"\n\r'x", max_size=6)
ROW = st.lists(FIELD, min_size=3, max_size=3)
ENDING = st.sampled_from(["\n", "\r\n", "\r"])


def _field(f: str) -> str:
    """RFC 4180: quoted (quotes doubled) when it holds a comma, a quote or a line break."""
    return '"' + f.replace('"', '""') + '"' if any(c in f for c in ',"\r\n') else f


def _text(rows, endings, blanks) -> str:
    out = []
    for row, end, blank in zip(rows, endings, blanks, strict=False):
        if all(f == "" for f in row):
            row = ["", "", "z"]  # a row of empty fields only is an empty line to csv.reader
        out.append(",".join(_field(f) for f in row) + end)
        if blank:
            out.append(end)  # an empty line: no row
    return "".join(out)


def _editor_lines(text: str) -> list[int]:
    """Line of each non-empty record by the csv module (\\n, \\r\\n and \\r end lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out, line = [], 1
    for row in reader:
        if row:
            out.append(line)
        line = reader.line_num + 1
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(ROW, min_size=1, max_size=12),
    st.lists(ENDING, min_size=12, max_size=12),
    st.lists(st.booleans(), min_size=12, max_size=12),
    st.booleans(),
    st.integers(4, 64),
)
def test_scanner_matches_csv_module_and_pyarrow(rows, endings, blanks, final_newline, block):
    text = _text(rows, endings, blanks)
    if not final_newline:
        text = text.rstrip("\r\n")
    data = text.encode()
    lines = record_lines(data, 0, len(data), first_line=1)
    assert lines.tolist() == _editor_lines(text)
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=["a", "b", "c"]),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys("abc", pa.string())),
    )
    assert table.num_rows == len(lines)
    # Small blocks (records cut at any byte) give the same records.
    starts, line = [], 1
    for pos, rec in blocks(data, 0, len(data), block, 1 << 20):
        starts += (rec.starts + pos).tolist()
        line += rec.breaks
    assert len(starts) == len(lines)
    assert starts == sorted(set(starts))
