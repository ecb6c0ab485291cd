"""Mean attenuation of a hand-drawn measurement: a circular ROI on its long axis.

Choi's criteria need a lesion's mean HU at every time point. An assisted measurement
has it from its segmentation (:attr:`recist_tool.measure.Proposal.mean_hu`); for a
line drawn by hand, :func:`line_roi_mean_hu` takes the mean of a circle centred on
the long axis' midpoint, on the line's slice: its diameter is the short axis when one
is given, else half the long axis (inside the lesion for axis ratios up to 2), less
an edge margin (no partial volume with fat or lung).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recist_tool.errors import RecistError

#: Margin (mm) kept from the lesion's edge, as for a proposal's ``mean_hu``.
EDGE_MARGIN_MM = 1.5


class RoiError(RecistError):
    """The line is not inside the series or not on one slice."""


def line_roi_mean_hu(
    volume: Any,
    long_axis_lps: Any,
    short_axis_mm: float | None = None,
    *,
    margin_mm: float = EDGE_MARGIN_MM,
) -> float:
    """Mean HU of a circular ROI on a long axis line.

    Parameters
    ----------
    volume : recist_tool.dicom.Volume
        The series the line was drawn on (``array``, ``spacing_zyx``, ``lps_to_index``).
    long_axis_lps : pair of points
        The two end points (patient LPS, mm) of the long axis.
    short_axis_mm : float, optional
        The short axis length when drawn (the ROI's diameter before the margin).
    margin_mm : float
        Distance kept from the edge the diameter implies.

    Returns
    -------
    float
        Mean of the voxels whose centres are inside the circle (at least the voxel
        under the midpoint), unrounded.

    Raises
    ------
    RoiError
        When the line is degenerate or its midpoint lies outside the series.
    """
    ends = np.asarray(long_axis_lps, float)
    if ends.shape != (2, 3) or not np.all(np.isfinite(ends)):
        raise RoiError(f"long axis {long_axis_lps!r} is not two LPS points")
    length = float(np.linalg.norm(ends[1] - ends[0]))
    if length <= 0:
        raise RoiError("the long axis has no length")
    idx = np.asarray(volume.lps_to_index(ends.mean(axis=0)), float)
    shape = np.shape(volume.array)
    k = int(np.rint(idx[0]))
    if not (0 <= k < shape[0] and 0 <= idx[1] <= shape[1] - 1 and 0 <= idx[2] <= shape[2] - 1):
        raise RoiError(f"the long axis' midpoint {tuple(np.round(ends.mean(0), 1))} is outside")
    diameter = float(short_axis_mm) if short_axis_mm else length / 2.0
    radius = max(diameter / 2.0 - margin_mm, 0.0)
    sy, sx = float(volume.spacing_zyx[1]), float(volume.spacing_zyx[2])
    ry, rx = int(np.ceil(radius / sy)) + 1, int(np.ceil(radius / sx)) + 1
    y0, y1 = max(int(np.floor(idx[1])) - ry, 0), min(int(np.ceil(idx[1])) + ry + 1, shape[1])
    x0, x1 = max(int(np.floor(idx[2])) - rx, 0), min(int(np.ceil(idx[2])) + rx + 1, shape[2])
    patch = np.asarray(volume.array[k, y0:y1, x0:x1], float)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d2 = ((yy - idx[1]) * sy) ** 2 + ((xx - idx[2]) * sx) ** 2
    inside = d2 <= radius**2
    if not inside.any():  # smaller than a voxel: the voxel under the midpoint
        inside = d2 == d2.min()
    return float(patch[inside].mean())


__all__ = ["EDGE_MARGIN_MM", "RoiError", "line_roi_mean_hu"]
