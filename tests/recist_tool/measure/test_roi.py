"""The circular ROI mean of a hand-drawn long axis (Choi's mean HU for manual lines)."""

from __future__ import annotations

import numpy as np
import pytest

from recist_tool.dicom import Volume
from recist_tool.measure import RoiError, line_roi_mean_hu


def _volume(arr: np.ndarray, spacing=(5.0, 0.8, 0.8)) -> Volume:
    return Volume(
        array=arr,
        spacing_zyx=spacing,
        origin_lps=(-100.0, -80.0, 10.0),
        direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
    )


def _ellipse_scene(a_mm=20.0, b_mm=10.0, inside=60, outside=-100, noise=0.0, seed=0):
    """A 2:1 elliptic lesion of ``inside`` HU in ``outside`` tissue on slice 3."""
    rng = np.random.default_rng(seed)
    arr = np.full((7, 120, 120), outside, np.float32)
    yy, xx = np.mgrid[0:120, 0:120]
    cy, cx, sp = 60.0, 55.0, 0.8
    lesion = ((xx - cx) * sp / a_mm) ** 2 + ((yy - cy) * sp / b_mm) ** 2 <= 1
    arr[3][lesion] = inside
    arr += rng.normal(0, noise, arr.shape).astype(np.float32) if noise else 0
    vol = _volume(arr)
    ends = vol.index_to_lps([[3, cy, cx - a_mm / sp], [3, cy, cx + a_mm / sp]])
    return vol, ends


def test_mean_of_a_uniform_lesion_is_exact_and_excludes_the_surroundings():
    vol, ends = _ellipse_scene()
    # long axis 40 mm, no short axis: circle of diameter 20 mm less the margin, inside
    assert line_roi_mean_hu(vol, ends) == pytest.approx(60.0)
    # with the drawn short axis (20 mm) the circle is still inside
    assert line_roi_mean_hu(vol, ends, short_axis_mm=20.0) == pytest.approx(60.0)
    # a short axis larger than the lesion takes fat in: the mean drops
    assert line_roi_mean_hu(vol, ends, short_axis_mm=40.0) < 30.0


def test_mean_under_noise_is_close_to_the_truth():
    vol, ends = _ellipse_scene(noise=15.0, seed=3)
    assert abs(line_roi_mean_hu(vol, ends) - 60.0) < 2.5


def test_a_tiny_line_takes_the_voxel_under_its_midpoint():
    arr = np.zeros((3, 20, 20), np.int16)
    arr[1, 10, 10] = 42
    vol = _volume(arr)
    ends = vol.index_to_lps([[1, 10, 9.6], [1, 10, 10.4]])
    assert line_roi_mean_hu(vol, ends) == 42.0


def test_bad_lines_are_errors():
    vol, ends = _ellipse_scene()
    with pytest.raises(RoiError, match="no length"):
        line_roi_mean_hu(vol, [ends[0], ends[0]])
    with pytest.raises(RoiError, match="outside"):
        line_roi_mean_hu(vol, ends + np.array([0, 0, 500.0]))
    with pytest.raises(RoiError, match="two LPS points"):
        line_roi_mean_hu(vol, [(0, 0)])
