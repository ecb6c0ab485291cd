"""Damaged SRs (issue 11): skipped with a message naming the file, the rest imported.

pydicom parses values lazily, so damage inside the content tree used to raise while
the tree was walked, outside the ``try`` around ``dcmread``, and one bad file
aborted a whole folder. Also fuzzed (bounded, derandomized): a mutated SR is
imported — into annotation rows the reader accepts — or named as damaged.
"""

from __future__ import annotations

import shutil

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from recist_tool.annotations import read_annotations, write_annotations
from recist_tool.errors import AnnotationError
from recist_tool.export.sr_import import DamagedSRError, SRImportError, read_srs, to_frame
from tests.recist_tool.cli_helpers import run_cli
from tests.recist_tool.fuzzing import budget


def _items(ds):
    """Every content item of an SR, depth first."""
    for item in ds.get("ContentSequence", []) or []:
        yield item
        yield from _items(item)


def _nums(ds):
    """The long and short axis measurements."""
    return [
        i
        for i in _items(ds)
        if i.get("ValueType") == "NUM"
        and i.ConceptNameCodeSequence[0].CodeValue in ("103339001", "103340004")
    ]


def _scoords(ds):
    return [i for i in _items(ds) if i.get("ValueType") == "SCOORD"]


def _damage(kind: str, ds) -> None:
    if kind == "no NumericValue":
        del _nums(ds)[0].MeasuredValueSequence[0].NumericValue
    elif kind == "text NumericValue":
        mv = _nums(ds)[0].MeasuredValueSequence[0]
        mv["NumericValue"] = RawDataElement(Tag(0x0040A30A), "DS", 4, b"abc ", 0, False, True)
    elif kind == "no ReferencedSOPInstanceUID":
        for sc in _scoords(ds):
            for child in sc.ContentSequence:
                del child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    elif kind == "SCOORD of 3 values":
        _scoords(ds)[0].GraphicData = [1.0, 2.0, 3.0]
    elif kind == "unknown VR":
        mv = _nums(ds)[0].MeasuredValueSequence[0]
        mv._dict[Tag(0x0040A30A)] = RawDataElement(Tag(0x0040A30A), "QQ", 2, b"12", 0, False, True)
    elif kind == "NaN size":
        _nums(ds)[0].MeasuredValueSequence[0].NumericValue = "NaN"
    else:
        raise AssertionError(kind)


KINDS = [
    "no NumericValue",
    "text NumericValue",
    "no ReferencedSOPInstanceUID",
    "SCOORD of 3 values",
    "unknown VR",
    "NaN size",
]


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_sr_is_skipped_and_named(sample_srs, tmp_path, kind):
    folder = tmp_path / "srs"
    folder.mkdir()
    good = shutil.copy(sample_srs[1], folder / "good.dcm")
    ds = pydicom.dcmread(sample_srs[0])
    _damage(kind, ds)
    bad = folder / "bad.dcm"
    ds.save_as(bad)
    with pytest.raises(DamagedSRError, match=r"bad\.dcm"):
        read_srs([folder])  # without a list to fill: an error naming the file
    damaged: list[str] = []
    lesions = read_srs([folder], damaged=damaged)
    assert {le.source for le in lesions} == {str(good)}
    assert len(damaged) == 1 and damaged[0].startswith(str(bad))
    # the command imports the rest, names the file, exits 1
    out = tmp_path / "imported.csv"
    code, err = run_cli(["import", "sr", str(folder), "-o", str(out)])
    assert code == 1 and f"skipped {bad}" in err and "Traceback" not in err, err
    assert set(read_annotations(out)["timepoint"]) == {"followup"}


def test_only_damaged_files_is_an_error(sample_srs, tmp_path):
    ds = pydicom.dcmread(sample_srs[0])
    _damage("no NumericValue", ds)
    ds.save_as(tmp_path / "bad.dcm")
    code, err = run_cli(["import", "sr", str(tmp_path), "-o", str(tmp_path / "x.csv")])
    assert code == 2 and "skipped 1 damaged SR" in err and "bad.dcm" in err, err
    assert not (tmp_path / "x.csv").exists()


BUDGET = budget(120)


def test_fuzzed_srs_import_or_are_named_damaged(sample_srs, tmp_path):
    data = sample_srs[0].read_bytes()
    seen = {"imported": 0, "damaged": 0}
    # mutations in the content tree (after the fixed header attributes)
    start = data.index(b"\x40\x00\x30\xa7")  # (0040,A730) ContentSequence

    @BUDGET
    @given(
        edits=st.lists(
            st.tuples(st.integers(start, len(data) - 1), st.integers(0, 255)),
            min_size=1,
            max_size=6,
        ),
        cut=st.one_of(st.none(), st.integers(start, len(data))),
    )
    def check(edits, cut):
        b = bytearray(data)
        for pos, value in edits:
            b[pos] = value
        if cut is not None:
            del b[cut:]
        f = tmp_path / "in" / "x.dcm"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(bytes(b))
        damaged: list[str] = []
        try:
            lesions = read_srs([f.parent], damaged=damaged)
        except SRImportError as exc:
            assert str(f.parent) in str(exc)  # names the file, or the folder with no SR left
            seen["damaged"] += 1
            return
        seen["imported"] += 1
        out = tmp_path / "out.csv"
        write_annotations(to_frame(lesions), out)
        try:
            read_annotations(out)
        except AnnotationError as exc:  # a value the SR holds but the format refuses
            raise AssertionError(f"imported rows are not valid annotations: {exc}") from exc

    check()
    assert seen["imported"] > 10 and seen["damaged"] > 10, seen


_RAW = [b"", b"abc ", b"NaN ", b"-1", b"1e9 ", b"\x00\x00", b"1\\2 ", b"99RCST", b"M "]


def test_fuzzed_content_items_import_or_are_named_damaged(sample_srs, tmp_path):
    """Structured damage: an element of a content item deleted or given another value."""
    base = pydicom.dcmread(sample_srs[0])
    n_items = len(list(_items(base)))

    @BUDGET
    @given(
        edits=st.lists(
            st.tuples(
                st.integers(0, n_items - 1),
                st.integers(0, 40),
                st.one_of(st.none(), st.sampled_from(_RAW)),
                st.booleans(),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def check(edits):
        ds = pydicom.dcmread(sample_srs[0])
        items = list(_items(ds))
        for i, k, raw, deep in edits:
            item = items[i]
            if deep:  # inside a code or value sequence of the item
                try:
                    seqs = [e.value[0] for e in item if e.VR == "SQ" and len(e.value)]
                except Exception:
                    seqs = []  # an earlier edit damaged this item already
                item = seqs[k % len(seqs)] if seqs else item
            tags = list(item.keys())
            if not tags:
                continue
            tag = tags[k % len(tags)]
            if raw is None:
                del item[tag]
            else:
                vr = "UN" if k % 5 == 0 else (item._dict[tag].VR or "UN")
                vr = "LO" if vr == "SQ" else vr
                item._dict[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
        f = tmp_path / "in" / "x.dcm"
        f.parent.mkdir(exist_ok=True)
        try:
            ds.save_as(f)
        except Exception:
            return  # pydicom cannot even write it
        damaged: list[str] = []
        try:
            lesions = read_srs([f.parent], damaged=damaged)
        except SRImportError as exc:
            assert str(f.parent) in str(exc)
            return
        out = tmp_path / "out.csv"
        write_annotations(to_frame(lesions), out)
        read_annotations(out)  # imported rows are valid annotations

    check()
