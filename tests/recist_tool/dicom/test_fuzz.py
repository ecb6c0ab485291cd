"""Bounded fuzzing of the DICOM header readers and the loader (issue 11).

* The fast header reader against pydicom: on every mutated file both give the same
  header, or at least one of them refuses it — a file never loads with an answer
  the other reader would not give.
* The loader: a mutated series either loads into a volume with finite geometry
  and values, or raises a :class:`~recist_tool.errors.RecistError` (a message, exit
  code 2); no other exception, no unbounded memory.

The budgets are fixed and derandomized (the same examples every run, ~10 s on the
2-core CI machine). Set ``RECIST_FUZZ_EXAMPLES`` to run a larger, randomized
campaign locally, e.g. ``RECIST_FUZZ_EXAMPLES=20000 pytest tests/recist_tool/dicom/test_fuzz.py``.
"""

from __future__ import annotations

import dataclasses
import struct
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recist_tool.dicom import load_series
from recist_tool.dicom.fastheader import TAGS
from recist_tool.dicom.headers import read_header
from recist_tool.errors import RecistError
from tests.recist_tool.fuzzing import budget

_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


@dataclasses.dataclass
class Element:
    tag: int
    start: int  # offset of the tag
    header: int  # 8 or 12
    length: int
    implicit: bool


def elements(data: bytes) -> list[Element]:
    """Top-level elements of a little-endian Part-10 file, up to Pixel Data."""
    pos, implicit, out = 132, False, []
    while pos + 8 <= len(data):
        g, e = struct.unpack_from("<HH", data, pos)
        tag = (g << 16) | e
        imp = implicit and g != 2
        if imp:
            length, hdr = struct.unpack_from("<I", data, pos + 4)[0], 8
        elif data[pos + 4 : pos + 6] in _LONG:
            length, hdr = struct.unpack_from("<I", data, pos + 8)[0], 12
        else:
            length, hdr = struct.unpack_from("<H", data, pos + 6)[0], 8
        if length == 0xFFFFFFFF or tag == 0x7FE00010:
            break
        if tag == 0x00020010:
            implicit = data[pos + hdr : pos + hdr + length].rstrip(b"\0 ") == b"1.2.840.10008.1.2"
        out.append(Element(tag, pos, hdr, length, imp))
        pos += hdr + length
    return out


