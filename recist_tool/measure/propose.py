"""One click → a proposed RECIST measurement (:func:`propose`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recist_tool.errors import RecistError
from recist_tool.measure.axes import (
    PlanarAxes,
    feret_max,
    mask_polygons,
    perpendicular_axis,
    planar_axes,
)
from recist_tool.measure.crosscheck import watershed_outline
from recist_tool.measure.segment import (
    ALONE_LOW,
    MAX_RADIUS_MM,
    Segmentation,
    segment,
    slice_outline,
)

Point3 = tuple[float, float, float]

#: Below this confidence a proposal should be shown as doubtful (the reason is set).
LOW_CONFIDENCE = 0.5


class MeasureError(RecistError):
    """No proposal can be made (seed outside the volume, nothing lesion-like there)."""


@dataclass
class Proposal:
    """A proposed measurement of the lesion under a click.

    Attributes
    ----------
    long_axis_mm, short_axis_mm : float
        Maximum Feret diameter on the measured axial slice, and the longest chord
        perpendicular to it on that slice (mm, unrounded).
    long_axis_lps, short_axis_lps : pair of points
        End points (patient LPS, mm), exactly on the plane of ``slice_index``.
    slice_index : int
        The axial slice measured: the one with the largest long axis (for a node,
        ``nodal=True``: the largest short axis).
    volume_ml : float
        Volume of the segmentation, plus the lesion's share of the slices just beyond
        its first and last (its caps, too diluted there to be segmented; they matter on
        thick slices, see ``_cap_volume_ml``); ``details["caps_ml"]`` is that share.
    mask_volume_ml : float
        Volume of the segmentation alone (the mask's voxels; what a DICOM SEG of the
        mask holds).
    mean_hu : float
        Mean HU inside the segmentation, ~1.5 mm in from its edge in-plane (less for
        lesions too small for that), away from the partial volume of the edge.
    confidence : float
        0–1; below :data:`LOW_CONFIDENCE` the proposal is doubtful and ``reason``
        says why (``reason`` may also carry a milder note above it).
    reason : str
        Why the confidence is lowered ("" when nothing did).
    mask_crop, mask_offset
        The segmentation as a boolean array over a box of the volume and the index
        ``(z, y, x)`` of the box's first voxel; :attr:`mask` expands it.
    volume_shape : tuple of int
        Shape of the volume measured.
    outline_zyx : list of numpy.ndarray
        Sub-pixel outline on the measured slice: polygons ``(n, 3)`` of continuous
        voxel indices ``(z, y, x)`` (napari data coordinates).
    seed_lps : tuple of float
        The click.
    details : dict
        The segmentation's figures (levels, checks' margins, per-slice axes); with
        ``"measured_from_mm"`` when the lesion was measured from a point that far from
        the click (:func:`propose`).
    """

    long_axis_mm: float
    short_axis_mm: float
    long_axis_lps: tuple[Point3, Point3]
    short_axis_lps: tuple[Point3, Point3]
    slice_index: int
    volume_ml: float
    mean_hu: float
    confidence: float
    reason: str
    mask_crop: np.ndarray = field(repr=False)
    mask_offset: tuple[int, int, int] = (0, 0, 0)
    volume_shape: tuple[int, int, int] = (0, 0, 0)
    outline_zyx: list[np.ndarray] = field(default_factory=list, repr=False)
    seed_lps: Point3 = (0.0, 0.0, 0.0)
    details: dict[str, Any] = field(default_factory=dict, repr=False)
    mask_volume_ml: float = float("nan")

    @property
    def mask(self) -> np.ndarray:
        """The segmentation as a boolean array of the volume's shape."""
        out = np.zeros(self.volume_shape, dtype=bool)
        z, y, x = self.mask_offset
        dz, dy, dx = self.mask_crop.shape
        out[z : z + dz, y : y + dy, x : x + dx] = self.mask_crop
        return out

    @property
    def low_confidence(self) -> bool:
        """Whether the proposal should be shown as doubtful."""
        return self.confidence < LOW_CONFIDENCE


