"""RECIST axes of a planar outline: maximum Feret diameter and the longest perpendicular.

Everything here works on outlines in millimetres in the plane of one axial slice,
as closed polygons ``(n, 2)`` (the sub-pixel contours :mod:`skimage.measure` finds,
or any polygon). Several polygons are one cross-section (a lesion cut in two islands
on that slice is measured across both).

- **Long axis**: the maximum Feret (caliper) diameter — the largest distance between
  two outline points, found on the convex hull (its end points lie on the outline).
- **Short axis**: the longest segment perpendicular to the long axis between the
  outermost crossings of a perpendicular line with the outline. The crossing width,
  as a function of the line's position, is convex between outline vertices, so its
  maximum lies on a line through a vertex: every vertex is tried, exactly.

A moment ellipse (scikit-image's ``axis_major_length``) is not a caliper measure and
is not used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Largest number of perpendicular lines evaluated in one block (bounds memory).
_BLOCK = 512


@dataclass(frozen=True)
class PlanarAxes:
    """Long and short axis of one outline, in the outline's millimetre coordinates.

    ``long_p1``/``long_p2`` and ``short_p1``/``short_p2`` are ``(2,)`` arrays; the
    short axis is ``None`` for a degenerate outline (a segment).
    """

    long_mm: float
    long_p1: np.ndarray
    long_p2: np.ndarray
    short_mm: float
    short_p1: np.ndarray
    short_p2: np.ndarray


def _points(polygons: Sequence[np.ndarray]) -> np.ndarray:
    pts = [np.asarray(p, dtype=float).reshape(-1, 2) for p in polygons if len(p)]
    if not pts:
        raise ValueError("no outline points")
    return np.concatenate(pts)


def _hull(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """The distinct outline points that can end a diameter: the convex hull's vertices
    (all points when they are collinear and have no hull)."""
    pts = np.unique(_points(polygons), axis=0)
    if len(pts) > 3:
        from scipy.spatial import ConvexHull, QhullError

        with contextlib.suppress(QhullError):
            return pts[ConvexHull(pts).vertices]
    return pts


def feret_max(polygons: Sequence[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    """Maximum Feret diameter of one or several polygons.

    Returns
    -------
    (length, p1, p2)
        The length and its two end points (outline vertices).
    """
    cand = _hull(polygons)
    if len(cand) == 1:
        return 0.0, cand[0], cand[0]
    d2 = ((cand[:, None, :] - cand[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    return float(np.sqrt(d2[i, j])), cand[i].copy(), cand[j].copy()


def _edges(polygons: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of every edge of the closed polygons."""
    a, b = [], []
    for p in polygons:
        p = np.asarray(p, dtype=float).reshape(-1, 2)
        if len(p) < 2:
            continue
        if np.allclose(p[0], p[-1]):
            p = p[:-1]
        a.append(p)
        b.append(np.roll(p, -1, axis=0))
    if not a:
        raise ValueError("no outline edges")
    return np.concatenate(a), np.concatenate(b)


def perpendicular_axis(
    polygons: Sequence[np.ndarray], p1: np.ndarray, p2: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Longest segment perpendicular to ``p1``–``p2`` across the outline.

    For each line perpendicular to the long axis, the segment between its outermost
    crossings with the outline; the longest over all such lines (exact: the width is
    convex between vertices, so one line through each vertex is tried).

    Returns
    -------
    (length, q1, q2)
    """
    a, b = _edges(polygons)
    d = np.asarray(p2, float) - np.asarray(p1, float)
    n = float(np.hypot(*d))
    if n == 0:
        return 0.0, np.asarray(p1, float), np.asarray(p1, float)
    u = d / n
    v = np.array([-u[1], u[0]])
    ta, tb = a @ u, b @ u
    sa, sb = a @ v, b @ v
    lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
    dt = tb - ta
    flat = np.abs(dt) < 1e-12
    slope = np.where(flat, 0.0, (sb - sa) / np.where(flat, 1.0, dt))
    cands = np.unique(ta)
    best = (-1.0, 0.0, 0.0, 0.0)  # width, t, s_min, s_max
    for start in range(0, len(cands), _BLOCK):
        t = cands[start : start + _BLOCK, None]
        hit = (lo[None, :] <= t) & (t <= hi[None, :])
        s = sa[None, :] + (t - ta[None, :]) * slope[None, :]
        # an edge lying along the line contributes both its ends
        s_end = np.where(flat[None, :], sb[None, :], s)
        smax = np.where(hit, np.maximum(s, s_end), -np.inf).max(axis=1)
        smin = np.where(hit, np.minimum(s, s_end), np.inf).min(axis=1)
        width = smax - smin
        width[~np.isfinite(width)] = -1.0
        k = int(np.argmax(width))
        if width[k] > best[0]:
            best = (float(width[k]), float(t[k, 0]), float(smin[k]), float(smax[k]))
    w, t, s0, s1 = best
    if w < 0:
        return 0.0, np.asarray(p1, float), np.asarray(p1, float)
    return w, t * u + s0 * v, t * u + s1 * v


def planar_axes(polygons: Sequence[np.ndarray]) -> PlanarAxes:
    """Long axis (maximum Feret diameter) and short axis (longest perpendicular) of
    an outline given as closed polygons in millimetres."""
    long_mm, p1, p2 = feret_max(polygons)
    short_mm, q1, q2 = perpendicular_axis(polygons, p1, p2)
    return PlanarAxes(long_mm, p1, p2, short_mm, q1, q2)


def mask_polygons(mask: np.ndarray, spacing_yx: tuple[float, float]) -> list[np.ndarray]:
    """Outline of a 2-D boolean mask as polygons in millimetres ``(x, y)``.

    The outline passes half-way between inside and outside pixel centres (marching
    squares on the mask at level 0.5), so on a fine mask it is within half a pixel
    of the true edge.
    """
    from skimage.measure import find_contours

    padded = np.pad(np.asarray(mask, dtype=np.float32), 1)
    contours = find_contours(padded, 0.5)
    sy, sx = spacing_yx
    return [np.column_stack(((c[:, 1] - 1) * sx, (c[:, 0] - 1) * sy)) for c in contours]
