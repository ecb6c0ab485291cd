"""Lesion segmentation from one click, on CPU, in a crop around the seed.

The method (classical, no learned weights):

1. **Crop and smooth.** A box around the seed (sized from a quick 2-D pass on the
   seed's slice, or from the reader's rough line), smoothed by a Gaussian of about
   1 mm in-plane (less across thick slices) so a 20 HU edge stands out of 20 HU noise.
2. **Lesion statistics** from a small ball around the seed: median ``mu`` and spread.
3. **Provisional region**: voxels within a narrow band around ``mu`` connected to the
   seed (region growing). It lies inside the true edge.
4. **What the lesion touches**: the histogram of the smoothed values in a shell 2–5 mm
   outside the provisional region. Its modes are the neighbouring tissues (organ,
   fat, lung, vessel, muscle). The nearest mode below ``mu`` and the nearest above
   it give the thresholds, each half-way between the lesion and that tissue: the
   half-maximum of a blurred edge, so the outline is unbiased on both sides whatever
   touches it.
5. **Final region**: voxels between the two thresholds, opened with a ball sized to
   the lesion (cuts thin bridges into touching vessels of similar density),
   connected to the seed, holes filled. Steps 2–5 run twice (statistics from the
   first region's interior).
6. **Leak checks** feed the confidence: region reaching the largest search box,
   much removed by the opening, low edge contrast for the noise, elongated shape.

:func:`segment` returns a :class:`Segmentation` in crop coordinates; the smoothed
crop and the thresholds come with it so that outlines can be traced with sub-pixel
accuracy (:func:`slice_outline`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

#: In-plane Gaussian smoothing (mm).
SMOOTH_MM = 1.0
#: Largest half-size of the search box (mm): lesions up to ~100 mm fit.
MAX_RADIUS_MM = 75.0
#: Shell where neighbouring tissue is sampled (mm outside the provisional region).
SHELL_MM = (2.0, 5.0)
#: Radius (mm) of the ball around the seed giving the lesion statistics.
SEED_BALL_MM = 2.5
#: Most region-growing iterations (each may grow the region by ~5 mm).
MAX_ITERATIONS = 8
#: Largest opening radius (mm): cuts thin bridges.
OPEN_MM = 2.0
#: How far (mm) a darker and a brighter tissue may lie on either side of a voxel
#: for it to count as the rim between them, not lesion (:func:`_rim`).
RIM_MM = 3.0
#: Scale (mm) of the local tissue maps: a tissue counts near a voxel when it holds
#: 15 % of the Gaussian-weighted shell there.
PRESENCE_MM = 2.5


@dataclass
class Segmentation:
    """A lesion segmented in a crop of the volume.

    ``region`` is a boolean array over the crop ``box`` (a tuple of slices into the
    volume); ``smooth`` is the smoothed crop; ``lo`` and ``hi`` are per-voxel
    thresholds: voxels with ``lo <= smooth <= hi`` are lesion-like. ``info`` holds
    the tissue levels found around the lesion. ``flags`` lists what lowers the confidence, as
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

    @property
    def offset(self) -> np.ndarray:
        """Index ``(z, y, x)`` of the crop's first voxel in the volume."""
        return np.array([s.start for s in self.box])


def _box(center, radius_vox, shape) -> tuple[slice, slice, slice]:
    return tuple(
        slice(max(0, int(c - r)), min(n, int(c + r) + 1))
        for c, r, n in zip(center, radius_vox, shape, strict=True)
    )


