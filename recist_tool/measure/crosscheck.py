"""A second, independent outline of a segmented lesion, to cross-check its axes.

The primary segmentation (:mod:`recist_tool.measure.segment`) puts the edge at the
half-maximum between the lesion's level and the tissue it estimates right outside;
where that estimate is off (a low-contrast side, a lobe, an end) its outline can be
2–4 mm off while every global check looks fine. This module outlines the lesion
again by another principle — the **watershed of the gradient magnitude**
(scikit-image), i.e. the edge where the image changes fastest, wherever the levels
are — between markers:

- *inside*: voxels deeper than min(4 mm, half the inscribed radius) in the primary
  region (its body, far from any edge the two methods could disagree on);
- *outside*: voxels more than 5 mm from the primary region, and voxels beyond the
  level of the tissue around them (past the primary's threshold by as much again as
  the threshold lies from the lesion's level): clearly not lesion, so that a strong
  edge between two other tissues (lung and chest wall, fat and an enhanced vessel)
  next to the lesion cannot capture the watershed.

The watershed is flooded from both markers: the boundary falls on the strongest
edge between them. :func:`watershed_outline` returns that region; :mod:`propose`
measures it on the measured slice and lowers the confidence when the two outlines'
axes disagree by more than the accuracy asked of an axis.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Inner marker: depth (mm) inside the primary region, at most ...
INNER_MM = 4.0
#: ... and at most this share of its inscribed radius (small lesions keep a core).
INNER_SHARE = 0.5
#: Outer marker: distance (mm) outside the primary region.
OUTER_MM = 5.0
#: Gaussian (mm) of the gradient magnitude, on the already smoothed crop.
GRADIENT_MM = 0.5
#: Slices thicker than this (mm) are outlined one by one (see :func:`watershed_outline`).
SLICE_BY_SLICE_MM = 2.5


def watershed_outline(seg) -> np.ndarray | None:
    """The lesion outlined by a marker watershed on the gradient magnitude.

    Parameters
    ----------
    seg : recist_tool.measure.segment.Segmentation
        The primary segmentation (its region, smoothed crop and thresholds).

    Returns
    -------
    numpy.ndarray or None
        A boolean region over ``seg.region``'s grid, or None when the primary region
        has no core deep enough to be a marker.
    """
    reg = seg.region
    if not reg.any():
        return None
    sp = np.asarray(seg.spacing, float)
    # work in the primary region's box, padded beyond the outer marker
    pad = [int(np.ceil((OUTER_MM + 1.0) / s)) + 1 for s in sp]
    nz = [np.nonzero(reg.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    bb = tuple(
        slice(max(0, int(n[0]) - p), min(reg.shape[ax], int(n[-1]) + p + 1))
        for ax, (n, p) in enumerate(zip(nz, pad, strict=True))
    )
    r = reg[bb]
    sm = np.asarray(seg.smooth[bb], np.float32)
    lo, hi, mu = seg.lo[bb], seg.hi[bb], float(seg.mu)
    out = np.zeros(reg.shape, bool)
    if sp[0] > SLICE_BY_SLICE_MM:
        # thick slices: each slice outlined on its own (in 3-D a slice's neighbours are
        # as far as the markers' margins, and the flood across them made the outline
        # of a small lesion 3–4 mm smaller than the primary's, right or wrong)
        ws = np.zeros(r.shape, bool)
        for k in np.nonzero(r.any(axis=(1, 2)))[0]:
            one = _watershed(r[k], sm[k], lo[k], hi[k], mu, sp[1:])
            if one is not None:
                ws[k] = one
        if not ws.any():
            return None
    else:
        ws = _watershed(r, sm, lo, hi, mu, sp)
        if ws is None:
            return None
    out[bb] = ws
    return out


def _watershed(r, sm, lo, hi, mu: float, sp) -> np.ndarray | None:
    """The marker watershed of :func:`watershed_outline` on a 3-D box or one slice
    (``sp``: its spacing); None when the region has no core deep enough."""
    from skimage.segmentation import watershed

    sig = [GRADIENT_MM / s for s in sp]
    if len(sp) == 3 and sp[0] > 1.25:
        # across thick slices the image is not smoothed, nor is the gradient taken
        grad = np.stack([ndi.gaussian_gradient_magnitude(sl, sig[1:]) for sl in sm])
    else:
        grad = ndi.gaussian_gradient_magnitude(sm, sig)
    d_in = ndi.distance_transform_edt(r, sampling=sp)
    inner = d_in > min(INNER_MM, INNER_SHARE * float(d_in.max()))
    if not inner.any():
        return None
    d_out = ndi.distance_transform_edt(~r, sampling=sp)
    outer = (d_out > OUTER_MM) | (~r & ((sm < 2 * lo - mu) | (sm > 2 * hi - mu)))
    markers = np.zeros(r.shape, np.int32)
    markers[outer] = 2
    markers[inner] = 1
    return ndi.binary_fill_holes(watershed(grad, markers) == 1)
