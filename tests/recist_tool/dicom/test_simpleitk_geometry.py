"""Geometry equals SimpleITK's (spacing, origin, direction within 1e-4) on every
generated series SimpleITK reads correctly, in any orientation and syntax."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recist_tool.dicom import LocalizerDroppedWarning, load_series

sitk = pytest.importorskip("SimpleITK")

A, B = math.radians(25), math.radians(10)
ORIENTATIONS = {
    "axial": None,
    "coronal": (1, 0, 0, 0, 0, -1),
    "sagittal": (0, 1, 0, 0, 0, -1),
    "oblique": (
        math.cos(A), math.sin(A), 0.0,
        -math.sin(A) * math.cos(B), math.cos(A) * math.cos(B), -math.sin(B),
    ),
}  # fmt: skip


def read_sitk(folder):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same(vol, image):
    np.testing.assert_allclose(vol.spacing_zyx[::-1], image.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(vol.origin_lps, image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.direction, image.GetDirection(), atol=1e-4)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(image))


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_orientations(series_dir, name):
    folder = series_dir(f"orient-{name}", orientation=ORIENTATIONS[name], shape=(12, 48, 48))
    assert_same(load_series(folder), read_sitk(folder))


@pytest.mark.parametrize("syntax", ["rle", "jpeg2000", "jpegls", "jpeg_lossless", "implicit"])
def test_syntaxes(series_dir, syntax):
    folder = series_dir(f"sitk-{syntax}", transfer_syntax=syntax, shape=(8, 48, 48))
    assert_same(load_series(folder), read_sitk(folder))


@pytest.mark.parametrize("step", [0.625, 1.25, 3.0])
def test_slice_steps(series_dir, step):
    folder = series_dir(f"step-{step}", slice_spacing=step, shape=(10, 32, 32))
    vol = load_series(folder)
    assert vol.spacing_zyx[0] == pytest.approx(step)
    assert_same(vol, read_sitk(folder))


def test_where_simpleitk_is_wrong_we_are_right(series_dir):
    """Scout inside the series: SimpleITK turns the volume; we drop the scout."""
    folder = series_dir("sitk-scout", scout=True, shape=(12, 48, 48))
    clean = series_dir("sitk-clean", shape=(12, 48, 48))
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    try:
        wrong = read_sitk(folder)
        right = read_sitk(clean)
    finally:
        sitk.ProcessObject_SetGlobalWarningDisplay(True)
    assert wrong.GetDirection() != pytest.approx(right.GetDirection(), abs=1e-4) or (
        wrong.GetSize() != right.GetSize()
    )
    with pytest.warns(LocalizerDroppedWarning, match="ImageType LOCALIZER"):
        vol = load_series(folder)
    assert_same(vol, right)