def _ball(radius_mm: float, spacing) -> np.ndarray:
    """Ellipsoidal structuring element of ``radius_mm`` on an anisotropic grid."""
    r = [max(0, int(math.floor(radius_mm / s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    d = sum((g * s / max(radius_mm, 1e-6)) ** 2 for g, s in zip(grids, spacing, strict=True))
    return d <= 1.0 + 1e-9


def _sigma_vox(spacing) -> tuple[float, float, float]:
    dz, dy, dx = spacing
    return (min(SMOOTH_MM / dz, 0.6) if dz < 2 * SMOOTH_MM else 0.0, SMOOTH_MM / dy, SMOOTH_MM / dx)


def _seed_stats(smooth: np.ndarray, raw: np.ndarray, seed, spacing):
    """Lesion level ``mu`` (median of the smoothed values near the seed that are within
    a band of the seed's own value: a click near the edge does not mix in the
    neighbour), their robust spread, and the raw noise (robust std of raw − smooth)."""
    ball = _ball(SEED_BALL_MM, spacing)
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
    for _ in range(3):
        sel = np.abs(vals - mu) <= width
        mu = float(np.median(vals[sel]))
        spread = 1.4826 * float(np.median(np.abs(vals[sel] - mu)))
        width = max(12.0, 4.0 * spread)
    rs = res[sel]
    noise = 1.4826 * float(np.median(np.abs(rs - np.median(rs))))
    return mu, spread, noise


def _component_at(mask: np.ndarray, seed, spacing, search_mm: float = SEED_BALL_MM):
    """The connected component of ``mask`` holding the seed (or the voxel of the mask
    nearest to it within ``search_mm``); None when there is none."""
    lab, n = ndi.label(mask)
    if n == 0:
        return None
    at = lab[tuple(seed)]
    if at == 0:
        ball = _ball(search_mm, spacing)
        r = np.array(ball.shape) // 2
        best, best_d = 0, np.inf
        for off in np.argwhere(ball) - r:
            p = np.asarray(seed) + off
            if np.any(p < 0) or np.any(p >= mask.shape):
                continue
            if lab[tuple(p)]:
                d = float(((off * spacing) ** 2).sum())
                if d < best_d:
                    best, best_d = int(lab[tuple(p)]), d
        at = best
        if at == 0:
            return None
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


def _modes(values: np.ndarray, gap: float) -> list[float]:
    """Tissue levels among the shell values: histogram modes holding at least 2 % of
    the shell (and 10 voxels) that are real peaks, not the smear of partial volume
    between two tissues."""
    from scipy.signal import find_peaks

    if values.size < 15:
        return []
    v = np.sort(np.clip(values, -1100.0, 1500.0))
    step = 1.0
    edges = np.arange(v[0] - 10 * step, v[-1] + 11 * step, step)
    hist, _ = np.histogram(v, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    half = max(gap / 2, 6.0)
    dens = ndi.gaussian_filter1d(hist.astype(float), sigma=max(2.0, half / 3.0))
    peaks, _ = find_peaks(dens)
    min_mass = max(10.0, 0.02 * v.size)

    def count(c, w):
        return int(np.searchsorted(v, c + w, "right") - np.searchsorted(v, c - w, "left"))

    out: list[float] = []
    for p in sorted(peaks, key=lambda p: -dens[p]):
        c = float(centres[p])
        inner = count(c, half)
        if inner < min_mass:
            continue
        # a real tissue: the values crowd at its level, at least three times as
        # densely as on one side of it (the smear of partial volume between two
        # tissues is about as dense on both sides)
        left = count(c - 2 * half, half)
        right = count(c + 2 * half, half)
        if inner < 3.0 * min(left, right):
            continue
        if all(abs(c - q) > half for q in out):
            out.append(c)
    return sorted(out)


def _blur(x: np.ndarray, sigma_mm: float, spacing, truncate: float = 2.5) -> np.ndarray:
    return ndi.gaussian_filter(
        x.astype(np.float32), [sigma_mm / s for s in spacing], truncate=truncate
    )


def _local_limits(smooth, region, shell, mu, band, spacing):
    """Per-voxel lower and upper thresholds from the tissues around the region.

    The ``shell`` voxels (2.5–4.5 mm outside ``region``) are split into tissues by the
    modes of their histogram. Near each part of the edge, the threshold on the dark
    side is half-way between the lesion and the nearest-in-density darker tissue
    present there (a Gaussian-weighted local mean of that tissue's shell voxels),
    likewise on the bright side. Elsewhere the thresholds are half-way to the
    nearest darker and brighter tissue found anywhere around (conservative); where
    lesion-like tissue lies in the shell, the band around ``mu`` is allowed (the
    region may grow there).
    """
    gap = max(band, 8.0)
    # voxels inside the region that are not lesion-like: a touching tissue the
    # region grew into (its level was not seen in the shell before)
    core = _erode_mm(region, 2.0, spacing)  # away from the region's own blurred edge
    shell = shell | (core & (np.abs(smooth - mu) > gap))
    vals = smooth[shell]
    levels = _modes(vals, gap)
    lv = np.asarray(levels, float)
    dark = lv[lv < mu - gap]
    bright = lv[lv > mu + gap]
    wide = max(60.0, 6.0 * band)
    info = {
        "levels": levels,
        "dark": float(dark.max()) if dark.size else None,
        "bright": float(bright.min()) if bright.size else None,
        "same": 0.0,
        "shell": int(vals.size),
    }
    lo0 = (mu + info["dark"]) / 2 if dark.size else mu - wide
    hi0 = (mu + info["bright"]) / 2 if bright.size else mu + wide
    lo = np.full(smooth.shape, lo0, np.float32)
    hi = np.full(smooth.shape, hi0, np.float32)
    if not levels:
        return lo, hi, info
    # each voxel belongs to the nearest level (the lesion's own level included),
    # and only when close to it: partial-volume values belong to no tissue
    all_lv = np.append(lv, mu)
    dist = np.abs(vals[:, None] - all_lv[None, :])
    cls = np.argmin(dist, axis=1)
    cls[(cls == len(lv)) | (dist.min(axis=1) > max(gap, 15.0))] = -1
    total = _blur(shell, PRESENCE_MM, spacing) + np.float32(1e-6)
    same_zone = np.zeros(smooth.shape, bool)
    best = {"dark": np.zeros(smooth.shape, np.float32), "bright": np.zeros(smooth.shape, np.float32)}
    idx = np.nonzero(shell)
    for c in range(len(lv)):
        sel = cls == c
        if not sel.any():
            continue
        members = np.zeros(smooth.shape, np.float32)
        members[idx[0][sel], idx[1][sel], idx[2][sel]] = 1.0
        w = _blur(members, PRESENCE_MM, spacing)
        share = w / total
        present = share >= 0.15
        level = lv[c]
        if abs(level - mu) <= gap:
            info["same"] += float(sel.mean())
            same_zone |= present
            continue
        # each side takes the tissue that dominates locally
        side = "dark" if level < mu else "bright"
        put = present & (share > best[side])
        if not put.any():
            continue
        best[side][put] = share[put]
        vals_map = np.zeros(smooth.shape, np.float32)
        vals_map[idx[0][sel], idx[1][sel], idx[2][sel]] = vals[sel]
        b = _blur(vals_map, PRESENCE_MM, spacing) / np.maximum(w, np.float32(1e-6))
        target = lo if side == "dark" else hi
        target[put] = (mu + b[put]) / 2
    # lesion-like tissue in the shell: let the region grow there, but never past
    # half-way to a distinct tissue found around it
    lo = np.where(same_zone, np.minimum(lo, max(mu - band, lo0)), lo)
    hi = np.where(same_zone, np.maximum(hi, min(mu + band, hi0)), hi)
    return lo, hi, info


def _rim(sm: np.ndarray, lo: np.ndarray, hi: np.ndarray, spacing) -> np.ndarray:
    """Voxels on the blurred edge between a darker and a brighter tissue: darker than
    ``lo`` on one side and brighter than ``hi`` on the opposite side within
    :data:`RIM_MM` along a row, a column (or across slices when they are thin).

    Their values pass through the lesion's level although they are no lesion (the
    rim between lung and chest wall, fat and an enhanced vessel). A lesion's own edge
    has foreign tissue on one side only; where it touches a darker and a brighter
    tissue at once, they lie side by side, not opposite.
    """
    out = np.zeros(sm.shape, bool)
    for axis, step in enumerate(spacing):
        n = int(round(RIM_MM / step))
        if n < 1 or sm.shape[axis] < 3:
            continue
        size = n + 1
        fwd_max = ndi.maximum_filter1d(sm, size, axis=axis, origin=-(size // 2))
        bwd_max = ndi.maximum_filter1d(sm, size, axis=axis, origin=(size - 1) // 2)
        fwd_min = ndi.minimum_filter1d(sm, size, axis=axis, origin=-(size // 2))
        bwd_min = ndi.minimum_filter1d(sm, size, axis=axis, origin=(size - 1) // 2)
        out |= ((fwd_max > hi) & (bwd_min < lo)) | ((fwd_min < lo) & (bwd_max > hi))
    return out


def _erode_mm(region: np.ndarray, r_mm: float, spacing) -> np.ndarray:
    """Erosion by an approximate ball of ``r_mm`` (cheap, as in :func:`_open`)."""
    out = region
    for st in _ball_steps(r_mm, spacing):
        out = ndi.binary_erosion(out, structure=st)
    return out


def _ball_steps(r_mm: float, spacing) -> list[np.ndarray]:
    """Small structuring elements whose successive application approximates a ball."""
    dz, dy, dx = spacing
    n_xy = max(1, int(round(r_mm / min(dy, dx))))
    n_z = int(r_mm // dz)
    cross = np.zeros((1, 3, 3), bool)
    cross[0] = ndi.generate_binary_structure(2, 1)
    square = np.ones((1, 3, 3), bool)
    line = np.ones((3, 1, 1), bool)
    return [cross if i % 2 == 0 else square for i in range(n_xy)] + [line] * n_z


def _open(region: np.ndarray, r_mm: float, spacing) -> np.ndarray:
    """Opening by an approximate ball of ``r_mm`` (alternating cross / square
    in-plane steps, line steps across slices; cheap at any size) followed by a
    reconstruction one voxel further inside ``region``."""
    steps = _ball_steps(r_mm, spacing)
    out = region
    for st in steps:
        out = ndi.binary_erosion(out, structure=st)
    # dilate one voxel further within the region: bumps of the outline come back,
    # thin bridges (and what lies beyond them) do not
    for st in [*reversed(steps), steps[0]]:
        out = ndi.binary_dilation(out, structure=st) & region
    return out


def _quick_extent_mm(arr, seed, spacing) -> float:
    """In-plane size (mm) of the seed's blob on its own slice (a cheap 2-D pass that
    sizes the 3-D search box)."""
    dz, dy, dx = spacing
    k, j, i = seed
    r = (MAX_RADIUS_MM / dy, MAX_RADIUS_MM / dx)
    sl = (
        slice(max(0, int(j - r[0])), min(arr.shape[1], int(j + r[0]) + 1)),
        slice(max(0, int(i - r[1])), min(arr.shape[2], int(i + r[1]) + 1)),
    )
    img = ndi.gaussian_filter(arr[k][sl].astype(np.float32), (SMOOTH_MM / dy, SMOOTH_MM / dx))
    s2 = (j - sl[0].start, i - sl[1].start)
    rb = max(1, int(round(SEED_BALL_MM / dy)))
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
    flags: list[tuple[float, str]] = []
    while True:
        box = _box(seed, radius / spacing, shape)
        raw = volume_array[box].astype(np.float32)
        smooth = ndi.gaussian_filter(raw, _sigma_vox(spacing), truncate=3.0)
        s = seed - np.array([b.start for b in box])
        result = _segment_crop(raw, smooth, s, spacing)
        if result is None:
            return None
        region, lo, hi, mu, noise, info, crop_flags = result
        if _touches_border(region, box, shape) and radius < MAX_RADIUS_MM:
            nz = np.nonzero(region)
            ext = max((np.ptp(a) + 1) * sp for a, sp in zip(nz, spacing, strict=True))
            radius = float(min(MAX_RADIUS_MM, max(radius * 1.6, 0.6 * ext + 12.0)))
            continue
        if _touches_border(region, box, shape):
            flags.append(
                (
                    0.1,
                    f"the outline leaks: it reaches the {2 * MAX_RADIUS_MM:.0f} mm search box "
                    "(no clear edge around the seed)",
                )
            )
        flags.extend(crop_flags)
        return Segmentation(box, region, smooth, lo, hi, mu, noise, info, flags)


def _segment_crop(raw, smooth, s, spacing):
    mu, spread, noise = _seed_stats(smooth, raw, s, spacing)
    band = float(np.clip(3.0 * spread, 8.0, 25.0))
    mu0, band0 = mu, band
    region = _component_at(np.abs(smooth - mu) <= band, s, spacing)
    if region is None:
        return None
    flags: list[tuple[float, str]] = []
    info: dict = {}
    opened_share = 0.0
    lo = np.full(smooth.shape, mu - band, np.float32)
    hi = np.full(smooth.shape, mu + band, np.float32)
    pad = tuple(int(math.ceil(9.0 / sp)) + 1 for sp in spacing)
    converged = False
    for _ in range(MAX_ITERATIONS):
        # work in a box around the region: it may grow by ~5 mm per iteration
        bb = _bbox(region, pad)
        reg = region[bb]
        sm = smooth[bb]
        near = _blur(reg, 1.5, spacing, truncate=4.0)
        shell = (near > 0.001) & (near < 0.05) & ~reg
        lo_b, hi_b, info = _local_limits(sm, reg, shell, mu, band, spacing)
        lo[...] = lo_b.flat[0] if lo_b.size else lo[...]
        hi[...] = hi_b.flat[0] if hi_b.size else hi[...]
        lo[bb], hi[bb] = lo_b, hi_b
        cand = (sm >= lo_b) & (sm <= hi_b) & ((near > 3e-4) | reg)
        cand &= ~_rim(sm, lo_b, hi_b, spacing)
        sb = s - np.array([b.start for b in bb])
        base = _component_at(cand, sb, spacing)
        if base is None:
            return None
        r_in = _inscribed_radius_mm(base, spacing)
        r_open = float(np.clip(0.25 * r_in, min(spacing[1:]) * 1.01, OPEN_MM))
        new = _component_at(_open(base, r_open, spacing), sb, spacing)
        if new is None:
            new = base
        opened_share = 1.0 - new.sum() / max(base.sum(), 1)
        new = _fill_holes(new)
        full = np.zeros(smooth.shape, bool)
        full[bb] = new
        changed = (full ^ region).sum() / max(full.sum(), 1)
        region = full
        # lesion statistics from the core, beyond the blur of its edge; the level
        # must stay near the seed's (a region that leaked must not drag it away)
        core = _erode_mm(new, 2.5, spacing)
        if core.sum() >= 30:
            vals = sm[core]
            m = float(np.median(vals))
            if abs(m - mu0) <= band0:
                mu = m
                spread = 1.4826 * float(np.median(np.abs(vals - mu)))
                band = float(np.clip(3.0 * spread, 8.0, max(band0, 25.0)))
        if changed < 0.01:
            converged = True
            break
    info["converged"] = converged
    # confidence flags
    sides = [m for m in (info.get("dark"), info.get("bright")) if m is not None]
    if sides:
        contrast = min(abs(mu - m) for m in sides)
        cnr = contrast / max(noise, 1.0)
        if cnr < 1.0:
            flags.append(
                (0.4, f"low contrast at the edge ({contrast:.0f} HU for {noise:.0f} HU noise)")
            )
    else:
        flags.append((0.5, "no tissue distinct from the lesion found around it"))
    if not converged:
        flags.append((0.4, "the outline kept growing: it may leak into a touching structure"))
    if opened_share > 0.25:
        flags.append(
            (
                0.5,
                f"the lesion merges with a touching structure of similar density "
                f"({100 * opened_share:.0f} % cut away): check the outline",
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
    info["opened_share"] = opened_share
    return region, lo, hi, mu, noise, info, flags


def _fill_holes(region: np.ndarray) -> np.ndarray:
    out = ndi.binary_fill_holes(region)
    for k in range(out.shape[0]):  # also per slice: holes open at the top or bottom
        if out[k].any():
            out[k] = ndi.binary_fill_holes(out[k])
    return out


def _bbox(mask: np.ndarray, pad: tuple[int, int, int]):
    nz = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    return tuple(
        slice(max(0, int(n[0]) - p), min(mask.shape[ax], int(n[-1]) + p + 1))
        for ax, (n, p) in enumerate(zip(nz, pad, strict=True))
    )


def _inscribed_radius_mm(region, spacing) -> float:
    bb = _bbox(region, (1, 1, 1))
    sub = region[bb]
    if sub.size > 400_000:  # coarse is enough for an opening radius
        sub = sub[:, ::2, ::2]
        spacing = (spacing[0], spacing[1] * 2, spacing[2] * 2)
    return float(ndi.distance_transform_edt(sub, sampling=spacing).max())


def slice_outline(seg: Segmentation, k: int, spacing) -> list[np.ndarray]:
    """Sub-pixel outline of the region on crop slice ``k`` as polygons ``(n, 2)`` of
    crop ``(row, col)`` indices.

    The outline is the zero level of ``min(smooth − lo, hi − smooth)`` (the two
    half-maximum edges) where it agrees with the region; where it does not (a bridge
    cut by the opening, a filled hole) the region's own boundary is used.
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
