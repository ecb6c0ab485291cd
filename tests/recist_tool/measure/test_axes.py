"""Caliper geometry: maximum Feret diameter and the longest perpendicular, exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.measure import regionprops

from recist_tool.measure.axes import feret_max, mask_polygons, planar_axes


def ellipse(a, b, angle, n=720, centre=(3.0, -2.0)):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.column_stack((centre[0] + c * x - s * y, centre[1] + s * x + c * y))


@pytest.mark.parametrize("angle", [0.0, 0.4, 1.3])
def test_ellipse_axes_are_its_diameters(angle):
    ax = planar_axes([ellipse(20.0, 11.0, angle)])
    assert ax.long_mm == pytest.approx(40.0, abs=1e-6)
    assert ax.short_mm == pytest.approx(22.0, abs=1e-3)
    u = (ax.long_p2 - ax.long_p1) / ax.long_mm
    v = (ax.short_p2 - ax.short_p1) / ax.short_mm
    assert abs(u @ v) < 1e-9  # perpendicular
    assert np.linalg.norm(ax.long_p2 - ax.long_p1) == pytest.approx(ax.long_mm)


def test_rectangle_and_l_shape_exact():
    rect = np.array([[0, 0], [30, 0], [30, 10], [0, 10]], float)
    ax = planar_axes([rect])
    assert ax.long_mm == pytest.approx(math.hypot(30, 10))
    # every chord perpendicular to the diagonal through the middle part is 10·√10/3
    assert ax.short_mm == pytest.approx(10 * math.sqrt(10) / 3)
    # L shape: long axis tip to tip; the perpendicular lines cross an arm: 10·√2
    ell = np.array([[0, 0], [40, 0], [40, 10], [10, 10], [10, 40], [0, 40]], float)
    ax = planar_axes([ell])
    assert ax.long_mm == pytest.approx(40 * math.sqrt(2))
    assert {tuple(ax.long_p1), tuple(ax.long_p2)} == {(40.0, 0.0), (0.0, 40.0)}
    assert ax.short_mm == pytest.approx(10 * math.sqrt(2))
    assert abs((ax.short_p2 - ax.short_p1) @ (ax.long_p2 - ax.long_p1)) < 1e-6


def test_two_islands_are_measured_across():
    a = ellipse(5, 5, 0, centre=(0, 0))
    b = ellipse(5, 5, 0, centre=(30, 0))
    assert feret_max([a, b])[0] == pytest.approx(40.0, abs=1e-3)


def test_mask_outline_matches_scikit_image_feret():
    """On a fine mask our outline's Feret diameter agrees with scikit-image's
    ``feret_diameter_max`` (a peer) within a pixel; a moment ellipse does not."""
    yy, xx = np.mgrid[-30:30:0.1, -30:30:0.1]
    u = xx * math.cos(0.5) + yy * math.sin(0.5)
    v = -xx * math.sin(0.5) + yy * math.cos(0.5)
    # a dumbbell: two lobes joined by a neck
    m = ((u - 14) ** 2 + v**2 <= 49) | ((u + 14) ** 2 + v**2 <= 49) | ((abs(u) < 14) & (abs(v) < 2))
    ours = planar_axes(mask_polygons(m, (0.1, 0.1))).long_mm
    assert ours == pytest.approx(42.0, abs=0.1)
    props = regionprops(m.astype(int))[0]
    assert ours == pytest.approx(props.feret_diameter_max * 0.1, abs=0.1)
    assert abs(props.axis_major_length * 0.1 - ours) > 1.0  # moment ellipse ≠ caliper


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=3, max_size=40))
def test_feret_is_the_largest_pairwise_distance(points):
    pts = np.array(points, float)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max()
    assert feret_max([pts])[0] == pytest.approx(d, rel=1e-9, abs=1e-9)
