"""Voxel index <-> LPS conversions of :class:`Volume` (scalar and vectorised)."""

from __future__ import annotations

import numpy as np
import pytest

from recist_tool.dicom import Volume


def oblique_volume() -> Volume:
    a = np.radians(20)
    row = np.array([np.cos(a), np.sin(a), 0.0])
    col = np.array([0.0, np.cos(0.3), -np.sin(0.3)])
    col -= row * (row @ col)
    col /= np.linalg.norm(col)
    normal = np.cross(row, col)
    d = np.column_stack([row, col, normal])
    return Volume(
        array=np.zeros((4, 5, 6), np.int16),
        spacing_zyx=(2.5, 0.8, 0.7),
        origin_lps=(-10.0, 20.0, 30.0),
        direction=tuple(d.ravel()),
    )


def test_index_to_lps_follows_dicom_definition():
    v = oblique_volume()
    d = v.direction_matrix
    row, col, normal = d[:, 0], d[:, 1], d[:, 2]
    z, y, x = 3, 2, 5
    expected = np.array(v.origin_lps) + x * 0.7 * row + y * 0.8 * col + z * 2.5 * normal
    np.testing.assert_allclose(v.index_to_lps((z, y, x)), expected)


def test_roundtrip_vectorised():
    v = oblique_volume()
    rng = np.random.default_rng(0)
    idx = rng.uniform(0, 5, size=(7, 11, 3))
    lps = v.index_to_lps(idx)
    assert lps.shape == (7, 11, 3)
    np.testing.assert_allclose(v.lps_to_index(lps), idx, atol=1e-9)


def test_matches_simpleitk_transform():
    sitk = pytest.importorskip("SimpleITK")
    v = oblique_volume()
    img = sitk.GetImageFromArray(v.array)
    img.SetSpacing(v.spacing_zyx[::-1])
    img.SetOrigin(v.origin_lps)
    img.SetDirection(v.direction)
    for zyx in [(0, 0, 0), (1.5, 2.25, 3.75), (3, 4, 5)]:
        ours = v.index_to_lps(zyx)
        theirs = img.TransformContinuousIndexToPhysicalPoint(tuple(float(i) for i in zyx[::-1]))
        np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_properties():
    v = oblique_volume()
    assert (v.rows, v.columns, v.pixel_spacing) == (5, 6, (0.8, 0.7))
    assert v.shape == (4, 5, 6)
    np.testing.assert_allclose(v.slice_position(2), v.index_to_lps((2, 0, 0)))
    assert "shape=(4, 5, 6)" in repr(v)