def _seed_index(volume, seed_lps) -> np.ndarray:
    try:
        seed = np.asarray(seed_lps, float)
    except (TypeError, ValueError):
        seed = np.array([])
    if seed.shape != (3,) or not np.all(np.isfinite(seed)):
        raise MeasureError(f"seed {seed_lps!r} is not a point (three LPS coordinates in mm)")
    idx = np.asarray(volume.lps_to_index(seed), float)
    k = np.rint(idx).astype(int)
    if np.any(k < 0) or np.any(k >= np.asarray(volume.shape)):
        raise MeasureError(
            f"seed {tuple(round(float(v), 1) for v in seed_lps)} (LPS mm) lies outside the "
            f"series (voxel {tuple(int(v) for v in k)} of {tuple(volume.shape)})"
        )
    return k


def _hint(volume, axis_hint, seed_lps):
    """(slice index or None, length mm, midpoint index) of the reader's rough line."""
    if axis_hint is None:
        return None
    try:
        pts = np.asarray(axis_hint, float)
    except (TypeError, ValueError):
        pts = np.array([])
    if pts.shape != (2, 3) or not np.all(np.isfinite(pts)):
        raise MeasureError("axis_hint must be two LPS points (2 × 3 numbers, mm)")
    mid = pts.mean(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        off = float(np.linalg.norm(mid - np.asarray(seed_lps, float)))
        length = float(np.linalg.norm(pts[1] - pts[0]))
    if not np.isfinite(length):
        raise MeasureError("axis_hint's two points are too far apart to be a line (mm)")
    if not off <= MAX_RADIUS_MM:
        raise MeasureError(
            f"axis_hint is centred {off:.0f} mm from the seed (LPS "
            f"{tuple(round(float(v), 1) for v in mid)}): the line drawn must cross the "
            f"lesion, within {MAX_RADIUS_MM:.0f} mm of the seed"
        )
    idx = volume.lps_to_index(pts)
    k = int(np.rint(idx[:, 0].mean()))
    return k, length, idx.mean(axis=0)


def propose(
    volume: Any,
    seed_lps: Sequence[float],
    *,
    axis_hint: Sequence[Sequence[float]] | None = None,
    nodal: bool = False,
) -> Proposal:
    """Propose the long and short axes of the lesion under a click.

    When nothing grows from the click, or what grows is doubtful (a click in the blur
    of a lesion's edge), the lesion is measured from the brightest or darkest point
    near the click whose region holds the click; that proposal is doubtful and its
    ``reason`` says from how far (``SNAP_MM`` and the rules beside it).

    Parameters
    ----------
    volume : recist_tool.dicom.Volume
        The CT series (HU).
    seed_lps : 3 floats
        A point inside the lesion (patient LPS, mm).
    axis_hint : two points, optional
        A rough line the reader drew (LPS, mm): it sizes the search, fixes the slice
        to measure (the one it was drawn on, when the lesion is there) and the
        confidence drops when the proposal disagrees with it.
    nodal : bool
        A lymph node: the slice measured is the one with the largest short axis
        (what RECIST counts for nodes).

    Returns
    -------
    Proposal

    Raises
    ------
    MeasureError
        When the seed is outside the volume, ``axis_hint`` is not two points or is
        centred more than :data:`~recist_tool.measure.segment.MAX_RADIUS_MM` from the
        seed, nothing lesion-like is there, or a float series has NaN or infinite
        voxels within the search box around it.
    """
    arr = np.asarray(volume.array)
    if arr.ndim != 3:
        raise MeasureError(f"expected a 3-D volume, got an array of shape {arr.shape}")
    spacing = np.asarray(volume.spacing_zyx, float)
    seed = _seed_index(volume, seed_lps)
    hint = _hint(volume, axis_hint, seed_lps)
    _check_finite(arr, seed, spacing)
    size_hint = hint[1] if hint else None
    seg = segment(arr, spacing, seed, size_hint_mm=size_hint)
    p = None
    if seg is not None and seg.region.any():
        p = _measure(volume, arr, spacing, seg, seed, hint, nodal, seed_lps)
        if not p.low_confidence:
            return p
    # nothing grew from the click, or what did is doubtful: the click may lie in the
    # blur of the lesion's edge; measured again from the lesion-like points near it:
    # the most confident of those that are confident on their own, else (nothing grew
    # from the click at all) the nearest region whatever its confidence
    tried = [
        (_measure(volume, arr, spacing, other, seed, hint, nodal, seed_lps), moved)
        for other, moved in _snapped(arr, spacing, seed, size_hint, seg)
    ]
    confident = [t for t in tried if not t[0].low_confidence]
    if confident:
        q, moved = max(confident, key=lambda t: t[0].confidence)
    elif p is None and tried:
        q, moved = tried[0]
    elif p is None:
        raise MeasureError(
            "no lesion found at the click: nothing of uniform density is connected to it"
        )
    else:
        return p
    # measured from another point than the click: the reader checks the outline
    note = (
        f"measured from a point {moved:.1f} mm from the click (the click lies in the blur "
        "of the lesion's edge, or nothing clear grew from it): check the outline"
    )
    q.reason = f"{note}; {q.reason}" if q.reason else note
    q.confidence = float(round(q.confidence * ALONE_LOW, 3))
    q.details["measured_from_mm"] = moved
    return q


#: A click from which nothing grows, or only a doubtful region, may sit in the blur of
#: a lesion's edge (a small nodule clicked off its centre, where partial volume puts
#: the voxels half-way between the nodule and the lung). The brightest and the darkest
#: point of the clicked slice within ``SNAP_MM`` of the click, on the slice blurred by
#: ``SNAP_BLUR_MM``, are tried in its place (not one inside the region the click grew);
#: a region found from one is taken only when it holds the click (within
#: ``SNAP_HOLD_MM``): the lesion clicked, never a neighbour. The proposal is then
#: doubtful (× ``ALONE_LOW``): it was not measured from where the reader clicked.
SNAP_MM = 5.0
SNAP_BLUR_MM = 1.5
SNAP_HOLD_MM = 1.0


def _snapped(
    arr: np.ndarray,
    spacing: np.ndarray,
    seed: np.ndarray,
    size_hint: float | None,
    first: Segmentation | None = None,
) -> list[tuple[Segmentation, float]]:
    """Segmentations from the points near the click that hold the click, nearest
    region first, with each point's distance (mm) from the click; a point inside the
    region ``first`` grew from the click is not tried (it grows the same region)."""
    from scipy import ndimage as ndi

    k = int(seed[0])
    r = np.ceil((SNAP_MM + 3.0 * SNAP_BLUR_MM) / spacing[1:]).astype(int)
    lo = np.maximum(seed[1:] - r, 0)
    hi = np.minimum(seed[1:] + r + 1, arr.shape[1:])
    sm = ndi.gaussian_filter(
        arr[k, lo[0] : hi[0], lo[1] : hi[1]].astype(np.float32), SNAP_BLUR_MM / spacing[1:]
    )
    yy, xx = np.indices(sm.shape)
    dist = np.hypot((yy + lo[0] - seed[1]) * spacing[1], (xx + lo[1] - seed[2]) * spacing[2])
    within = dist <= SNAP_MM
    found = []
    for extreme in (np.where(within, sm, -np.inf).argmax(), np.where(within, sm, np.inf).argmin()):
        iy, ix = np.unravel_index(int(extreme), sm.shape)
        cand = np.array([k, iy + lo[0], ix + lo[1]])
        if np.array_equal(cand, seed) or _click_to_region_mm(first, cand) == 0.0:
            continue
        seg = segment(arr, spacing, cand, size_hint_mm=size_hint)
        if seg is None or not seg.region.any():
            continue
        off = _click_to_region_mm(seg, seed)
        if off <= SNAP_HOLD_MM:
            found.append((off, seg, float(dist[iy, ix])))
    found.sort(key=lambda f: f[0])
    return [(seg, moved) for _, seg, moved in found]


def _click_to_region_mm(seg: Segmentation | None, seed: np.ndarray) -> float:
    """Distance (mm) in the clicked slice from voxel ``seed`` to the region (0 inside;
    infinite without a region on that slice)."""
    if seg is None:
        return math.inf
    rel = np.asarray(seed) - seg.offset
    if not 0 <= rel[0] < seg.region.shape[0]:
        return math.inf
    f = seg.factor
    pts = np.argwhere(seg.region[int(rel[0])])  # the segmentation's (coarse) grid
    if not len(pts):
        return math.inf
    # distance to the nearest region cell, 0 when the voxel lies in one
    gap = np.maximum(np.abs(pts * f + (f - 1) / 2 - rel[1:]) - max(f - 1, 0) / 2, 0)
    return float(np.min(np.hypot(*(gap * np.asarray(seg.spacing[1:]) / f).T)))


def _check_finite(arr: np.ndarray, seed: np.ndarray, spacing: np.ndarray) -> None:
    """A float series with NaN or infinite voxels within the largest search box
    around the click cannot be segmented: say where (integer series are always
    finite)."""
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    r = np.ceil(MAX_RADIUS_MM / np.maximum(spacing, 1e-6)).astype(int)
    lo = np.maximum(seed - r, 0)
    hi = np.minimum(seed + r + 1, arr.shape)
    box = arr[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    bad = ~np.isfinite(box)
    if bad.any():
        first = tuple(int(v) for v in np.argwhere(bad)[0] + lo)
        raise MeasureError(
            f"the series has {int(bad.sum())} voxels that are not numbers (NaN or "
            f"infinite) within {MAX_RADIUS_MM:.0f} mm of the click, the first at voxel "
            f"{first} (z, y, x): it cannot be segmented there"
        )


def _slice_axes(seg: Segmentation, k: int, full: bool):
    """Axes of the region on crop slice ``k`` (mm coordinates x = col·dx, y = row·dy
    of the segmentation's grid)."""
    polys = slice_outline(seg, k)
    if not polys:
        return None, polys
    dy, dx = seg.spacing[1], seg.spacing[2]
    mm = [np.column_stack((p[:, 1] * dx, p[:, 0] * dy)) for p in polys]
    long_mm, p1, p2 = feret_max(mm)
    if not full:
        return (long_mm, p1, p2), polys
    short_mm, q1, q2 = perpendicular_axis(mm, p1, p2)
    return PlanarAxes(long_mm, p1, p2, short_mm, q1, q2), polys


def _measure(volume, arr, spacing, seg: Segmentation, seed, hint, nodal, seed_lps) -> Proposal:
    off = seg.offset
    ks = np.nonzero(seg.region.any(axis=(1, 2)))[0]
    flags = list(seg.flags)
    per_slice: dict[int, tuple[float, float | None]] = {}
    best = None
    forced = None
    if hint is not None and hint[0] - off[0] in set(ks.tolist()):
        forced = hint[0] - off[0]
    for k in ks if forced is None else [forced]:
        ax, _ = _slice_axes(seg, int(k), full=nodal)
        if ax is None:
            continue
        if nodal:
            key = ax.short_mm
            per_slice[int(k) + int(off[0])] = (ax.long_mm, ax.short_mm)
        else:
            key = ax[0]
            per_slice[int(k) + int(off[0])] = (ax[0], None)
        if best is None or key > best[0]:
            best = (key, int(k))
    if best is None:
        raise MeasureError("no lesion found at the click: the segmentation has no outline")
    k = best[1]
    axes, polys = _slice_axes(seg, k, full=True)
    assert isinstance(axes, PlanarAxes)
    kz = int(k + off[0])
    dy, dx = seg.spacing[1], seg.spacing[2]

    def lps(p_mm):
        idx = seg.to_volume_index((float(k), p_mm[1] / dy, p_mm[0] / dx))
        return tuple(float(v) for v in volume.index_to_lps(idx))

    region = seg.full_region()
    mask_ml = float(region.sum()) * float(np.prod(spacing)) / 1000.0  # the volume's grid
    # the segmentation's own grid (finer on coarse pixels: the volume's grid rounds
    # each voxel in or out, +2.4 % median on 2 mm pixels)
    seg_ml = float(seg.region.sum()) * float(np.prod(seg.spacing)) / 1000.0
    caps_ml = _cap_volume_ml(arr, region, ks, off, spacing, seg.mu)
    volume_ml = seg_ml + caps_ml
    raw = arr[seg.box]
    inner = _inner(region, spacing)
    mean_hu = float(raw[inner].astype(np.float64).mean())
    # shape and size checks
    if axes.long_mm < 5.0:
        flags.append(
            (0.3, f"very small outline ({axes.long_mm:.1f} mm): is the click in a lesion?")
        )
    compactness = seg_ml * 1000.0 / (math.pi / 6.0 * max(axes.long_mm, 1e-3) ** 3)
    z_extent = (np.ptp(ks) + 1) * spacing[0]
    if z_extent > 2.5 * max(axes.long_mm, 5.0):
        flags.append(
            (
                0.3,
                f"the outline runs {z_extent:.0f} mm across slices for a "
                f"{axes.long_mm:.0f} mm lesion: probably a vessel or a leak",
            )
        )
    elong = _elongation(seg.region, seg.spacing)
    if elong > 2.6:
        flags.append(
            (
                0.3,
                f"the outline is {elong:.1f} times longer than wide in 3-D: probably a "
                "vessel or a leak",
            )
        )
    flags += _fragile_edge_flags(seg)
    stability, stability_flags = _threshold_stability(seg, k, axes)
    flags += stability_flags
    cross, cross_flags = _crosscheck(seg, k, axes)
    flags += cross_flags
    if forced is None:
        flags += _slice_tie_flags(seg, k, axes, per_slice, nodal)
    if hint is not None and hint[1] > 0:
        ratio = axes.long_mm / hint[1]
        if not 0.6 <= ratio <= 1.6:
            flags.append(
                (
                    ALONE_LOW,
                    f"the proposal ({axes.long_mm:.0f} mm) differs from the line drawn "
                    f"({hint[1]:.0f} mm)",
                )
            )
    confidence = 1.0
    reasons = []
    for factor, why in sorted(flags, key=lambda f: f[0]):
        confidence *= factor
        reasons.append(why)
    outline = [seg.to_volume_index(np.column_stack((np.full(len(p), float(k)), p))) for p in polys]
    return Proposal(
        long_axis_mm=float(axes.long_mm),
        short_axis_mm=float(axes.short_mm),
        long_axis_lps=(lps(axes.long_p1), lps(axes.long_p2)),
        short_axis_lps=(lps(axes.short_p1), lps(axes.short_p2)),
        slice_index=kz,
        volume_ml=volume_ml,
        mean_hu=mean_hu,
        confidence=float(round(confidence, 3)),
        reason="; ".join(reasons),
        mask_crop=region,
        mask_offset=tuple(int(v) for v in off),
        volume_shape=tuple(int(v) for v in arr.shape),
        outline_zyx=outline,
        seed_lps=tuple(float(v) for v in seed_lps),
        mask_volume_ml=mask_ml,
        details={
            "lesion_hu": seg.mu,
            "noise_hu": seg.noise_hu,
            "tissues_hu": seg.info.get("levels", []),
            "segmentation": seg.info,
            "per_slice": per_slice,
            "caps_ml": caps_ml,
            "compactness": compactness,
            "elongation": elong,
            "grid_factor": seg.factor,
            "crosscheck": cross,
            "stability": stability,
        },
    )


#: Slice tie: another slice whose key axis (the long axis; for a node the short
#: axis) is within this much (mm) of the measured one — about the noise of a
#: per-slice axis (the median |long-axis error| is ~0.4 mm) — ...
TIE_KEY_MM = 0.5
#: ... but whose other axis differs by more than this (mm: the accuracy asked of
#: an axis) makes that axis depend on which of two equal slices is taken: a
#: coin toss between two answers a tolerance apart, so the proposal is doubtful.
TIE_OTHER_MM = 2.5
TIE_FACTOR = 0.45
#: Cross-check: the second outline (:func:`~recist_tool.measure.crosscheck.
#: watershed_outline`, the strongest edges) measured on the same slice; an axis
#: more than this (mm, the accuracy asked of an axis) apart from the proposal's
#: makes it doubtful.
CROSSCHECK_MM = 2.5
CROSSCHECK_FACTOR = 0.45
#: Fragile edge: for a small lesion (inscribed radius below ``FRAGILE_RADIUS_MM``),
#: thresholds ``FRAGILE_LOOSEN`` times as far from the lesion's level (30 % closer
#: to the tissue around) that grow the connected region more than
#: ``FRAGILE_GROWTH`` times mean that its edge holds by a thin margin.
FRAGILE_RADIUS_MM = 4.5
FRAGILE_LOOSEN = 1.3
FRAGILE_GROWTH = 8.0


def _slice_tie_flags(
    seg: Segmentation, k: int, axes: PlanarAxes, per_slice, nodal: bool = False
) -> list:
    """Doubt when another slice is a near tie for the slice to measure (the longest
    long axis; for a node the longest short axis) but its other axis differs by more
    than the accuracy asked of it: which slice wins is then within the noise."""
    off = int(seg.offset[0])
    key = axes.short_mm if nodal else axes.long_mm
    for kz, (long_mm, short_mm) in per_slice.items():
        other_key = short_mm if nodal else long_mm
        if kz - off == k or other_key is None or other_key < key - TIE_KEY_MM:
            continue
        other, _ = _slice_axes(seg, kz - off, full=True)
        if other is None:
            continue
        # the key axis nearly tied; the other axis of that slice
        (same, k_o, k_h), (diff, d_o, d_h) = (
            (("short", other.short_mm, axes.short_mm), ("long", other.long_mm, axes.long_mm))
            if nodal
            else (("long", other.long_mm, axes.long_mm), ("short", other.short_mm, axes.short_mm))
        )
        if abs(d_o - d_h) > TIE_OTHER_MM:
            return [
                (
                    TIE_FACTOR,
                    f"slice {kz + 1} has nearly the same {same} axis ({k_o:.1f} vs {k_h:.1f} "
                    f"mm) but a {diff} axis of {d_o:.1f} mm (here {d_h:.1f} mm): the {diff} "
                    "axis depends on which of the two slices is measured",
                )
            ]
    return []


def _crosscheck(seg: Segmentation, k: int, axes: PlanarAxes) -> tuple[dict, list]:
    """Measure the second outline on crop slice ``k``; doubt when an axis differs
    from the proposal's by more than :data:`CROSSCHECK_MM`."""
    ws = watershed_outline(seg)
    if ws is None or not ws[k].any():
        return {}, []
    other = planar_axes(mask_polygons(ws[k], (seg.spacing[1], seg.spacing[2])))
    out = {"long_mm": float(other.long_mm), "short_mm": float(other.short_mm)}
    for name, o, h in (
        ("long", other.long_mm, axes.long_mm),
        ("short", other.short_mm, axes.short_mm),
    ):
        if abs(o - h) > CROSSCHECK_MM:
            return out, [
                (
                    CROSSCHECK_FACTOR,
                    f"a second outline method (the strongest edges, by watershed) gives a "
                    f"{name} axis of {o:.1f} mm (here {h:.1f} mm, {o - h:+.1f} mm): check "
                    "the edges",
                )
            ]
    return out, []


#: Faint edge: when the lesion differs from the tissue around by less than
#: ``FAINT_EDGE_HU`` (HU), the thresholds are moved ``FAINT_SHIFT_NOISE`` times the
#: smoothed image's noise toward the lesion's level (where noise could as well have
#: put the edge); an axis moving more than ``FAINT_MOVE_MM`` means its ends are not
#: pinned by the image.
FAINT_EDGE_HU = 25.0
FAINT_SHIFT_NOISE = 3.0
FAINT_MOVE_MM = 2.0
STABILITY_FACTOR = 0.45


def _threshold_stability(seg: Segmentation, k: int, axes: PlanarAxes) -> tuple[dict, list]:
    """Doubt when a faint edge is not pinned by the image: thresholds moved toward
    the lesion's level by :data:`FAINT_SHIFT_NOISE` × the smoothed image's noise (a
    shift noise could as well have made) move an axis by more than
    :data:`FAINT_MOVE_MM`. Only when the lesion differs from the tissue around by
    less than :data:`FAINT_EDGE_HU`."""
    import dataclasses

    from scipy import ndimage as ndi

    from recist_tool.measure.segment import _component_at, _fill_holes, _smooth_noise

    contrast = seg.info.get("contrast_hu")
    reg = seg.region
    if contrast is None or contrast >= FAINT_EDGE_HU or not reg.any():
        return {}, []
    sp = np.asarray(seg.spacing, float)
    mu = float(seg.mu)
    sm = seg.smooth
    shift = FAINT_SHIFT_NOISE * _smooth_noise(sm, mu, sp)
    lo = np.minimum(seg.lo + shift, mu)
    hi = np.maximum(seg.hi - shift, mu)
    # the region within the moved thresholds, connected to its deepest point
    d_in = ndi.distance_transform_edt(reg, sampling=sp)
    centre = np.unravel_index(int(np.argmax(d_in)), reg.shape)
    r = _component_at(reg & (sm >= lo) & (sm <= hi), centre, sp)
    moved = ("long", -axes.long_mm)  # nothing left: the whole outline hangs on it
    if r is not None and r[k].any():
        tight = dataclasses.replace(seg, region=_fill_holes(r), lo=lo, hi=hi)
        other, _ = _slice_axes(tight, k, full=True)
        if other is not None:
            moved = max(
                ("long", other.long_mm - axes.long_mm),
                ("short", other.short_mm - axes.short_mm),
                key=lambda t: abs(t[1]),
            )
    out = {"faint_shift_hu": float(shift), "faint_move_mm": {moved[0]: float(moved[1])}}
    if abs(moved[1]) <= FAINT_MOVE_MM:
        return out, []
    what = f"faint edge ({contrast:.0f} HU between the lesion and the tissue around)"
    if abs(moved[1]) > 0.5 * (axes.long_mm if moved[0] == "long" else axes.short_mm):
        # the moved thresholds reach the lesion's own noise: the outline falls apart
        why = (
            f"{what}: with the edge threshold moved by {shift:.0f} HU (3 × the noise) "
            "the outline no longer holds together — that edge is within the noise: "
            "check the whole outline against the image"
        )
    else:
        why = (
            f"{what}: the {moved[0]} axis changes by {abs(moved[1]):.1f} mm when the "
            f"edge threshold moves by {shift:.0f} HU (3 × the noise): check the "
            f"{moved[0]} axis ends against the image"
        )
    return out, [(STABILITY_FACTOR, why)]


def _fragile_edge_flags(seg: Segmentation) -> list:
    """Doubt when a small lesion's outline holds by a thin margin: slightly looser
    thresholds (closer to the tissue around) let the region run far beyond it."""
    from scipy import ndimage as ndi

    from recist_tool.measure.segment import _component_at

    reg = seg.region
    n = int(reg.sum())
    if n == 0:
        return []
    d_in = ndi.distance_transform_edt(reg, sampling=seg.spacing)
    r_in = float(d_in.max())
    if r_in >= FRAGILE_RADIUS_MM:
        return []
    centre = np.unravel_index(int(np.argmax(d_in)), reg.shape)
    a = FRAGILE_LOOSEN
    lo = seg.mu - a * (seg.mu - seg.lo)
    hi = seg.mu + a * (seg.hi - seg.mu)
    loose = _component_at((seg.smooth >= lo) & (seg.smooth <= hi), centre, seg.spacing)
    growth = 0.0 if loose is None else float(loose.sum()) / n
    seg.info["loose_growth"] = growth
    if growth > FRAGILE_GROWTH:
        return [
            (
                0.45,
                f"the edge holds by a thin margin: thresholds 30 % closer to the tissue "
                f"around grow the outline {growth:.0f}-fold (a small lesion: its size may "
                "be off)",
            )
        ]
    return []


def _elongation(region: np.ndarray, spacing) -> float:
    """Ratio of the largest to the middle principal extent of the region (mm)."""
    pts = np.argwhere(region).astype(float) * np.asarray(spacing, float)
    if len(pts) < 10:
        return 1.0
    ev = np.sort(np.linalg.eigvalsh(np.cov(pts.T)))[::-1]
    return float(np.sqrt(ev[0] / max(ev[1], 1e-9)))


#: A cap's share is measured only where the lesion's level stands this far (HU) from
#: what lies beyond it: nearer, the share is mostly noise.
CAP_MIN_CONTRAST_HU = 15.0
#: In-plane smoothing (mm) of the slice beyond a cap (its level at each point).
CAP_BEYOND_SMOOTH_MM = 2.0


def _cap_volume_ml(arr: np.ndarray, region: np.ndarray, ks, off, spacing, mu: float) -> float:
    """The partial-volume share (mL) of the lesion's top and bottom *caps*: what lies
    in the slice just beyond the segmentation's first and last slice (``ks``: the
    crop's slices the region holds, ``off`` the crop's first voxel in ``arr``).

    A slice averages the tissue across its thickness: the slice that cuts a lesion's
    cap holds a little lesion over a lot of what is beyond, too diluted to be
    segmented. Counting whole voxels then loses the caps, which on 5 mm slices is a
    third to a half of a 15 mm lesion (a node measured −48 %). Each cap voxel holds the
    fraction ``(v − b) / (mu − b)`` of lesion, ``b`` the level one slice further out
    (the slice beyond the cap, smoothed in-plane), over the end slice's outline
    (dilated by one pixel); the fractions are summed unclipped (clipping each voxel
    would turn noise into volume) and the sum is kept within ``[0, voxels]``. On 1–2.5
    mm slices the caps are thin and the share small. Not counted where the series ends
    or the lesion's level is within :data:`CAP_MIN_CONTRAST_HU` of what is beyond.
    """
    from scipy import ndimage as ndi

    dz, dy, dx = (float(v) for v in spacing)
    ys = slice(int(off[1]), int(off[1]) + region.shape[1])
    xs = slice(int(off[2]), int(off[2]) + region.shape[2])
    total = 0.0
    for end, step in ((int(ks.min()), -1), (int(ks.max()), 1)):
        z_cap = int(off[0]) + end + step
        z_beyond = z_cap + step
        if not 0 <= z_beyond < arr.shape[0]:
            continue
        foot = ndi.binary_dilation(region[end], iterations=1)
        beyond = arr[z_beyond][ys, xs].astype(np.float32)
        beyond = ndi.gaussian_filter(beyond, (CAP_BEYOND_SMOOTH_MM / dy, CAP_BEYOND_SMOOTH_MM / dx))
        contrast = mu - beyond
        ok = foot & (np.abs(contrast) >= CAP_MIN_CONTRAST_HU)
        if not ok.any():
            continue
        cap = arr[z_cap][ys, xs].astype(np.float32)
        share = float(((cap[ok] - beyond[ok]) / contrast[ok]).sum())
        total += min(max(share, 0.0), float(ok.sum()))
    return total * dz * dy * dx / 1000.0


def _inner(region: np.ndarray, spacing) -> np.ndarray:
    """The region less its blurred edge: eroded in-plane by ~1.5 mm (less, down to
    nothing, when too little would be left), so partial volume with the tissue around
    (lung: 900 HU away) does not bias the mean."""
    from scipy import ndimage as ndi

    st = np.zeros((3, 3, 3), bool)
    st[1] = ndi.generate_binary_structure(2, 1)
    n = max(1, round(1.5 / min(spacing[1:])))
    for steps in range(n, 0, -1):
        inner = ndi.binary_erosion(region, structure=st, iterations=steps)
        if inner.sum() >= max(10, 0.2 * region.sum()):
            return inner
    return region
