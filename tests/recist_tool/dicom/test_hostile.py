"""Hostile headers: bounded memory, a named error naming the file, never a traceback.

Each case is a file of a small generated series with one attribute set to a value
that cannot be trusted (the fuzzing campaign of issue 11 found each of them).
"""

from __future__ import annotations

import os
import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

from recist_tool.dicom import (
    AssumedSpacingWarning,
    InvalidHeaderError,
    NoDicomFoundError,
    SkippedFileWarning,
    UnreadableFileError,
    load_series,
    scan,
)
from recist_tool.dicom import headers as H
from recist_tool.dicom.headers import read_header
from tests.recist_tool.cli_helpers import run_cli

SHAPE = (3, 16, 16)


def _mutate(src: Path, dst: Path, which: str = "all", **attrs) -> Path:
    """Copy the series ``src`` to ``dst`` with ``attrs`` set in every file (or the first)."""
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(src.iterdir())
    for i, f in enumerate(files):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about the invalid values
            ds = pydicom.dcmread(f)
            if which == "all" or i == 0:
                for k, v in attrs.items():
                    if v is None:
                        del ds[k]
                    else:
                        setattr(ds, k, v)
            ds.save_as(dst / f.name)
    return dst


def _error_of(folder: Path) -> str:
    """The message of the RecistError that loading ``folder`` raises (the same when
    it is opened streaming, as the plugin does: every check runs before it returns)."""
    messages = []
    for stream in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises((InvalidHeaderError, NoDicomFoundError, UnreadableFileError)) as exc:
                load_series(folder, stream=stream)
        messages.append(str(exc.value))
    assert messages[0] == messages[1], messages
    return messages[0]


@pytest.fixture(scope="module")
def src(series_dir):
    return series_dir("hostile-src", shape=SHAPE)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"NumberOfFrames": 2147483647}, "NumberOfFrames 2147483647 is outside"),
        ({"NumberOfFrames": -3}, "NumberOfFrames -3 is outside"),
        ({"NumberOfFrames": 0}, "NumberOfFrames 0 is outside"),
        ({"Rows": 0}, "Rows × Columns 0 × 16"),
        ({"Columns": 0}, "Rows × Columns 16 × 0"),
        ({"RescaleIntercept": "NaN"}, "RescaleIntercept [nan] is not a finite number"),
        ({"RescaleIntercept": "inf"}, "RescaleIntercept [inf]"),
        ({"RescaleSlope": "NaN"}, "RescaleSlope [nan] is not a finite, non-zero"),
        ({"RescaleSlope": "-inf"}, "RescaleSlope [-inf]"),
        ({"RescaleSlope": "0"}, "RescaleSlope [0]"),
        ({"PixelSpacing": [-0.5, 0.5]}, "PixelSpacing [-0.5, 0.5] is not two positive"),
        ({"PixelSpacing": [0, 0]}, "PixelSpacing [0, 0]"),
        ({"PixelSpacing": ["NaN", "1"]}, "PixelSpacing [nan, 1]"),
        ({"PixelSpacing": ["inf", "1"]}, "PixelSpacing [inf, 1]"),
        ({"ImageOrientationPatient": [0, 0, 0, 0, 0, 0]}, "not two perpendicular unit vectors"),
        ({"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]}, "cos angle 1"),
        ({"ImageOrientationPatient": [2, 0, 0, 0, 2, 0]}, "|row| 2"),
        ({"ImagePositionPatient": ["NaN", 0, 0]}, "ImagePositionPatient [nan, 0, 0]"),
        ({"BitsAllocated": 1}, "BitsAllocated 1"),
        ({"BitsAllocated": 8, "BitsStored": 8}, "Pixel Data holds 512 bytes but"),
        ({"PhotometricInterpretation": "RGB"}, "PhotometricInterpretation RGB"),
        ({"PhotometricInterpretation": "PALETTE COLOR"}, "PALETTE COLOR"),
        ({"SamplesPerPixel": 3}, "SamplesPerPixel 3"),
    ],
    ids=lambda v: "-".join(f"{k}={v}" for k, v in v.items()) if isinstance(v, dict) else None,
)
def test_untrusted_header_is_a_named_error(src, tmp_path, attrs, expected):
    folder = _mutate(src, tmp_path / "s", **attrs)
    msg = _error_of(folder)
    assert expected in msg, msg
    assert os.path.join(str(folder), sorted(os.listdir(folder))[0]) in msg  # names the file
    # the command line says the same, exit code 2, no traceback
    code, err = run_cli(["dicom", "info", str(folder)])
    assert code == 2 and err.startswith("error: ") and expected in err, err


def test_one_bad_file_is_skipped_with_a_warning_naming_it(src, tmp_path):
    """A series with one untrusted slice: left out loudly, never silently."""
    folder = _mutate(src, tmp_path / "s", which="first", NumberOfFrames=-1)
    bad = sorted(os.listdir(folder))[0]
    with pytest.warns(SkippedFileWarning, match=f"{bad}: NumberOfFrames -1"):
        vol = load_series(folder)
    assert vol.shape[0] == SHAPE[0] - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (info,) = scan(folder)
    assert any(u.startswith(f"{bad}: NumberOfFrames -1") for u in info.unreadable)


