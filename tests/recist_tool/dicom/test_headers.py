"""The fast header reader agrees with pydicom on every file it accepts."""

from __future__ import annotations

import dataclasses
import glob
import os
import warnings

import numpy as np
import pydicom
import pytest

from recist_tool.dicom.fastheader import read_fast
from recist_tool.dicom.headers import read_header


def _files(series_dir) -> list[str]:
    files = [
        f
        for f in glob.glob(os.path.join(os.path.dirname(pydicom.__file__), "data", "**", "*"),
                           recursive=True)
        if os.path.isfile(f)
    ]  # fmt: skip
    try:
        import data_store

        files += glob.glob(os.path.join(os.path.dirname(data_store.__file__), "data", "*"))
    except ImportError:
        pass
    for name, kw in {
        "h-implicit": {"transfer_syntax": "implicit"},
        "h-rle": {"transfer_syntax": "rle"},
        "h-pad": {"signed": True, "bits_stored": 16, "padding_value": -2000},
        "h-scout": {"scout": True, "extra_files": True},
        "h-tilt": {"tilt_deg": 12.0},
    }.items():
        folder = series_dir(name, shape=(3, 16, 16), **kw)
        files += sorted(str(p) for p in folder.iterdir())
    return files


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.allclose(a, b)
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b)
    return a == b


def test_fast_and_pydicom_headers_agree(series_dir):
    compared = fast_used = 0
    for f in _files(series_dir):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                slow = read_header(f, fast=False)
            except Exception:
                continue  # damaged for pydicom: nothing to compare
            try:
                fast = read_header(f, fast=True)
            except Exception as exc:  # the fast reader may only fail where pydicom does
                pytest.fail(f"{f}: fast reader failed ({exc}) where pydicom read it")
        assert (fast is None) == (slow is None), f
        if fast is None:
            continue
        with open(f, "rb") as fh:
            fast_used += read_fast(fh) is not None
        da, db = dataclasses.asdict(fast), dataclasses.asdict(slow)
        for key in da:
            if key == "frames":
                for fa, fb in zip(da[key], db[key], strict=True):
                    for k in fa:
                        assert _same(fa[k], fb[k]), (f, k, fa[k], fb[k])
            else:
                assert _same(da[key], db[key]), (f, key, da[key], db[key])
        compared += 1
    assert compared > 60 and fast_used > 40


def test_fast_reader_declines_what_it_does_not_handle(series_dir):
    mf = series_dir("h-multiframe", shape=(3, 16, 16), multiframe=True)
    defl = series_dir("h-deflated", shape=(3, 16, 16), transfer_syntax="deflated")
    for folder in (mf, defl):
        f = next(folder.iterdir())
        with open(f, "rb") as fh:
            assert read_fast(fh) is None
        assert read_header(str(f)) is not None  # pydicom takes over


def test_truncated_header_is_an_error(tmp_path, series_dir):
    src = next(series_dir("h-implicit", shape=(3, 16, 16), transfer_syntax="implicit").iterdir())
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(src.read_bytes()[:600])
    with pytest.raises((EOFError, ValueError)):
        read_header(str(cut))
