"""Lesion segmentation from one click, on CPU, in a crop around the seed.

A classical method (no learned weights), built on scipy.ndimage and scikit-image:

1. **Crop and smooth.** A box around the seed, sized from a quick 2-D pass on the
   seed's slice (or the reader's rough line) and enlarged while the lesion reaches
   its faces; a Gaussian of about 1 mm in-plane (less across thick slices) so that a
   20 HU edge stands out of 20 HU noise.
2. **Lesion level** ``mu`` from the voxels near the seed whose smoothed value is close
   to the seed's (a click near the edge does not mix in the neighbour), and a noise
   band. A **provisional region** grows from the seed within that band.
3. **The tissues the lesion touches.** In a shell 2.5–4.5 mm outside the region (beyond
   the blur of its edge), and among voxels deep inside it that are not lesion-like (a
   structure it grew into), the histogram's modes are the neighbouring tissues (liver,
   fat, lung, vessel, muscle, chest wall). Partial-volume smear between two tissues is
   not a mode.
   A side with no mode but with clumps of shell voxels clearly beyond the lesion's
   band (a thin vessel, a sliver of fat) gets a *minor* tissue from them.
4. **Local thresholds.** Each voxel takes the tissue sampled 3 mm beyond the region
   at the nearest point (a local mean): the threshold on that side is the
   half-maximum of that edge, half-way between the lesion and that tissue, so the
   outline is unbiased whatever touches the lesion (lung, a wall, a vessel). The
   fraction is lowered slightly for small lesions (a blurred convex edge's
   half-maximum lies ~σ²/R inside the true surface). Where the sample is
   lesion-like, the levels of the tissues around (histogram modes, the tissue whose
   samples weigh most nearby) or, without any on a side, the lesion's own band.
5. **Rims excluded.** The blurred edge between a darker and a brighter tissue passes
   through the lesion's level (lung and chest wall, fat and a contrast-filled
   vessel): voxels with darker tissue on one side and brighter on the opposite side
   within 3 mm are not lesion. Where the lesion, the tissue it lies in and a third
   tissue meet (a liver lesion, the liver and the fat outside it), a voxel is a mix
   of the three: the threshold there follows the third tissue's blurred share
   (:func:`_junction_limits`, :func:`_opposite_junction`), so neither the corner nor
   the sliver of liver at the fat joins the lesion. Where the tissue outside is far
   from the lesion's level (lung), a voxel beyond the lesion's own band with no
   voxel at its level within reach of the blur is another structure (a vessel
   touching a nodule), not the lesion's edge (:func:`_reach_limits`).
6. **Region**: voxels within the thresholds, connected to the seed, grown by at most
   ~5 mm per pass (steps 3–6 repeat until the region is stable, or only jitters at
   the edge), opened (a ball sized to the lesion, ≤ 2 mm, then reconstructed: thin
   bridges into touching structures go, the outline's bumps stay), cut at necks
   (parts beyond a neck that reach far from the lesion's body are a structure it ran
   into, lobes stay close), holes filled.
7. **Low contrast for the noise**: the last pass is redone on a more smoothed image
   when half the contrast to the nearest tissue is below :data:`LOW_CNR_K` times the
   noise: the lesion's own spread, but for a nodule in lung the smoothed image's
   noise measured over the crop (a small nodule's spread is the lung's smear, and
   more smoothing cut its edge near a chest wall).
8. **A leak at a faint edge**: a region that runs to the largest search box is
   segmented once more with the lesion's band kept within half-way to the level of
   the tissue it leaked into; the proposal says so and stays doubtful.

:func:`segment` returns a :class:`Segmentation` in crop coordinates with the smoothed
crop and the threshold maps, so outlines can be traced with sub-pixel accuracy
(:func:`slice_outline`), and the reasons to doubt it (``flags``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

#: In-plane Gaussian smoothing (mm).
SMOOTH_MM = 1.0
#: Smoothing (mm) used instead when the edge contrast is low for the noise.
SMOOTH_LOW_CNR_MM = 1.6
#: Low contrast for the noise: half the contrast to the nearest tissue below this
#: many times the noise (the lesion's own smoothed spread) → the last pass is redone
#: with :data:`SMOOTH_LOW_CNR_MM`.
LOW_CNR_K = 3.5
#: ... the noise there being the lesion's own spread, except for a lesion that a
#: tissue more than ``LOW_CNR_FAR_HU`` from its level surrounds for at least
#: ``LOW_CNR_FAR_SHARE`` of the shell sampled around it (a nodule in lung): the
#: smoothed image's noise over the crop (the nodule's spread is its edge's smear
#: with the lung).
LOW_CNR_FAR_HU = 300.0
LOW_CNR_FAR_SHARE = 0.25
#: Lesions larger than this (mm) are segmented on 2 × 2 in-plane block means.
COARSE_ABOVE_MM = 40.0
#: In-plane pixels coarser than this (mm) are segmented on a grid of cells of about
#: ``FINE_MM`` (the crop interpolated): the method's scales in mm need several cells.
COARSE_PIXEL_MM = 1.5
FINE_MM = 1.0
#: Largest half-size of the search box (mm): lesions up to ~100 mm fit.
MAX_RADIUS_MM = 75.0
#: Radius (mm) of the ball around the seed giving the lesion statistics.
SEED_BALL_MM = 2.5
#: Most region-growing passes (each may grow the region by ~5 mm).
MAX_ITERATIONS = 8
#: Largest opening radius (mm): cuts thin bridges.
OPEN_MM = 2.0
#: How far (mm) a darker and a brighter tissue may lie on either side of a voxel
#: for it to count as the rim between them, not lesion (:func:`_rim`).
RIM_MM = 3.0
#: Scale (mm) of the local tissue maps: near a voxel, the tissue whose sample voxels
#: weigh most (Gaussian weights of this scale) is the one right outside.
PRESENCE_MM = 1.25
#: Depth (mm) inside the region from which non-lesion-like voxels count as a
#: structure the region grew into (beyond the blur of its own edge).
FOREIGN_MM = 2.5
#: ... and how far from the lesion's level, in units of the smoothed image's noise
#: measured over the crop (the seed's few millimetres hold too few noise samples).
FOREIGN_NOISE_K = 3.0
#: Smallest clump (mm³) of shell voxels beyond the lesion's band that makes a
#: *minor* tissue (a thin vessel, a sliver of fat); noise comes in smaller specks.
MINOR_CLUMP_MM3 = 15.0


@dataclass
class Segmentation:
    """A lesion segmented in a crop of the volume.

    ``region`` is a boolean array over the crop ``box`` (a tuple of slices into the
    volume), on a grid ``factor`` times coarser in-plane (``spacing``) for large
    lesions, or ``1 / factor`` times finer on coarse pixels (:data:`COARSE_PIXEL_MM`);
    ``smooth`` is the smoothed crop; ``lo`` and ``hi`` are per-voxel thresholds:
    voxels with ``lo <= smooth <= hi`` are lesion-like. ``info`` holds the tissue
    levels found around the lesion; ``flags`` what lowers the confidence, as
    ``(factor, reason)``.
    """

    box: tuple[slice, slice, slice]
    region: np.ndarray
    smooth: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mu: float
    noise_hu: float
    info: dict
    flags: list[tuple[float, str]] = field(default_factory=list)
    factor: float = 1
    spacing: np.ndarray | None = None

    @property
    def offset(self) -> np.ndarray:
        """Index ``(z, y, x)`` of the crop's first voxel in the volume."""
        return np.array([s.start for s in self.box])

    def to_volume_index(self, zyx) -> np.ndarray:
        """Continuous crop indices (of the possibly coarser grid) → volume indices."""
        z = np.asarray(zyx, float)
        f = np.array([1.0, self.factor, self.factor])
        return self.offset + z * f + (f - 1) / 2

    def full_region(self) -> np.ndarray:
        """The region on the volume's own grid over ``box`` (from a finer grid: the
        voxels at least half of whose cells it holds)."""
        r = self.region
        if self.factor > 1:
            f = int(self.factor)
            r = np.repeat(np.repeat(r, f, axis=1), f, axis=2)
        elif self.factor < 1:
            u = round(1 / self.factor)
            nz, ny, nx = r.shape
            r = r.reshape(nz, ny // u, u, nx // u, u).mean(axis=(2, 4)) >= 0.5
        return r


# ----------------------------------------------------------------------------- helpers


def _box(center, radius_vox, shape) -> tuple[slice, slice, slice]:
    return tuple(
        slice(max(0, int(c - r)), min(n, int(c + r) + 1))
        for c, r, n in zip(center, radius_vox, shape, strict=True)
    )


def _bbox(mask: np.ndarray, pad) -> tuple[slice, slice, slice]:
    nz = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    return tuple(
        slice(max(0, int(n[0]) - p), min(mask.shape[ax], int(n[-1]) + p + 1))
        for ax, (n, p) in enumerate(zip(nz, pad, strict=True))
    )


def _ball(radius_mm: float, spacing) -> np.ndarray:
    """Ellipsoidal structuring element of ``radius_mm`` on an anisotropic grid."""
    r = [max(0, math.floor(radius_mm / s)) for s in spacing]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    d = sum((g * s / max(radius_mm, 1e-6)) ** 2 for g, s in zip(grids, spacing, strict=True))
    return d <= 1.0 + 1e-9


def _ball_steps(r_mm: float, spacing) -> list[np.ndarray]:
    """Small structuring elements whose successive application approximates a ball
    (alternating in-plane cross and square, then lines across slices)."""
    dz, dy, dx = spacing
    n_xy = max(1, round(r_mm / min(dy, dx)))
    n_z = int(r_mm // dz)
    cross = np.zeros((1, 3, 3), bool)
    cross[0] = ndi.generate_binary_structure(2, 1)
    square = np.ones((1, 3, 3), bool)
    line = np.ones((3, 1, 1), bool)
    return [cross if i % 2 == 0 else square for i in range(n_xy)] + [line] * n_z


def _erode_mm(region: np.ndarray, r_mm: float, spacing) -> np.ndarray:
    out = region
    for st in _ball_steps(r_mm, spacing):
        out = ndi.binary_erosion(out, structure=st)
    return out


def _open(region: np.ndarray, r_mm: float, spacing) -> np.ndarray:
    """Opening by an approximate ball of ``r_mm`` with a reconstruction one voxel
    further inside ``region``: the outline's bumps come back, thin bridges (and what
    lies beyond them) do not."""
    steps = _ball_steps(r_mm, spacing)
    out = region
    for st in steps:
        out = ndi.binary_erosion(out, structure=st)
    for st in [*reversed(steps), steps[0]]:
        out = ndi.binary_dilation(out, structure=st) & region
    return out


def _fill_holes(region: np.ndarray, max_2d_px: int = 12) -> np.ndarray:
    """Fill enclosed cavities, and per slice the small holes (noise) only: a
    vessel the lesion wraps around on one slice stays out."""
    out = ndi.binary_fill_holes(region)
    for k in range(out.shape[0]):
        if not out[k].any():
            continue
        holes = ndi.binary_fill_holes(out[k]) & ~out[k]
        if holes.any():
            lab, _n = ndi.label(holes)
            sizes = np.bincount(lab.ravel())
            small = np.nonzero(sizes <= max_2d_px)[0]
            out[k] |= np.isin(lab, small[small > 0])
    return out


def _blur(x: np.ndarray, sigma_mm: float, spacing, truncate: float = 2.5) -> np.ndarray:
    return ndi.gaussian_filter(
        x.astype(np.float32), [sigma_mm / s for s in spacing], truncate=truncate
    )


def _sigma_vox(spacing, sigma_mm: float = SMOOTH_MM) -> tuple[float, float, float]:
    dz, dy, dx = spacing
    # across slices only when they are thin: a lesion a few slices tall would shrink
    sz = min(SMOOTH_MM / dz, 0.6) if dz <= 1.25 else 0.0
    return (sz, sigma_mm / dy, sigma_mm / dx)


def _smooth(raw: np.ndarray, spacing, sigma_mm: float = SMOOTH_MM) -> np.ndarray:
    return ndi.gaussian_filter(raw, _sigma_vox(spacing, sigma_mm), truncate=3.0)


def _component_at(mask: np.ndarray, seed, spacing, search_mm: float = SEED_BALL_MM):
    """The connected component of ``mask`` holding the seed (or the voxel of the mask
    nearest to it within ``search_mm``; the seed may lie outside the mask's box);
    None when there is none."""
    lab, n = ndi.label(mask)
    if n == 0:
        return None
    seed = np.asarray(seed, int)
    inside = bool(np.all((seed >= 0) & (seed < mask.shape)))
    at = int(lab[tuple(seed)]) if inside else 0
    if at == 0:
        ball = _ball(search_mm, spacing)
        r = np.array(ball.shape) // 2
        offs = np.argwhere(ball) - r
        pts = offs + np.asarray(seed)
        ok = np.all((pts >= 0) & (pts < mask.shape), axis=1)
        pts, offs = pts[ok], offs[ok]
        labels = lab[tuple(pts.T)]
        hit = labels > 0
        if not hit.any():
            return None
        d = ((offs[hit] * np.asarray(spacing)) ** 2).sum(axis=1)
        at = int(labels[hit][np.argmin(d)])
    return lab == at


def _touches_border(region: np.ndarray, box, shape) -> bool:
    """Whether the region reaches a crop face that is not the volume's own edge."""
    for axis in range(3):
        sl = box[axis]
        lo_face = np.take(region, 0, axis=axis).any() and sl.start > 0
        hi_face = np.take(region, region.shape[axis] - 1, axis=axis).any() and sl.stop < shape[axis]
        if lo_face or hi_face:
            return True
    return False


def _touches_volume_edge(region: np.ndarray, box, shape) -> bool:
    """Whether the region reaches the first or last slice, row or column of the series."""
    for axis in range(3):
        sl = box[axis]
        if sl.start == 0 and np.take(region, 0, axis=axis).any():
            return True
        if sl.stop == shape[axis] and np.take(region, region.shape[axis] - 1, axis=axis).any():
            return True
    return False


# --------------------------------------------------------------------------- statistics


def _seed_stats(smooth: np.ndarray, raw: np.ndarray, seed, spacing):
    """Lesion level ``mu`` (median of the smoothed values near the seed that are within
    a band of the seed's own value), their robust spread, and the raw noise (robust
    std of raw − smooth on the same voxels)."""
    # at least one voxel around the seed in-plane: on a coarse grid (3 mm pixels)
    # the ball of SEED_BALL_MM is the seed alone, its spread 0 and the band too narrow
    ball = _ball(max(SEED_BALL_MM, max(spacing[1:])), spacing)
    r = np.array(ball.shape) // 2
    lo = np.maximum(np.asarray(seed) - r, 0)
    hi = np.minimum(np.asarray(seed) + r + 1, smooth.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    bsl = tuple(
        slice(a - (s - rr), a - (s - rr) + (b - a))
        for a, b, s, rr in zip(lo, hi, seed, r, strict=True)
    )
    m = ball[bsl]
    vals = smooth[sl][m]
    res = (raw[sl] - smooth[sl])[m]
    mu = float(smooth[tuple(seed)])
    width = 30.0
    sel = np.abs(vals - mu) <= width
    spread = 0.0
    for _ in range(3):
        sel = np.abs(vals - mu) <= width
        mu = float(np.median(vals[sel]))
        spread = 1.4826 * float(np.median(np.abs(vals[sel] - mu)))
        width = max(12.0, 4.0 * spread)
    rs = res[sel]
    noise = 1.4826 * float(np.median(np.abs(rs - np.median(rs))))
    return mu, spread, noise


def _smooth_noise(sm: np.ndarray, mu: float, spacing, step_mm: float = 3.0) -> float:
    """Noise (HU, robust std) of the smoothed crop: differences between voxels
    ``step_mm`` apart in-plane (beyond the noise's correlation), among voxels near the
    lesion's level; edges are a minority, the median absolute deviation ignores them."""
    if sm.size > 200_000:  # a sample of the slices is plenty
        sm = sm[:: max(1, sm.shape[0] // 8)]
    near = np.abs(sm - mu) <= 60.0
    diffs = []
    for axis in (1, 2):
        d = max(1, round(step_mm / spacing[axis]))
        if sm.shape[axis] <= d:
            continue
        a = np.take(sm, range(d, sm.shape[axis]), axis=axis)
        b = np.take(sm, range(0, sm.shape[axis] - d), axis=axis)
        ok = np.take(near, range(d, sm.shape[axis]), axis=axis) & np.take(
            near, range(0, sm.shape[axis] - d), axis=axis
        )
        diffs.append((a - b)[ok])
    v = np.concatenate(diffs) if diffs else np.array([], np.float32)
    if v.size < 50:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))) / np.sqrt(2.0))


def _modes(values: np.ndarray, gap: float, min_share: float = 0.02) -> list[float]:
    """Tissue levels among ``values``: histogram modes holding at least ``min_share``
    of the values (and 10 voxels) near them, where values crowd at least three times as
    densely as on one side (the smear of partial volume between two tissues is about
    as dense on both sides, so it is no mode)."""
    if values.size < 10:
        return []
    v = np.sort(np.clip(values, -1100.0, 1500.0))
    edges = np.arange(v[0] - 10.0, v[-1] + 11.0, 1.0)
    hist, _ = np.histogram(v, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    half = max(gap / 2, 6.0)
    dens = ndi.gaussian_filter1d(hist.astype(float), sigma=max(2.0, half / 3.0))
    peaks = np.nonzero((dens[1:-1] > dens[:-2]) & (dens[1:-1] >= dens[2:]))[0] + 1
    min_mass = max(10.0, min_share * v.size)

    def count(c, w):
        return int(np.searchsorted(v, c + w, "right") - np.searchsorted(v, c - w, "left"))

    out: list[float] = []
    for p in sorted(peaks, key=lambda p: -dens[p]):
        c = float(centres[p])
        inner = count(c, half)
        if inner < min_mass:
            continue
        if inner < 3.0 * min(count(c - 2 * half, half), count(c + 2 * half, half)):
            continue
        if all(abs(c - q) > half for q in out):
            out.append(c)
    return sorted(out)


def _tissue_levels(sm, shell, foreign, mu, gap) -> list[float]:
    """Levels of the tissues around the lesion (from the shell) and of tissue the
    region grew into (``foreign``: voxels deep inside it that are not lesion-like;
    a level there must lie clearly beyond the noise band, or it is only noise)."""
    levels = _modes(sm[shell], gap)
    half = max(gap / 2, 6.0)
    for c in _modes(sm[foreign], gap, min_share=0.05):
        if abs(c - mu) > gap + half / 2 and all(abs(c - q) > half for q in levels):
            levels.append(c)
    return sorted(levels)


def _local_limits(sm, members_mask, levels, mu, band, spacing):
    """Per-voxel lower and upper thresholds from the tissues around the region.

    ``members_mask`` marks the voxels that sample the neighbouring tissues; each is
    attributed to the nearest level (the lesion's own included) when close to it.
    A side (darker or brighter) with no tissue level but with sample voxels clearly
    beyond the lesion's band (a thin vessel, a sliver of fat: too few for a histogram
    mode) gets a *minor* tissue made of those voxels.
    The tissue right outside a voxel (the one whose sample voxels weigh most nearby)
    sets the threshold on its side: half-way between ``mu`` and its local mean (a
    Gaussian-weighted mean of its voxels). Elsewhere the defaults: half-way to the
    nearest darker and brighter tissue found anywhere around.

    Returns the membership thresholds ``(lo, hi)`` (two-sided: without a tissue on a
    side, ``mu`` ± an intrinsic band of the lesion's own spread), the thresholds for
    the rim test ``(lo_r, hi_r)`` (from tissues only) and ``info``.
    """
    gap = max(band, 8.0)
    lv = [float(x) for x in levels]
    # the lesion's intrinsic band (two-sided membership) and the minor tissues' margin
    w_in = max(20.0, 2.0 * band)
    idx = np.nonzero(members_mask)
    vals = sm[idx]
    minor: dict[int, np.ndarray] = {}
    for side in (-1, 1):
        beyond = [x for x in lv if (x - mu) * side > gap]
        ext = max(beyond, key=lambda x: x * side) if beyond else mu
        tail = (vals - ext) * side > w_in
        if tail.sum() >= max(8, 0.003 * vals.size):
            # a structure, not noise: voxels in clumps (noise beyond the band
            # comes in specks of a few voxels)
            t = np.zeros(sm.shape, bool)
            t[idx[0][tail], idx[1][tail], idx[2][tail]] = True
            lab, _n = ndi.label(t)
            sizes = np.bincount(lab.ravel())
            big = sizes >= max(3, MINOR_CLUMP_MM3 / float(np.prod(spacing)))
            big[0] = False
            tail &= big[lab[idx]]
        if tail.sum() >= max(8, 0.003 * vals.size):
            lv.append(float(np.median(vals[tail])))
            minor[len(lv) - 1] = tail
    lv = np.asarray(lv, float)
    dark = lv[lv < mu - gap]
    bright = lv[lv > mu + gap]
    wide = max(60.0, 6.0 * band)
    info = {
        "levels": [float(x) for x in lv],
        "dark": float(dark.max()) if dark.size else None,
        "bright": float(bright.min()) if bright.size else None,
        "minor": [float(lv[c]) for c in minor],
        "same": 0.0,
        "shares": {},
    }
    lo0 = (mu + info["dark"]) / 2 if dark.size else mu - wide
    hi0 = (mu + info["bright"]) / 2 if bright.size else mu + wide
    lo = np.full(sm.shape, lo0, np.float32)
    hi = np.full(sm.shape, hi0, np.float32)
    lo_m = np.full(sm.shape, max(lo0, mu - w_in), np.float32)
    hi_m = np.full(sm.shape, min(hi0, mu + w_in), np.float32)
    if not lv.size:
        return lo_m, hi_m, lo, hi, info
    all_lv = np.append(lv, mu)
    dist = np.abs(vals[:, None] - all_lv[None, :])
    cls = np.argmin(dist, axis=1)
    cls[(cls == len(lv)) | (dist.min(axis=1) > max(gap, 15.0))] = -1
    for c, tail in minor.items():
        cls[tail] = c
    # the tissue right outside decides: the class whose members weigh most nearby
    best_w = np.full(sm.shape, 1e-4, np.float32)
    best_c = np.full(sm.shape, -1, np.int16)
    means = {}
    for c in range(len(lv)):
        sel = cls == c
        if not sel.any():
            continue
        members = np.zeros(sm.shape, np.float32)
        members[idx[0][sel], idx[1][sel], idx[2][sel]] = 1.0
        w = _blur(members, PRESENCE_MM, spacing, truncate=4.0)
        vals_map = np.zeros(sm.shape, np.float32)
        vals_map[idx[0][sel], idx[1][sel], idx[2][sel]] = vals[sel]
        means[c] = _blur(vals_map, PRESENCE_MM, spacing, truncate=4.0) / np.maximum(
            w, np.float32(1e-9)
        )
        win = w > best_w
        best_w[win] = w[win]
        best_c[win] = c
        info["shares"][float(lv[c])] = float(sel.mean())
        if abs(lv[c] - mu) <= gap:
            info["same"] += float(sel.mean())
    for c, b in means.items():
        at = best_c == c
        if not at.any():
            continue
        if abs(lv[c] - mu) <= gap:  # lesion-like tissue: the defaults let it grow
            continue
        if lv[c] < mu:
            lo[at] = (mu + b[at]) / 2
            lo_m[at] = lo[at]
        else:
            hi[at] = (mu + b[at]) / 2
            hi_m[at] = hi[at]
    return lo_m, hi_m, lo, hi, info


#: Distance (mm) beyond the region where the tissue outside it is sampled (beyond
#: the blur of its edge).
OUTSIDE_MM = 3.0


def _outside_limits(
    sm,
    reg,
    mu,
    band,
    spacing,
    lo_d,
    hi_d,
    info,
    frac: float,
    smooth_mm: float,
    distinct: float,
):
    """Membership thresholds from the tissue right outside each part of the edge.

    The tissue outside is sampled :data:`OUTSIDE_MM` beyond the region (a local mean
    over voxels at least that far out); each voxel takes the sample at the nearest
    such voxel: half-way between ``mu`` and it on its side (the half-maximum of that
    edge, whatever the tissue: lung, a wall, a vessel). Where the sample is
    lesion-like (the region has not reached the edge yet) the defaults ``lo_d``,
    ``hi_d`` stay.
    """
    d_reg = ndi.distance_transform_edt(~reg, sampling=spacing)
    out = d_reg >= OUTSIDE_MM
    if not out.any():
        return lo_d, hi_d
    w = _blur(out, 1.0, spacing, truncate=3.0)
    m = _blur(np.where(out, sm, 0.0), 1.0, spacing, truncate=3.0) / np.maximum(w, 1e-6)
    idx = ndi.distance_transform_edt(
        ~out, sampling=spacing, return_distances=False, return_indices=True
    )
    t = m[idx[0], idx[1], idx[2]]
    gap = max(band, 8.0)
    lo = lo_d.copy()
    hi = hi_d.copy()
    dark = t < mu - gap
    bright = t > mu + gap
    lo[dark] = t[dark] + frac * (mu - t[dark])
    hi[bright] = t[bright] + frac * (mu - t[bright])
    info["outside_dark"] = float(dark[reg].mean()) if reg.any() else 0.0
    return _junction_limits(
        sm, mu, gap, spacing, info["levels"], info["shares"], frac, smooth_mm, lo, hi, distinct
    )


#: Reach of the lesion's own level (× the image's in-plane blur σ): a voxel far
#: from the lesion's level (beyond its intrinsic band) that lies no closer than this
#: to any voxel at that level is the edge of another structure, not the lesion's.
REACH_SIGMAS = 3.0


def _reach_limits(sm, mu, band, spacing, smooth_mm, lo, hi):
    """Thresholds kept within the lesion's intrinsic band where its level is out of
    reach.

    Where the tissue outside is far from the lesion's level (the lung around a
    nodule), the half-way threshold admits everything between them: a vessel
    touching the nodule, 20–60 HU from it, and the vessel's own blurred edge with the
    lung. A voxel of the lesion's blurred edge has voxels at the lesion's level within
    the blur's reach (:data:`REACH_SIGMAS` σ); a voxel of the vessel a few
    millimetres from the nodule has none. There the threshold on that side is the
    lesion's intrinsic band (``mu`` ± ``max(20, 2·band)``). The neck cut still sees
    the looser limits (:func:`_region`), so a vessel stub is cut, not kept as a lobe.
    """
    w_in = max(20.0, 2.0 * band)
    r = REACH_SIGMAS * _inplane_blur_mm(smooth_mm, spacing)
    size = [2 * max(1, round(r / sp)) + 1 for sp in spacing]
    far_lo, far_hi = mu - w_in, mu + w_in
    if (lo < far_lo).any():
        mx = ndi.maximum_filter(sm, size=size)
        lo = np.where((mx < far_lo) & (lo < far_lo), np.float32(far_lo), lo).astype(np.float32)
    if (hi > far_hi).any():
        mn = ndi.minimum_filter(sm, size=size)
        hi = np.where((mn > far_hi) & (hi > far_hi), np.float32(far_hi), hi).astype(np.float32)
    return lo, hi


#: Share of the tissue around (sampled outside the region) the nearer tissue must
#: have: the lesion lies in it (the liver parenchyma), it does not merely touch it.
JUNCTION_EMBED_SHARE = 0.5
#: Share of the nearer tissue (blurred as the image is) a voxel's neighbourhood in
#: its slice must hold for :func:`_junction_limits` to apply there.
JUNCTION_NEAR_SHARE = 0.2


def _junction_limits(sm, mu, gap, spacing, levels, shares, frac, smooth_mm, lo, hi, distinct):
    """Thresholds where the lesion, the tissue it lies in and a farther tissue meet.

    The image is the blur of the tissues: where the lesion's edge runs near both the
    tissue it lies in, on one side of its level (``L``: the liver beyond a liver
    lesion brighter than it), and a farther one on the same side (``F``: fat), a
    voxel holds a mix of the three. With ``p`` the blurred share of the far tissue
    there (its voxels blurred as the image is), the voxel is lesion by the
    half-maximum rule (share ``frac``) when ``v ≥ L + frac·(mu − L) − p·(L − F)``
    (mirrored on the bright side: a liver lesion darker than the liver at a vessel).
    Along a plain edge to either tissue this is the usual half-way threshold; in the
    corner of liver between the lesion and the fat it keeps the liver out, where the
    threshold of the nearest sample outside (the fat's) let it join the lesion as a
    spur along the fat, on which an axis often ended.

    It applies only where ``L`` is clearly another tissue (``distinct`` HU from the
    lesion's level, beyond the noise), is the tissue around the lesion
    (:data:`JUNCTION_EMBED_SHARE`: a node in fat touching a muscle keeps the fat's
    threshold), and is present in the voxel's slice and in the slices above and
    below (:data:`JUNCTION_NEAR_SHARE`): a lesion's cap, averaged with the far
    tissue across the slice thickness, takes ``L``'s level within one slice only.
    A far tissue on the other side of the lesion's level: :func:`_opposite_junction`.
    """
    sig = _inplane_blur_mm(smooth_mm, spacing)
    sigma = (0.0, sig / spacing[1], sig / spacing[2])
    for side in (-1, 1):
        beyond = sorted((x for x in levels if (x - mu) * side > distinct), key=lambda x: x * side)
        if not beyond or shares.get(beyond[0], 0.0) < JUNCTION_EMBED_SHARE:
            continue
        near = beyond[0]  # the tissue the lesion lies in, on this side of its level
        far = [x for x in beyond[1:] if (x - near) * side > gap]
        if far:
            lo, hi = _same_side_junction(sm, mu, side, near, far[0], gap, frac, lo, hi, sigma)
        other = sorted((x for x in levels if (mu - x) * side > distinct), key=lambda x: -x * side)
        if other:
            lo, hi = _opposite_junction(sm, mu, side, near, other[0], frac, lo, hi, sigma)
    return lo, hi


def _same_side_junction(sm, mu, side, near, f, gap, frac, lo, hi, sigma):
    """The thresholds of :func:`_junction_limits` where the far tissue ``f`` lies on
    the same side of the lesion's level as ``near`` (fat beyond the liver around a
    liver lesion brighter than the liver): ``L + frac·(mu − L) − p·|L − F|`` where
    ``near`` is present on the voxel's slice and its neighbours."""
    mask = (sm - 0.5 * (near + f)) * side > 0
    if not mask.any():
        return lo, hi
    p = ndi.gaussian_filter(mask.astype(np.float32), sigma, truncate=3.0)
    p_near = ndi.gaussian_filter((np.abs(sm - near) <= gap).astype(np.float32), sigma, truncate=3.0)
    if sm.shape[0] >= 3:
        p_near = ndi.minimum_filter1d(p_near, 3, axis=0, mode="nearest")
    at = (p > 0.01) & (p_near > JUNCTION_NEAR_SHARE)
    thr = near + frac * (mu - near) + side * p * abs(near - f)
    if side < 0:
        return np.where(at, thr, lo).astype(np.float32, copy=False), hi
    return lo, np.where(at, thr, hi).astype(np.float32, copy=False)


def _inplane_blur_mm(smooth_mm: float, spacing) -> float:
    """The image's in-plane blur (Gaussian σ, mm): the smoothing, the scanner's PSF
    and the pixel."""
    return math.sqrt(smooth_mm**2 + SCANNER_PSF_MM**2 + (0.3 * spacing[1]) ** 2)


#: Largest share of the far tissue :func:`_opposite_junction` uses: beyond it the
#: voxel is the far tissue's (its own threshold, half-way to the lesion, decides),
#: and the threshold would pass the lesion's own edge value (half-way, share 0.5).
JUNCTION_OPPOSITE_MAX_SHARE = 0.45


def _opposite_junction(sm, mu, side, near, f, frac, lo, hi, sigma):
    """Thresholds where the lesion, the tissue it lies in and a tissue on the other
    side of its level meet (a liver lesion darker than the liver, at the fat; one
    brighter than the liver, at an enhanced vessel).

    Between the lesion and the fat runs a sliver of liver. Blurred with the fat, its
    values pass through the lesion's level, and neither the rim test (the fat and the
    liver are not on opposite sides of it: the lesion is) nor the threshold of the
    tissue outside (the fat's, half-way to it) keeps it out; the outline ran along the
    fat, and the axes ended on it. With ``p`` the fat's blurred share at a voxel, the
    lesion and the liver mixed with the fat at that share are ``(1 − p)·mu + p·F``
    and ``(1 − p)·L + p·F``: half-way between them, the threshold on the liver's side
    is ``(1 − p)·(L + frac·(mu − L)) + p·F``. On a plain edge to the liver ``p`` = 0
    and it is the usual one. The far tissue's voxels are those beyond half-way
    between it and the lesion (exact where the lesion touches it; where the liver
    does, the share is underestimated and the correction falls short rather than
    cutting into the lesion: half-way between the liver and the fat instead cut
    into small lesions lying on the fat, on generated development cases).
    ``side`` is the side of the lesion's level ``near`` (``L``) lies on; ``f`` (``F``)
    is on the other. Called by :func:`_junction_limits`.
    """
    mask = (sm - 0.5 * (mu + f)) * side < 0
    if not mask.any():
        return lo, hi
    p = ndi.gaussian_filter(mask.astype(np.float32), sigma, truncate=3.0)
    at = p > 0.01
    p = np.minimum(p, JUNCTION_OPPOSITE_MAX_SHARE)
    thr = (1.0 - p) * (near + frac * (mu - near)) + p * f
    if side < 0:
        return np.where(at, np.maximum(lo, thr), lo).astype(np.float32, copy=False), hi
    return lo, np.where(at, np.minimum(hi, thr), hi).astype(np.float32, copy=False)


#: In-plane point-spread of the scanner (Gaussian σ, mm) assumed for the
#: curvature correction (:func:`_edge_fraction`); soft-tissue kernels: 0.4–0.6 mm.
SCANNER_PSF_MM = 0.5


def _edge_fraction(reg: np.ndarray, spacing, smooth_mm: float) -> float:
    """Where between the tissue outside (0) and the lesion (1) the blurred edge of
    a convex lesion crosses its true surface.

    Blurring a curved surface moves its half-maximum inwards by about
    ``δ = (σ_t1² + σ_t2²) / (2 R)`` (σ_t: blur along the two tangents, R: radius),
    so a half-way threshold shrinks small lesions (a 10 mm nodule by ~0.3 mm a
    side with 1.6 mm smoothing). The value at the true surface is
    ``0.5 − δ / (σ_n √(2π))`` of the contrast (σ_n: blur across the edge, in-plane
    at the lesion's widest, where its axes are measured). R is the radius of the
    sphere of the region's volume; σ combines the smoothing, the scanner's PSF and
    the slice profile.
    """
    n = int(reg.sum())
    if n == 0:
        return 0.5
    vol_mm3 = n * float(np.prod(spacing))
    r = (3.0 * vol_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0)
    dz = float(spacing[0])
    sz_vox = _sigma_vox(spacing, smooth_mm)[0]
    s_xy2 = smooth_mm**2 + SCANNER_PSF_MM**2
    s_z2 = dz**2 / 12.0 + (sz_vox * dz) ** 2
    delta = 0.5 * (s_xy2 + s_z2) / max(r, 1.0)
    return float(np.clip(0.5 - delta / (math.sqrt(s_xy2) * math.sqrt(2 * math.pi)), 0.35, 0.5))


def _rim(sm: np.ndarray, lo: np.ndarray, hi: np.ndarray, spacing) -> np.ndarray:
    """Voxels on the blurred edge between a darker and a brighter tissue: darker than
    ``lo`` on one side and brighter than ``hi`` on the opposite side within
    :data:`RIM_MM` along a row, a column (or across slices when they are thin).

    Their values pass through the lesion's level although they are no lesion (the
    rim between lung and chest wall, fat and an enhanced vessel). A lesion's own edge
    has foreign tissue on one side only; where it touches a darker and a brighter
    tissue at once, they lie side by side, not opposite. Rows, columns and the two
    in-plane diagonals are checked.
    """
    out = np.zeros(sm.shape, bool)
    bright = sm > hi
    dark = sm < lo
    if not bright.any() or not dark.any():
        return out  # nothing on one of the two sides: no rim
    for axis, step in enumerate(spacing):
        n = round(RIM_MM / step)
        if n < 1 or sm.shape[axis] < 3:
            continue
        size = n + 1
        fwd_max = ndi.maximum_filter1d(sm, size, axis=axis, origin=-(size // 2))
        bwd_max = ndi.maximum_filter1d(sm, size, axis=axis, origin=(size - 1) // 2)
        fwd_min = ndi.minimum_filter1d(sm, size, axis=axis, origin=-(size // 2))
        bwd_min = ndi.minimum_filter1d(sm, size, axis=axis, origin=(size - 1) // 2)
        out |= ((fwd_max > hi) & (bwd_min < lo)) | ((fwd_min < lo) & (bwd_max > hi))
    # and along the two in-plane diagonals (a vessel at 45° is nearer that way)
    n = round(RIM_MM / (np.sqrt(2) * max(spacing[1], spacing[2])))
    if n >= 1:
        for dx in (1, -1):
            fwd = _diagonal_extremes(sm, n, 1, dx)
            bwd = _diagonal_extremes(sm, n, -1, -dx)
            out |= ((fwd[1] > hi) & (bwd[0] < lo)) | ((fwd[0] < lo) & (bwd[1] > hi))
    return out


def _diagonal_extremes(sm: np.ndarray, n: int, dy: int, dx: int):
    """Min and max of ``sm`` over the ``n`` in-plane steps ``(dy, dx)`` from each voxel
    (the voxel itself included; the image edge repeats)."""
    pad = np.pad(sm, ((0, 0), (n, n), (n, n)), mode="edge")
    ny, nx = sm.shape[1], sm.shape[2]
    lo = sm.copy()
    hi = sm.copy()
    for d in range(1, n + 1):
        sh = pad[:, n + d * dy : n + d * dy + ny, n + d * dx : n + d * dx + nx]
        np.minimum(lo, sh, out=lo)
        np.maximum(hi, sh, out=hi)
    return lo, hi


def _inscribed_radius_mm(region, spacing) -> float:
    bb = _bbox(region, (1, 1, 1))
    sub = region[bb]
    if sub.size > 400_000:  # coarse is enough for an opening radius
        sub = sub[:, ::2, ::2]
        spacing = (spacing[0], spacing[1] * 2, spacing[2] * 2)
    return float(ndi.distance_transform_edt(sub, sampling=spacing).max())


def _quick_extent_mm(arr, seed, spacing) -> float:
    """In-plane size (mm) of the seed's blob on its own slice (a cheap 2-D pass that
    sizes the 3-D search box)."""
    _dz, dy, dx = spacing
    k, j, i = seed
    r = (MAX_RADIUS_MM / dy, MAX_RADIUS_MM / dx)
    sl = (
        slice(max(0, int(j - r[0])), min(arr.shape[1], int(j + r[0]) + 1)),
        slice(max(0, int(i - r[1])), min(arr.shape[2], int(i + r[1]) + 1)),
    )
    img = ndi.gaussian_filter(arr[k][sl].astype(np.float32), (SMOOTH_MM / dy, SMOOTH_MM / dx))
    s2 = (j - sl[0].start, i - sl[1].start)
    rb = max(1, round(SEED_BALL_MM / dy))
    patch = img[max(0, s2[0] - rb) : s2[0] + rb + 1, max(0, s2[1] - rb) : s2[1] + rb + 1]
    mu = float(img[s2])
    sel = np.abs(patch - mu) <= 30.0
    mu = float(np.median(patch[sel]))
    spread = 1.4826 * float(np.median(np.abs(patch[sel] - mu)))
    band = max(10.0, 3.0 * spread)
    lab, _ = ndi.label(np.abs(img - mu) <= band)
    if lab[s2] == 0:
        return 20.0
    rows, cols = np.nonzero(lab == lab[s2])
    return float(max((np.ptp(rows) + 1) * dy, (np.ptp(cols) + 1) * dx))


# ------------------------------------------------------------------------------- main


def segment(volume_array: np.ndarray, spacing, seed, size_hint_mm: float | None = None):
    """Segment the lesion at voxel ``seed`` ``(z, y, x)``.

    Parameters
    ----------
    volume_array : numpy.ndarray
        HU, shape ``(z, y, x)``.
    spacing : tuple of float
        ``(slice step, row spacing, column spacing)`` in mm.
    seed : tuple of int
        Voxel inside the lesion.
    size_hint_mm : float, optional
        Expected in-plane size (the reader's rough line).

    Returns
    -------
    Segmentation or None
        None when nothing lesion-like is connected to the seed.
    """
    spacing = np.asarray(spacing, float)
    shape = volume_array.shape
    seed = np.asarray(seed, int)
    size = size_hint_mm if size_hint_mm else _quick_extent_mm(volume_array, seed, spacing)
    radius = float(np.clip(0.6 * size + 12.0, 20.0, MAX_RADIUS_MM))
    radius0, size0 = radius, size
    refined = False
    leak = None  # (the level it leaked into, its distance from the seed's level)
    while True:
        # large lesions: 2 × 2 in-plane block means (4 × fewer voxels; the sub-pixel
        # outline keeps the axes accurate at that size)
        f = 2 if size > COARSE_ABOVE_MM and max(spacing[1:]) < 1.0 else 1
        box = _box(seed, radius / spacing, shape)
        if f > 1 and min(b.stop - b.start for b in box[1:]) < 4 * f:
            f = 1  # a series too narrow there for whole blocks around the seed
        box = (box[0], *(_trim(b, f, c) for b, c in zip(box[1:], seed[1:], strict=True)))
        raw = volume_array[box].astype(np.float32)
        if f > 1:
            nz, ny, nx = raw.shape
            raw = raw.reshape(nz, ny // f, f, nx // f, f).mean(axis=(2, 4))
        sp = spacing * np.array([1, f, f])
        s = (seed - np.array([b.start for b in box])) // np.array([1, f, f])
        u = math.ceil(min(spacing[1:]) / FINE_MM - 1e-6) if f == 1 else 1
        if u > 1 and min(spacing[1:]) > COARSE_PIXEL_MM:
            # coarse pixels (3 mm: a 24 mm nodule is 8 pixels across): the crop
            # interpolated onto ~1 mm cells (linear, cell-centred, as a viewer shows
            # it), where the thresholds, rings and openings in mm hold several cells
            # (on the pixels themselves a 24 mm lung nodule measured 17.5 mm)
            raw = ndi.zoom(raw, (1, u, u), order=1, mode="nearest", grid_mode=True)
            sp = spacing / np.array([1, u, u])
            s = s * np.array([1, u, u]) + np.array([0, u // 2, u // 2])
            f = 1 / u
        seg = _segment_crop(raw, s, sp, LEAK_BAND_SHARE * leak[1] if leak else None)
        if seg is None:
            return None
        region = seg[0]
        nz_ = np.nonzero(region)
        ext = max((np.ptp(a) + 1) * d for a, d in zip(nz_, sp, strict=True))
        if _touches_border(region, box, shape) and radius < MAX_RADIUS_MM:
            radius = float(min(MAX_RADIUS_MM, max(radius * 1.6, 0.6 * ext + 12.0)))
            size = max(size, ext)
            continue
        if f == 1 and ext > 1.5 * COARSE_ABOVE_MM and max(spacing[1:]) < 1.0 and not refined:
            size = ext  # much larger than the quick look said: redo it coarse (faster)
            continue
        if f > 1 and ext < 0.75 * COARSE_ABOVE_MM and not refined:
            # much smaller than the quick look said (it ran into a neighbour): the
            # fine grid (a coarse one would cost accuracy)
            size, refined = ext, True
            radius = float(np.clip(0.6 * size + 12.0, 20.0, MAX_RADIUS_MM))
            continue
        region, smooth, lo, hi, mu, noise, info, flags = seg
        leaks = _touches_border(region, box, shape)
        if leaks and leak is None:
            # a faint edge the lesion's own band did not hold (contrast below ~3
            # times the smoothed noise): the tissue it leaked into dominates the
            # region; once more, the band kept within half-way to that tissue
            leaked_hu = float(np.median(smooth[region]))
            d = abs(leaked_hu - info["mu0"])
            if d >= LEAK_MIN_CONTRAST:
                leak = (leaked_hu, d)
                radius, size, refined = radius0, size0, False
                continue
        if leaks:
            flags.insert(
                0,
                (
                    0.1,
                    f"the outline leaks: it reaches the {2 * MAX_RADIUS_MM:.0f} mm search box "
                    "(no clear edge around the seed)",
                ),
            )
        elif leak is not None:
            info["leak_retry_hu"] = leak[0]
            flags.insert(
                0,
                (
                    ALONE_LOW,
                    f"the first outline leaked into the tissue around ({leak[0]:.0f} HU, "
                    f"{leak[1]:.0f} HU from the lesion): redone with thresholds half-way to "
                    "it: check the outline",
                ),
            )
        elif _touches_volume_edge(region, box, shape):
            flags.insert(0, (0.2, "the outline reaches the edge of the series"))
        return Segmentation(box, region, smooth, lo, hi, mu, noise, info, flags, f, sp)


def _trim(sl: slice, f: int, keep: int) -> slice:
    """The slice shortened to a multiple of ``f``, at the end away from index
    ``keep`` (the seed) when it would otherwise fall out: at the series' last row or
    column the box ends right after the seed."""
    n = (sl.stop - sl.start) // f * f
    if sl.start + n > keep:
        return slice(sl.start, sl.start + n)
    return slice(sl.stop - n, sl.stop)


def _foreign_gap(band: float, sm_noise: float) -> float:
    """How far (HU) from the lesion's level a voxel or a tissue level is clearly
    something else: beyond the lesion's band and :data:`FOREIGN_NOISE_K` × the
    smoothed image's noise."""
    return max(band, 8.0, FOREIGN_NOISE_K * sm_noise)


def _segment_crop(raw: np.ndarray, s: np.ndarray, spacing, band_cap: float | None = None):
    smooth = _smooth(raw, spacing)
    mu, spread, noise = _seed_stats(smooth, raw, s, spacing)
    # a few millimetres around the seed hold few independent noise samples: the
    # smoothed image's noise over the crop
    sm_noise = _smooth_noise(smooth, mu, spacing)
    cap = 25.0 if band_cap is None else band_cap
    band = float(np.clip(3.0 * spread, min(8.0, cap), cap))
    mu0, band0 = mu, band
    region = _component_at(np.abs(smooth - mu) <= band, s, spacing)
    if region is None:
        return None
    lo = np.full(smooth.shape, mu - band, np.float32)
    hi = np.full(smooth.shape, mu + band, np.float32)
    pad = tuple(math.ceil(9.0 / sp) + 1 for sp in spacing)
    info: dict = {}
    opened_share = 0.0
    neck_share = 0.0
    converged = False
    grown = 0.0
    state = None
    changed = 0.0
    it = 0
    for it in range(MAX_ITERATIONS):
        bb = _bbox(region, pad)  # the region grows by ~5 mm per pass at most
        reg, sm = region[bb], smooth[bb]
        sb = s - np.array([b.start for b in bb])
        gap = max(band, 8.0)
        near = _blur(reg, 1.5, spacing, truncate=4.0)
        shell = (near > 0.001) & (near < 0.05) & ~reg  # ~2.5–4.5 mm outside
        # foreign: clearly beyond the smoothed noise (a structure, not noise)
        fgap = _foreign_gap(band, sm_noise)
        foreign = _erode_mm(reg, FOREIGN_MM, spacing) & (np.abs(sm - mu) > fgap)
        levels = _tissue_levels(sm, shell, foreign, mu, gap)
        lo_b, hi_b, lo_r, hi_r, info = _local_limits(sm, shell | foreign, levels, mu, band, spacing)
        lo_d, hi_d = lo_b, hi_b
        frac = _edge_fraction(reg, spacing, SMOOTH_MM)
        lo_b, hi_b = _outside_limits(
            sm, reg, mu, band, spacing, lo_d, hi_d, info, frac, SMOOTH_MM, fgap
        )
        grow = (near > 3e-4) | reg
        state = (bb, sb, lo_b, hi_b, lo_r, hi_r, grow, reg, lo_d, hi_d, mu, band)
        lo_x, hi_x = _reach_limits(sm, mu, band, spacing, SMOOTH_MM, lo_b, hi_b)
        new, opened_share, neck_share = _region(
            sm, lo_x, hi_x, lo_r, hi_r, grow, sb, spacing, neck_limits=(lo_b, hi_b)
        )
        lo_b, hi_b = lo_x, hi_x
        if new is None:
            if it == 0:
                return None
            # the thresholds moved off the seed's level (a region that leaked into a
            # tissue of near density took its level): keep the last region, which
            # did not converge
            state = None
            break
        full = np.zeros(smooth.shape, bool)
        full[bb] = new
        changed = (full ^ region).sum() / max(full.sum(), 1)
        grown = (full.sum() - region.sum()) / max(region.sum(), 1)
        region = full
        lo.fill(lo_b.flat[0] if lo_b.size else mu - band)
        hi.fill(hi_b.flat[0] if hi_b.size else mu + band)
        lo[bb], hi[bb] = lo_b, hi_b
        # lesion statistics from the core, beyond the blur of its edge; the level
        # must stay near the seed's (a region that leaked must not drag it away)
        core = _erode_mm(new, 2.5, spacing)
        if core.sum() >= 30:
            vals = sm[core]
            m = float(np.median(vals))
            if abs(m - mu0) <= band0:
                mu = m
                spread = 1.4826 * float(np.median(np.abs(vals - m)))
                band = float(np.clip(3.0 * spread, min(8.0, cap), max(band0, cap)))
        # stable, or only jittering at the edge (noise) without growing
        if changed < 0.01 or (changed < 0.05 and abs(grown) < 0.01):
            converged = True
            break
    info["converged"] = converged or grown < 0.03
    # counted as converged only because it did not grow, while it still swaps many
    # voxels back and forth: the thresholds and the region have not found each other
    info["unsettled"] = bool(not converged and info["converged"] and changed > UNSETTLED_CHANGE)
    info["iterations"] = it + 1
    info["last_changed"] = float(changed) if it > 0 or state is not None else 0.0
    info["last_grown"] = float(grown)
    # half the contrast to the nearest tissue, against the noise: the lesion's own
    # spread, but in lung the smoothed image's noise measured over the crop (there
    # the spread of a nodule's voxels is mostly the smear of its edge with the lung,
    # and a smoother image would smear the lung further in)
    sides = [m for m in (info.get("dark"), info.get("bright")) if m is not None]
    contrast = min((abs(mu - m) for m in sides), default=None)
    info["contrast_hu"] = contrast
    in_far = any(
        abs(x - mu) > LOW_CNR_FAR_HU and share >= LOW_CNR_FAR_SHARE
        for x, share in info.get("shares", {}).items()
    )
    noise_cnr = sm_noise if in_far else spread
    if (
        contrast is not None
        and contrast / 2 < LOW_CNR_K * max(noise_cnr, 1.0)
        and state is not None
    ):
        # low contrast for the noise: the last pass again on a smoother image
        smooth2 = _smooth(raw, spacing, SMOOTH_LOW_CNR_MM)
        bb, sb, lo_b, hi_b, lo_r, hi_r, grow, reg, lo_d, hi_d, mu_s, band_s = state
        # the smoother image blurs more: its curvature shift is larger
        frac = _edge_fraction(reg, spacing, SMOOTH_LOW_CNR_MM)
        lo_b, hi_b = _outside_limits(
            smooth[bb],
            reg,
            mu_s,
            band_s,
            spacing,
            lo_d,
            hi_d,
            dict(info),
            frac,
            SMOOTH_LOW_CNR_MM,
            _foreign_gap(band_s, sm_noise),
        )
        lo_x, hi_x = _reach_limits(smooth[bb], mu_s, band_s, spacing, SMOOTH_LOW_CNR_MM, lo_b, hi_b)
        lo[bb], hi[bb] = lo_x, hi_x
        new, opened_share, neck_share = _region(
            smooth2[bb],
            lo_x,
            hi_x,
            lo_r,
            hi_r,
            grow,
            sb,
            spacing,
            min_open=1.5,
            neck_limits=(lo_b, hi_b),
        )
        if new is not None:
            region = np.zeros(smooth.shape, bool)
            region[bb] = new
            smooth = smooth2
            info["smoothing_mm"] = SMOOTH_LOW_CNR_MM
    info["opened_share"] = float(opened_share)
    info["neck_share"] = float(neck_share)
    info["mu0"] = float(mu0)
    return region, smooth, lo, hi, mu, noise, info, _flags(info, mu, noise)


def _region(sm, lo, hi, lo_r, hi_r, grow, sb, spacing, min_open: float = 0.0, neck_limits=None):
    """Voxels within the thresholds, not on a rim, in the growth zone, connected to
    the seed, opened, cut at necks (:func:`_cut_necks`) and hole-filled; the share
    the opening and the cut took away, and the share of the lesion-like voxels
    connected to it (beyond the growth zone too) that lie beyond a neck."""
    rim = _rim(sm, lo_r, hi_r, spacing)
    cand0 = (sm >= lo) & (sm <= hi) & ~rim
    if neck_limits is not None:
        # what the region connects to, for the neck cut: the looser limits
        connected = (sm >= neck_limits[0]) & (sm <= neck_limits[1]) & ~rim
    else:
        connected = cand0
    cand = cand0 & grow
    base = _component_at(cand, sb, spacing)
    if base is None:
        return None, 0.0, 0.0
    r_in = _inscribed_radius_mm(base, spacing)
    r_open = float(np.clip(0.25 * r_in, max(min(spacing[1:]) * 1.01, min_open), OPEN_MM))
    new = _component_at(_open(base, r_open, spacing), sb, spacing)
    if new is None:
        new = base
    full = _component_at(connected, sb, spacing)
    full = new if full is None else (full | new)
    kept = _cut_necks(full, sb, spacing, r_in)
    neck = 0.0
    if kept is not None:
        neck = 1.0 - float((kept & full).sum()) / max(int(full.sum()), 1)
        cut = _component_at(new & kept, sb, spacing)
        if cut is not None:
            new = cut
    share = 1.0 - new.sum() / max(base.sum(), 1)
    return _fill_holes(new), share, neck


#: Neck cut: ball radius as a share of the lesion's inscribed radius, and its bounds.
NECK_SHARE = 0.5
NECK_MIN_MM = 1.5
NECK_MAX_MM = 8.0
#: A part outside the opened body that reaches further than this many ball radii
#: from it is a structure the region ran into (a vessel, a wall), not a lobe.
NECK_REACH = 2.0
#: Confidence drops when at least this share of the lesion-like voxels connected to
#: the region lies beyond a neck (a vessel or organ of the lesion's density).
NECK_FLAG_SHARE = 0.15


def _cut_necks(region, sb, spacing, r_in):
    """The region without the structures it runs into through a neck.

    An opening by a ball of ``NECK_SHARE`` × the lesion's inscribed radius ``r_in``
    (the body around the seed; distance transforms, exact on the anisotropic grid)
    leaves the lesion's body; of what it removes, the parts that stay close to the
    body (bumps, lobes: reaching at most ``NECK_REACH`` ball radii from it) come back,
    those reaching further (a vessel, a wall, a sheet along an interface) are cut
    one voxel beyond the body. None when the lesion is too thin to tell.
    """
    rho = float(np.clip(NECK_SHARE * r_in, NECK_MIN_MM, NECK_MAX_MM))
    if rho < 1.5 * min(spacing[1:]):
        return None
    bb = _bbox(region, (1, 1, 1))
    sub = region[bb]
    s = np.asarray(sb) - np.array([b.start for b in bb])
    d_in = ndi.distance_transform_edt(sub, sampling=spacing)
    core = d_in > rho
    if not core.any():
        return None
    body = _component_at(core, s, spacing, search_mm=max(r_in * 2, 5.0))
    if body is None:
        return None
    d_out = ndi.distance_transform_edt(~body, sampling=spacing)
    beyond = d_out - rho  # ≈ distance from the opened body
    opened = sub & (beyond <= 0)
    resid = sub & ~opened
    lab, n = ndi.label(resid, structure=np.ones((3, 3, 3), bool))
    keep = opened.copy()
    if n:
        reach_max = ndi.maximum(beyond, lab, index=np.arange(1, n + 1))
        ok = np.zeros(n + 1, bool)
        ok[1:] = np.asarray(reach_max) <= NECK_REACH * rho
        keep |= ok[lab] & resid
        keep |= resid & (beyond <= min(spacing[1:]) * 1.01)
    out = np.zeros(region.shape, bool)
    out[bb] = keep
    return out


#: Factor of a doubt that alone makes a proposal doubtful: below the 0.5 of
#: ``propose.LOW_CONFIDENCE`` (a factor of exactly 0.5 left a proposal at 0.50,
#: which is not "low": a lesion merging with a structure, 51 % of its volume
#: cut away, stayed confident).
ALONE_LOW = 0.45
#: Leak: a region that reaches the search box is segmented once more with the
#: lesion's band kept within ``LEAK_BAND_SHARE`` of the distance between the seed's
#: level and the level of the tissue it leaked into (the region's median), when that
#: distance is at least ``LEAK_MIN_CONTRAST`` HU.
LEAK_MIN_CONTRAST = 10.0
LEAK_BAND_SHARE = 0.45
#: A region still changing by more than this share of its voxels in the last pass,
#: without growing, did not settle (generated development seeds 5000–6239: the three
#: lesions above it were all failures; none between 0.15 and 0.23 was accurate).
UNSETTLED_CHANGE = 0.15


def _flags(info: dict, mu: float, noise: float) -> list[tuple[float, str]]:
    flags: list[tuple[float, str]] = []
    contrast = info.get("contrast_hu")
    if contrast is None:
        flags.append((ALONE_LOW, "no tissue distinct from the lesion found around it"))
    elif contrast < 1.0 * max(noise, 1.0):
        flags.append(
            (0.4, f"low contrast at the edge ({contrast:.0f} HU for {noise:.0f} HU noise)")
        )
    if not info.get("converged", True):
        flags.append((0.4, "the outline kept growing: it may leak into a touching structure"))
    if info.get("unsettled"):
        flags.append(
            (
                ALONE_LOW,
                "the outline did not settle: it still changed by "
                f"{100 * info['last_changed']:.0f} % in the last pass: check the outline",
            )
        )
    if info.get("opened_share", 0.0) > 0.25:
        flags.append(
            (
                ALONE_LOW,
                "the lesion merges with a touching structure of similar density "
                f"({100 * info['opened_share']:.0f} % cut away): check the outline",
            )
        )
    if info.get("neck_share", 0.0) >= NECK_FLAG_SHARE:
        flags.append(
            (
                0.4,
                "a structure of the lesion's density continues beyond the outline "
                f"({100 * info['neck_share']:.0f} % of what is connected was cut at a "
                "neck): check the outline",
            )
        )
    if info.get("same", 0.0) > 0.35:
        flags.append(
            (
                0.6,
                f"{100 * info['same']:.0f} % of the tissue around the outline has the "
                "lesion's density: the edge may be wrong",
            )
        )
    return flags


def slice_outline(seg: Segmentation, k: int) -> list[np.ndarray]:
    """Sub-pixel outline of the region on crop slice ``k`` as polygons ``(n, 2)`` of
    crop ``(row, col)`` indices.

    The outline is the zero level of ``min(smooth − lo, hi − smooth)`` (the
    half-maximum of each edge) where it agrees with the region; where it does not (a
    bridge cut by the opening, a rim, a filled hole) the region's own boundary is used.
    """
    from skimage.measure import find_contours

    reg = seg.region[k]
    if not reg.any():
        return []
    sm = seg.smooth[k]
    g = np.minimum(sm - seg.lo[k], seg.hi[k] - sm)
    eps = np.float32(1e-3)
    g = np.where(reg, np.maximum(g, eps), np.minimum(g, -eps))
    g = np.pad(g, 1, constant_values=-1.0)
    return [c - 1 for c in find_contours(g, 0.0)]