def test_missing_pixel_spacing_warns(src, tmp_path):
    folder = _mutate(src, tmp_path / "s", PixelSpacing=None)
    with pytest.warns(AssumedSpacingWarning, match="no PixelSpacing"):
        vol = load_series(folder)
    assert vol.spacing_zyx[1:] == (1.0, 1.0)


def test_slightly_off_unit_orientation_is_accepted(src, tmp_path):
    """Cosines written with few decimals (|v| = 0.9999) are still one volume."""
    folder = _mutate(src, tmp_path / "s", ImageOrientationPatient=[0.9999, 0, 0, 0, 1, 0])
    vol = load_series(folder)
    assert vol.direction[0] == pytest.approx(1.0)


def _peak_mib(fn) -> tuple[float, object]:
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 2**20, out


@pytest.mark.parametrize("frames", [1_000_000, 2_147_483_647])
def test_huge_frame_count_costs_no_memory(src, tmp_path, frames):
    """A 3 KB file claiming 2³¹ - 1 frames used to build an object per frame (OOM)."""
    folder = _mutate(src, tmp_path / "s", which="first", NumberOfFrames=frames)
    size = sum(p.stat().st_size for p in folder.iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peak, series = _peak_mib(lambda: scan(folder))
    assert peak < 2 and peak * 2**20 < 200 * size, peak  # proportional to the bytes on disk
    assert "NumberOfFrames" in series[0].unreadable[0]


def test_rle_claiming_a_huge_image_is_refused_before_decoding(series_dir, tmp_path):
    rle = series_dir("hostile-rle", shape=SHAPE, transfer_syntax="rle")
    big = _mutate(rle, tmp_path / "big", Rows=65535, Columns=65535)
    assert "each must be 1 … 16384" in _error_of(big)
    # within the size limit, but far more than 64 × the RLE bytes can decode to
    wide = _mutate(rle, tmp_path / "wide", Rows=16000, Columns=16000)
    peak, msg = _peak_mib(lambda: _error_of(wide))
    assert "RLE data of" in msg and peak < 5


def _with_bogus_length(src_file: Path, dst: Path, length: int) -> Path:
    """Insert a private OB element whose length field claims ``length`` bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(src_file)
        ds.add_new(0x00091010, "LO", "X")  # private creator (not needed by readers)
        ds.add_new(0x00091011, "OB", b"ABCDEFGH")
        ds.save_as(dst)
    data = bytearray(dst.read_bytes())
    i = data.index(b"\x09\x00\x11\x10OB\x00\x00")
    data[i + 8 : i + 12] = struct.pack("<I", length)
    dst.write_bytes(bytes(data))
    return dst


def test_bogus_element_length_asks_for_no_buffer(src, tmp_path):
    f = _with_bogus_length(next(iter(sorted(src.iterdir()))), tmp_path / "x.dcm", 0xFFFFFFF0)

    def read():
        try:
            return read_header(str(f))
        except Exception as exc:  # damaged: either reader may say so
            return exc

    peak, _ = _peak_mib(read)
    assert peak < 5, peak


def test_deflate_bomb_is_refused(tmp_path, monkeypatch, series_dir):
    src = sorted(series_dir("hostile-src", shape=SHAPE).iterdir())[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(src)
        ds.Rows = ds.Columns = 2048
        ds.PixelData = bytes(2048 * 2048 * 2)  # 8 MiB of zeros: a few KB deflated
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(tmp_path / "bomb.dcm", enforce_file_format=True)
    size = (tmp_path / "bomb.dcm").stat().st_size
    assert size < 100_000
    monkeypatch.setattr(H, "INFLATE_FLOOR", 1 << 20)  # the shipped floor is 256 MiB
    with pytest.raises(InvalidHeaderError, match="inflates to more than"):
        read_header(str(tmp_path / "bomb.dcm"))


def test_huge_volume_is_refused_before_allocation(src, monkeypatch):
    from recist_tool.dicom import VolumeTooLargeError
    from recist_tool.dicom import load as L

    monkeypatch.setattr(L, "_physical_memory", lambda: 1000)
    with pytest.raises(VolumeTooLargeError, match=r"3 × 16 × 16 int16\), more than"):
        load_series(src)


def test_loaded_volume_is_finite(src):
    vol = load_series(src)
    assert np.all(np.isfinite(vol.spacing_zyx)) and np.all(np.isfinite(vol.direction))


def test_dicom_text_prints_as_typed(src, tmp_path):
    folder = _mutate(src, tmp_path / "s", SeriesDescription="[/]x [bold]", PatientID="[/]")
    code, err, out = run_cli(["dicom", "ls", str(folder)], stdout=True)
    assert code == 0 and "Traceback" not in err, err
    assert "[/]x [bold]" in out and "│ [/]" in out, out
