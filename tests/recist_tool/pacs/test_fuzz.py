"""Bounded fuzzing of the PACS parsers: hostile input gives a PacsError or a problem
text, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from recist_tool.pacs import PacsError, date_range
from recist_tool.pacs.cache import check_bytes
from recist_tool.synth.phantom import write_series

# an RLE file (pydicom path) and an uncompressed one (the fast header reader's path)
RLE_FILE = next((Path(__file__).resolve().parents[3] / "sample_dicom" / "baseline").glob("*"))
_TMP = tempfile.mkdtemp(prefix="recist-fuzz-")
NATIVE_FILE = Path(write_series(_TMP, shape=(1, 16, 16), transfer_syntax="explicit").files[0])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_date_range_never_crashes(text):
    try:
        out = date_range(text)
    except PacsError as exc:
        assert "study date" in str(exc)
    else:
        assert out is None or all(c.isdigit() or c == "-" for c in out)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([RLE_FILE, NATIVE_FILE]),
    st.integers(0, 3000),
    st.binary(min_size=0, max_size=64),
    st.integers(0, 2000),
)
@example(RLE_FILE, 0, b"\x00", 945)  # a VR byte zeroed: pydicom fails lazily, on access
def test_damaged_instances_are_a_problem_not_a_crash(path, cut, junk, at):
    data = bytearray(path.read_bytes())
    data[at : at + len(junk)] = junk
    data = bytes(data[: len(data) - cut])
    problem = check_bytes(data, None, "2.25.1", "2.25.2")  # wrong UIDs on purpose
    assert isinstance(problem, str) and problem