@pytest.fixture(scope="module")
def seeds(series_dir) -> list[tuple[bytes, list[Element]]]:
    files = [
        sorted(series_dir(f"fuzz-{ts}", shape=(2, 16, 16), transfer_syntax=ts).iterdir())[0]
        for ts in ("explicit", "implicit", "rle")
    ]
    files.append(Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm")
    out = []
    for f in files:
        data = f.read_bytes()
        out.append((data, elements(data)))
    return out


_VALUES = [b"", b"0", b"1", b"-1", b"3", b"NaN", b"inf", b"-inf", b"1e999", b"1.5", b"-0",
           b"2147483647", b"4294967296", b"1\\2", b"\\", b" 1 ", b"\x001", b"1\x00x", b"CT",
           b"ct", b"RGB", b"PALETTE COLOR", b"1.2.840.10008.5.1.4.1.1.2",
           b"1.2.840.10008.5.1.4.1.1.88.33", b"\xff\xfe", b"\xc3\xa9", b"1\\0\\0\\0\\1\\0",
           b"0\\0\\0\\0\\0\\0", b"1\\0\\0\\1\\0\\0", b"-5\\5", b"\x00\x00", b"\x01\x00",
           b"\x03\x00", b"\xff\xff", b"\x10\x00\x00\x00"]  # fmt: skip
_VRS = [b"US", b"SS", b"UL", b"UN", b"OB", b"DS", b"IS", b"CS", b"UI", b"LO", b"xx", b"SQ"]
_WANTED = set(TAGS.values())


@st.composite
def mutated(draw, seeds) -> bytes:
    data, els = draw(st.sampled_from(seeds))
    b = bytearray(data)
    wanted = [e for e in els if e.tag in _WANTED and e.tag >> 16 != 2]
    e = draw(st.sampled_from(wanted if draw(st.booleans()) else els))
    kind = draw(st.sampled_from(["value", "value", "vr", "dup", "length", "bytes", "cut"]))
    if kind == "value":
        v = draw(st.one_of(st.sampled_from(_VALUES), st.binary(max_size=16)))
        if e.implicit or e.header == 12:
            head = b[e.start : e.start + e.header - 4] + struct.pack("<I", len(v))
        else:
            head = b[e.start : e.start + 6] + struct.pack("<H", len(v))
        b[e.start : e.start + e.header + e.length] = head + v
    elif kind == "vr" and not e.implicit:
        b[e.start + 4 : e.start + 6] = draw(st.sampled_from(_VRS))
    elif kind == "dup":
        b[e.start : e.start] = bytes(b[e.start : e.start + e.header + e.length])
    elif kind == "length":
        at = e.start + (4 if e.implicit else 8 if e.header == 12 else 6)
        size = 4 if e.implicit or e.header == 12 else 2
        n = draw(st.sampled_from([0xFFFFFFFF, 0xFFFFFFF0, 2**31, e.length + 2, e.length + 1]))
        b[at : at + size] = (n & (0xFFFF if size == 2 else 0xFFFFFFFF)).to_bytes(size, "little")
    elif kind == "bytes":
        end = els[-1].start + els[-1].header + els[-1].length
        for _ in range(draw(st.integers(1, 4))):
            b[draw(st.integers(132, end - 1))] = draw(st.integers(0, 255))
    else:
        del b[draw(st.integers(132, len(b) - 1)) :]
    return bytes(b)


def _outcome(path: str, fast: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read_header(path, fast=fast)
        except Exception as exc:  # a refusal; its kind does not matter here
            return exc


def _comparable(h) -> dict:
    d = dataclasses.asdict(h)
    d.pop("path")
    frames = d.pop("frames")
    d["frames"] = [
        {k: (None if v is None else np.asarray(v).tolist()) for k, v in f.items()} for f in frames
    ]
    return d


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "x.dcm"


def test_fast_reader_and_pydicom_agree_on_mutated_files(seeds, scratch):
    counts = {"agree": 0, "refused": 0}

    @budget(500)
    @given(data=st.data())
    def check(data):
        scratch.write_bytes(data.draw(mutated(seeds)))
        slow, fast = _outcome(str(scratch), False), _outcome(str(scratch), True)
        if isinstance(slow, Exception) or isinstance(fast, Exception):
            counts["refused"] += 1  # refusing is always safe
            return
        assert (slow is None) == (fast is None), (slow, fast)
        if slow is not None:
            assert _comparable(fast) == _comparable(slow)
        counts["agree"] += 1

    check()
    assert counts["agree"] > 50 and counts["refused"] > 50, counts  # both paths exercised


_LOADER_VALUES = {
    "NumberOfFrames": ["-1", "0", "2", "2147483647", "1.5", "x"],
    "Rows": [0, 1, 17, 65535],
    "Columns": [0, 15, 16000],
    "BitsAllocated": [1, 8, 32],
    "BitsStored": [0, 8, 17],
    "SamplesPerPixel": [0, 3],
    "PixelRepresentation": [1, 2],
    "PhotometricInterpretation": ["RGB", "PALETTE COLOR", "MONOCHROME1", "YBR_FULL"],
    "Modality": ["CT", "MR", "", "OT"],
    "RescaleSlope": ["0", "-1", "NaN", "inf", "1e-30", "1e30", "2"],
    "RescaleIntercept": ["NaN", "-inf", "1e30", "0.5", "-32768"],
    "PixelSpacing": [["0", "1"], ["-1", "1"], ["NaN", "1"], ["1"], ["1e-9", "1e-9"]],
    "ImageOrientationPatient": [
        ["0"] * 6,
        ["1", "0", "0", "1", "0", "0"],
        ["2", "0", "0", "0", "2", "0"],
        ["0.7071", "0.7071", "0", "-0.7071", "0.7071", "0"],
        ["1", "0", "0", "0", "0", "-1"],
    ],
    "ImagePositionPatient": [["NaN", "0", "0"], ["0", "0"], ["1e300", "0", "0"]],
    "SliceThickness": ["-1", "NaN", "0"],
    "WindowWidth": ["0", "-5", "NaN"],
    "PixelPaddingValue": [0, 65535],
    "ImageType": ["ORIGINAL\\PRIMARY\\LOCALIZER", "DERIVED"],
    "SOPClassUID": ["1.2.840.10008.5.1.4.1.1.88.33", "1.2.3"],
    "SeriesInstanceUID": ["", "1.2.3"],
    "InstanceNumber": ["-inf", "x", ""],
}


def set_raw(ds, keyword: str, value) -> None:
    """Store ``value`` as the element's raw bytes, valid or not (pydicom refuses to
    convert some of them; a file can hold anything)."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement

    tag = tag_for_keyword(keyword)
    vr = dictionary_VR(tag).split(" or ")[0]
    if vr == "US":
        raw = struct.pack("<H", int(value))
    else:
        raw = ("\\".join(value) if isinstance(value, list) else str(value)).encode()
        raw += b" " * (len(raw) % 2)
    ds._dict[pydicom.tag.Tag(tag)] = RawDataElement(
        pydicom.tag.Tag(tag), vr, len(raw), raw, 0, False, True
    )


def test_loader_gives_a_volume_or_a_named_error(series_dir, tmp_path):
    src = series_dir("fuzz-loader", shape=(3, 12, 12))
    originals = [pydicom.dcmread(f) for f in sorted(src.iterdir())]

    @budget(120)
    @given(
        which=st.sampled_from(["all", "first", "middle"]),
        changes=st.dictionaries(
            st.sampled_from(sorted(_LOADER_VALUES)),
            st.integers(0, 6),
            min_size=1,
            max_size=3,
        ),
    )
    def check(which, changes):
        folder = tmp_path / "s"
        folder.mkdir(exist_ok=True)
        for i, ds0 in enumerate(originals):
            ds = ds0.copy()
            if which == "all" or (which == "first" and i == 0) or (which == "middle" and i == 1):
                for kw, k in changes.items():
                    choices = _LOADER_VALUES[kw]
                    set_raw(ds, kw, choices[k % len(choices)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.save_as(folder / f"{i}.dcm")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                vol = load_series(folder)
            except RecistError as exc:
                assert str(exc)  # a message, shown without a traceback
                return
        assert all(np.isfinite(vol.spacing_zyx)) and min(vol.spacing_zyx) > 0
        assert all(np.isfinite(vol.direction)) and all(np.isfinite(vol.origin_lps))
        d = vol.direction_matrix
        np.testing.assert_allclose(d.T @ d, np.eye(3), atol=0.05)
        assert vol.array.ndim == 3 and vol.array.shape[1:] == (vol.rows, vol.columns)
        if vol.array.dtype.kind == "f":
            assert np.isfinite(vol.array).all()

    check()
