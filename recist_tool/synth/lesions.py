"""Irregular lesions with known RECIST axes, and follow-up series with a known transform.

Built to test and benchmark measurement assistance (:mod:`recist_tool.measure`) and
registration (:mod:`recist_tool.register`) against the truth:

- :class:`IrregularLesion` — a lobulated, irregular solid: the union of ellipsoids
  (a main body and lobes on its surface) whose outline is modulated by low-order
  harmonics. Its signed distance (approximate away from the surface, exact sign) is
  analytic, so its true long and short axes on any axial plane come from the analytic
  outline (marching squares on the signed distance sampled at 0.2 mm, i.e. sub-0.01 mm
  outline error), and its true volume from a fine partial-volume integral.
- :class:`Tube` (a vessel) and :class:`HalfSpace` (an organ edge, the chest wall)
  that touch the lesion.
- :func:`lesion_scene` — a CT-like volume around one lesion at a site (liver, lung,
  lymph node), with partial volume, slice-thickness averaging, correlated noise, and
  the truth (:class:`SceneTruth`); :func:`random_scene` draws one at random with
  realistic noise (σ 10–20 HU) and contrast (20–60 HU against what the lesion
  touches).
- :func:`followup_pair` — a baseline body series and a follow-up of the same anatomy
  seen through a known transform (rigid + affine + mild smooth deformation) with
  lesions resized, and every lesion's true position in both.

Coordinates are DICOM patient LPS millimetres throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from recist_tool.dicom.volume import Volume

SITES = ("liver", "lung", "lymph_node")


# ----------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Blob:
    """An ellipsoid: ``offset`` from the lesion centre (mm), semi-axes ``axes``
    (along its own u, v, w), rotated by ``angle_deg`` in the axial plane and then
    tilted by ``tilt_deg`` about its u axis."""

    offset: tuple[float, float, float]
    axes: tuple[float, float, float]
    angle_deg: float = 0.0
    tilt_deg: float = 0.0

    def rotation(self) -> np.ndarray:
        """Matrix whose rows are the blob's u, v, w axes in LPS."""
        t, s = math.radians(self.angle_deg), math.radians(self.tilt_deg)
        rz = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
        rx = np.array([[1, 0, 0], [0, math.cos(s), -math.sin(s)], [0, math.sin(s), math.cos(s)]])
        return (rz @ rx).T


@dataclass(frozen=True)
class IrregularLesion:
    """A lobulated, irregular lesion: union of :class:`Blob` s; the first blob's outline
    is modulated by ``harmonics`` ``(m, amplitude, phase)`` around the axial plane
    (radius × (1 + Σ a cos(mθ + φ)), fading towards the poles)."""

    lesion_id: str
    site: str
    center_lps: tuple[float, float, float]
    blobs: tuple[Blob, ...]
    harmonics: tuple[tuple[int, float, float], ...] = ()
    hu: float = 40.0
    nodal: bool = False

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Approximate signed distance (mm; < 0 inside) at LPS ``points`` (..., 3).

        The sign is exact; the magnitude is the distance along the ray from each
        blob's centre, accurate near the surface (what partial volume needs).
        """
        p = np.asarray(points, dtype=float) - np.asarray(self.center_lps)
        out = None
        for i, blob in enumerate(self.blobs):
            d = (p - np.asarray(blob.offset)) @ blob.rotation().T
            a, b, c = blob.axes
            r = np.sqrt((d[..., 0] / a) ** 2 + (d[..., 1] / b) ** 2 + (d[..., 2] / c) ** 2)
            if i == 0 and self.harmonics:
                theta = np.arctan2(d[..., 1] / b, d[..., 0] / a)
                flat = np.sqrt((d[..., 0] / a) ** 2 + (d[..., 1] / b) ** 2)
                fade = flat / np.maximum(r, 1e-12)  # 1 in the axial plane, 0 at the poles
                mod = 1.0 + fade * sum(
                    amp * np.cos(m * theta + ph) for m, amp, ph in self.harmonics
                )
                r = r / mod
            norm = np.sqrt((d**2).sum(-1))
            sd = (r - 1.0) * norm / np.maximum(r, 1e-9)
            sd = np.where(r < 1e-9, -min(a, b, c), sd)
            out = sd if out is None else np.minimum(out, sd)
        assert out is not None
        return out

    def extent_mm(self) -> float:
        """Radius (mm) of a sphere about the centre that holds the lesion."""
        amp = 1.0 + sum(abs(h[1]) for h in self.harmonics)
        return max(float(np.linalg.norm(b.offset)) + max(b.axes) * amp for b in self.blobs)

    def moved(self, center_lps: Sequence[float]) -> IrregularLesion:
        """The same lesion at another centre."""
        return replace(self, center_lps=tuple(float(v) for v in center_lps))

    def scaled(self, factor: float) -> IrregularLesion:
        """The lesion grown or shrunk about its centre by ``factor``."""
        blobs = tuple(
            replace(
                b,
                offset=tuple(o * factor for o in b.offset),
                axes=tuple(a * factor for a in b.axes),
            )
            for b in self.blobs
        )
        return replace(self, blobs=blobs)


@dataclass(frozen=True)
class Tube:
    """A vessel: a cylinder through ``point`` along ``direction`` with ``radius`` mm."""

    point: tuple[float, float, float]
    direction: tuple[float, float, float]
    radius: float
    hu: float

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        d = np.asarray(points, float) - np.asarray(self.point)
        u = np.asarray(self.direction, float)
        u = u / np.linalg.norm(u)
        along = d @ u
        perp = np.sqrt(np.maximum((d**2).sum(-1) - along**2, 0.0))
        return perp - self.radius


@dataclass(frozen=True)
class HalfSpace:
    """Tissue beyond a plane: points ``x`` with ``(x - point) · normal > 0``."""

    point: tuple[float, float, float]
    normal: tuple[float, float, float]
    hu: float

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        n = np.asarray(self.normal, float)
        n = n / np.linalg.norm(n)
        return -((np.asarray(points, float) - np.asarray(self.point)) @ n)


Structure = Tube | HalfSpace


# ------------------------------------------------------------------------------ truth


@dataclass(frozen=True)
class TruthAxes:
    """True RECIST axes of a lesion on the axial planes of a series."""

    long_mm: float
    short_mm: float
    slice_index: int
    long_axis_lps: tuple[tuple[float, ...], tuple[float, ...]]
    short_axis_lps: tuple[tuple[float, ...], tuple[float, ...]]
    per_slice: dict[int, tuple[float, float]]  # slice -> (long, short)


def _plane_grid(geometry: Volume, k: int, center_lps, radius: float, step: float):
    """Sample points (rows, cols, 3) of slice ``k`` around ``center_lps``, on a fine
    grid aligned with the slice's row and column directions, and its in-plane origin."""
    d = geometry.direction_matrix
    xdir, ydir = d[:, 0], d[:, 1]
    centre_idx = geometry.lps_to_index(center_lps)
    plane_centre = geometry.index_to_lps((float(k), centre_idx[1], centre_idx[2]))
    n = math.ceil(2 * radius / step) + 3
    offs = (np.arange(n) - (n - 1) / 2) * step
    pts = (
        plane_centre[None, None, :]
        + offs[None, :, None] * xdir[None, None, :]
        + offs[:, None, None] * ydir[None, None, :]
    )
    return pts, plane_centre, offs[0]


def truth_axes(
    lesion: IrregularLesion, geometry: Volume, nodal: bool | None = None, step: float = 0.2
) -> TruthAxes | None:
    """True long and short axis of ``lesion`` on the axial planes of ``geometry``.

    Per slice, the outline is the zero level of the signed distance sampled every
    ``step`` mm in the plane (sub-sample interpolation); long axis = maximum Feret
    diameter, short axis = longest perpendicular (:mod:`recist_tool.measure.axes`).
    The slice is the one with the largest long axis (``nodal``: the largest short
    axis). None when the lesion crosses no slice.
    """
    from skimage.measure import find_contours

    from recist_tool.measure.axes import planar_axes

    nodal = lesion.nodal if nodal is None else nodal
    ext = lesion.extent_mm()
    kc = geometry.lps_to_index(lesion.center_lps)[0]
    dz = geometry.spacing_zyx[0]
    ks = range(
        max(0, math.floor(kc - ext / dz) - 1), min(geometry.shape[0], math.ceil(kc + ext / dz) + 2)
    )
    best = None
    per: dict[int, tuple[float, float]] = {}
    for k in ks:
        pts, _, off0 = _plane_grid(geometry, k, lesion.center_lps, ext, step)
        sd = lesion.signed_distance(pts)
        if not (sd < 0).any():
            continue
        contours = find_contours(-sd, 0.0)
        polys = [np.column_stack((off0 + c[:, 1] * step, off0 + c[:, 0] * step)) for c in contours]
        ax = planar_axes(polys)
        per[k] = (ax.long_mm, ax.short_mm)
        key = ax.short_mm if nodal else ax.long_mm
        if best is None or key > best[0]:
            best = (key, k, ax)
    if best is None:
        return None
    _, k, ax = best
    d = geometry.direction_matrix
    centre_idx = geometry.lps_to_index(lesion.center_lps)
    plane_centre = geometry.index_to_lps((float(k), centre_idx[1], centre_idx[2]))

    def to_lps(xy):
        return tuple(float(v) for v in plane_centre + xy[0] * d[:, 0] + xy[1] * d[:, 1])

    return TruthAxes(
        long_mm=ax.long_mm,
        short_mm=ax.short_mm,
        slice_index=k,
        long_axis_lps=(to_lps(ax.long_p1), to_lps(ax.long_p2)),
        short_axis_lps=(to_lps(ax.short_p1), to_lps(ax.short_p2)),
        per_slice=per,
    )


def truth_volume_ml(lesion: IrregularLesion, step: float | None = None) -> float:
    """Volume (mL) of the lesion: partial-volume integral of its signed distance on a
    grid of ``step`` mm (default: 1/100 of its extent, at least 0.2 mm)."""
    ext = lesion.extent_mm()
    step = step or max(0.2, ext / 50.0)
    axis = np.arange(-ext - step, ext + 2 * step, step)
    total = 0.0
    c = np.asarray(lesion.center_lps)
    for z in axis:  # slab by slab: bounded memory
        pts = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
        pts = np.concatenate([pts, np.full((*pts.shape[:-1], 1), z)], axis=-1) + c
        sd = lesion.signed_distance(pts)
        total += float(np.clip(0.5 - sd / step, 0.0, 1.0).sum())
    return total * step**3 / 1000.0


# ------------------------------------------------------------------------------ scenes

#: Background HU by site, and the HU of the tissue beyond an organ edge.
SITE_BACKGROUND = {"liver": 60.0, "lung": -850.0, "lymph_node": -100.0}


@dataclass
class SceneTruth:
    """What :func:`lesion_scene` drew: the lesion, what touches it, and the truth."""

    lesion: IrregularLesion
    structures: list[Structure]
    axes: TruthAxes
    volume_ml: float
    noise_hu: float
    contrast_hu: float  # |lesion − what it touches or lies in| (the hard edge)
    seed_lps: tuple[float, float, float]
    description: str = ""
    extra: dict = field(default_factory=dict)


def _axial_geometry(shape, spacing_zyx, center_lps) -> Volume:
    """An empty axial volume (identity direction) centred on ``center_lps``."""
    n = np.asarray(shape, float)
    sp = np.asarray(spacing_zyx, float)
    origin_zyx = -(n - 1) / 2 * sp  # offsets of voxel 0 from the centre, (z, y, x)
    origin = np.asarray(center_lps, float) + origin_zyx[::-1]
    return Volume(
        array=np.zeros(shape, np.int16),
        spacing_zyx=tuple(float(s) for s in sp),
        origin_lps=tuple(float(v) for v in origin),
        direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
    )


def render_points(
    points: np.ndarray,
    background: float | np.ndarray,
    structures: Sequence[Structure],
    lesions: Sequence[IrregularLesion],
    edge_mm: float,
) -> np.ndarray:
    """HU at ``points``: background, then structures, then lesions on top, each
    blended by a linear partial-volume ramp ``edge_mm`` wide centred on its surface."""
    hu = np.broadcast_to(np.asarray(background, np.float32), points.shape[:-1]).copy()
    for s in (*structures, *lesions):
        w = np.clip(0.5 - s.signed_distance(points) / edge_mm, 0.0, 1.0).astype(np.float32)
        hu += (np.float32(s.hu) - hu) * w
    return hu


def correlated_noise(shape, sigma_hu: float, rng: np.random.Generator, corr_px=0.7):
    """Gaussian noise with in-plane correlation (CT noise is not white) and std
    ``sigma_hu``."""
    from scipy.ndimage import gaussian_filter

    n = rng.standard_normal(shape).astype(np.float32)
    if corr_px > 0:
        n = gaussian_filter(n, sigma=(0, corr_px, corr_px))
        n /= max(float(n.std()), 1e-6)
    return n * np.float32(sigma_hu)


def render_volume(
    geometry: Volume,
    hu_fn,
    *,
    noise_hu: float,
    rng: np.random.Generator,
    z_samples: int = 3,
    psf_mm: float = 0.4,
) -> Volume:
    """Render ``hu_fn(points (..., 3)) -> HU`` on ``geometry``'s grid: each slice the
    mean of ``z_samples`` planes across its thickness (slice profile), an in-plane
    Gaussian blur (``psf_mm``, the scanner's point spread), noise, int16 HU."""
    from scipy.ndimage import gaussian_filter

    nz, ny, nx = geometry.shape
    _dz, dy, dx = geometry.spacing_zyx
    jj, ii = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    out = np.empty((nz, ny, nx), np.float32)
    offs = (np.arange(z_samples) - (z_samples - 1) / 2) / z_samples
    for k in range(nz):
        acc = np.zeros((ny, nx), np.float32)
        for o in offs:
            idx = np.stack([np.full_like(jj, k + o), jj, ii], axis=-1)
            acc += hu_fn(geometry.index_to_lps(idx))
        out[k] = acc / z_samples
    if psf_mm > 0:
        out = gaussian_filter(out, sigma=(0, psf_mm / dy, psf_mm / dx))
    if noise_hu > 0:
        out += correlated_noise(out.shape, noise_hu, rng)
    arr = np.clip(np.rint(out), -1024, 3071).astype(np.int16)
    return replace(geometry, array=arr, metadata=dict(geometry.metadata))


def make_lesion(
    rng: np.random.Generator,
    site: str,
    long_mm: float,
    center_lps=(0.0, 0.0, 0.0),
    hu: float = 40.0,
    lesion_id: str = "L",
) -> IrregularLesion:
    """A random lobulated, irregular lesion of about ``long_mm`` in-plane size.

    Nodes are smoother and more oval (bean-like); liver and lung lesions get 0–3
    lobes and a harmonic outline.
    """
    nodal = site == "lymph_node"
    a = long_mm / 2
    ratio = rng.uniform(0.55, 0.8) if nodal else rng.uniform(0.6, 0.95)
    b = a * ratio
    c = a * rng.uniform(0.6, 1.0)
    angle = rng.uniform(0, 180)
    tilt = rng.uniform(-20, 20)
    blobs = [Blob((0.0, 0.0, 0.0), (a, b, c), angle, tilt)]
    n_lobes = int(rng.integers(0, 2 if nodal else 4))
    for _ in range(n_lobes):
        phi = rng.uniform(0, 2 * math.pi)
        elev = rng.uniform(-0.4, 0.4)
        # a point on the main body's surface, in its own frame
        dirv = np.array([math.cos(phi) * math.cos(elev), math.sin(phi) * math.cos(elev), elev])
        surf = dirv / np.sqrt((dirv[0] / a) ** 2 + (dirv[1] / b) ** 2 + (dirv[2] / c) ** 2)
        rot = blobs[0].rotation().T
        size = rng.uniform(0.3, 0.5) * b
        depth = rng.uniform(0.2, 0.6)  # how far the lobe is sunk into the body
        off = rot @ (surf * (1 - depth * size / np.linalg.norm(surf)))
        blobs.append(
            Blob(
                tuple(float(v) for v in off),
                (size * rng.uniform(1.0, 1.4), size, size * rng.uniform(0.8, 1.1)),
                rng.uniform(0, 180),
                0.0,
            )
        )
    harmonics = []
    if not nodal:
        for m in rng.choice([3, 4, 5, 6, 7], size=int(rng.integers(1, 4)), replace=False):
            harmonics.append((int(m), float(rng.uniform(0.02, 0.07)), float(rng.uniform(0, 6.28))))
    else:
        harmonics.append((2, float(rng.uniform(0.0, 0.05)), float(rng.uniform(0, 6.28))))
    lesion = IrregularLesion(
        lesion_id, site, tuple(center_lps), tuple(blobs), tuple(harmonics), hu, nodal
    )
    # rescale so the largest axial extent is close to long_mm (lobes add to it)
    ext = _axial_extent(lesion)
    return lesion.scaled(long_mm / ext) if ext > 0 else lesion


def _axial_extent(lesion: IrregularLesion, step: float = 0.5) -> float:
    """Approximate maximum Feret diameter on the axial plane through the centre."""
    from skimage.measure import find_contours

    from recist_tool.measure.axes import feret_max

    ext = lesion.extent_mm()
    offs = np.arange(-ext - step, ext + 2 * step, step)
    xx, yy = np.meshgrid(offs, offs)
    pts = np.stack([xx, yy, np.zeros_like(xx)], -1) + np.asarray(lesion.center_lps)
    sd = lesion.signed_distance(pts)
    cs = find_contours(-sd, 0.0)
    if not cs:
        return 0.0
    return feret_max([c * step for c in cs])[0]


def _ray_to_surface(lesion: IrregularLesion, direction: np.ndarray) -> float:
    """Distance from the lesion centre to its surface along ``direction`` (bisection)."""
    c = np.asarray(lesion.center_lps, float)
    u = direction / np.linalg.norm(direction)
    lo, hi = 0.0, lesion.extent_mm() * 1.5
    for _ in range(40):
        mid = (lo + hi) / 2
        if lesion.signed_distance((c + mid * u)[None])[0] < 0:
            lo = mid
        else:
            hi = mid
    return lo


def lesion_scene(
    lesion: IrregularLesion,
    *,
    background_hu: float,
    structures: Sequence[Structure] = (),
    spacing_zyx=(2.0, 0.75, 0.75),
    margin_mm: float = 25.0,
    noise_hu: float = 15.0,
    contrast_hu: float = float("nan"),
    seed: int = 0,
    description: str = "",
    seed_offset: float | None = None,
) -> tuple[Volume, SceneTruth]:
    """Render a volume around ``lesion`` and compute its truth.

    The volume is axial, centred on the lesion, ``margin_mm`` beyond its extent; the
    seed (the reader's click) is a random point of the lesion's central region
    (``seed_offset`` × the distance to the surface from the centre, default random
    in 0–0.35), on a slice of the series.
    """
    rng = np.random.default_rng(seed)
    ext = lesion.extent_mm()
    half = ext + margin_mm
    shape = tuple(math.ceil(2 * half / s) | 1 for s in spacing_zyx)
    geo = _axial_geometry(shape, spacing_zyx, lesion.center_lps)
    edge = min(spacing_zyx[1:])
    vol = render_volume(
        geo,
        lambda p: render_points(p, background_hu, structures, [lesion], edge),
        noise_hu=noise_hu,
        rng=rng,
    )
    axes = truth_axes(lesion, vol)
    assert axes is not None
    # the click: near the centre of the measured slice's cross-section
    c = np.asarray(lesion.center_lps, float)
    k = axes.slice_index
    plane_c = vol.index_to_lps((float(k), *vol.lps_to_index(c)[1:]))
    phi = rng.uniform(0, 2 * math.pi)
    dirv = np.array([math.cos(phi), math.sin(phi), 0.0])
    frac = rng.uniform(0.0, 0.35) if seed_offset is None else seed_offset
    r = _ray_to_surface(lesion.moved(plane_c), dirv)
    seed_pt = plane_c + frac * r * dirv
    if lesion.signed_distance(seed_pt[None])[0] >= 0:  # centre outside on this slice
        seed_pt = plane_c
    truth = SceneTruth(
        lesion=lesion,
        structures=list(structures),
        axes=axes,
        volume_ml=truth_volume_ml(lesion),
        noise_hu=noise_hu,
        contrast_hu=contrast_hu,
        seed_lps=tuple(float(v) for v in seed_pt),
        description=description,
    )
    return vol, truth


def random_scene(
    seed: int,
    site: str | None = None,
    long_mm: float | None = None,
    contrast_hu: float | None = None,
    noise_hu: float | None = None,
    spacing_zyx=None,
    touching: str | None = None,
) -> tuple[Volume, SceneTruth]:
    """A random lesion scene with realistic noise and contrast.

    Parameters
    ----------
    seed : int
        Everything is drawn from it (same seed, same scene).
    site : {"liver", "lung", "lymph_node"}, optional
    long_mm : float, optional
        In-plane size (10–80 mm; lung 10–50, nodes 12–45 when drawn).
    contrast_hu : float, optional
        |lesion − the tissue it must be told from| (20–60): the liver around a liver
        lesion, the chest wall or vessel touching a lung nodule, the muscle or vessel
        touching a node.
    noise_hu : float, optional
        Noise standard deviation (10–20 HU).
    spacing_zyx : tuple, optional
        Slice step and pixel size (default: 1–2.5 mm slices, 0.65–0.85 mm pixels).
    touching : {"none", "vessel", "edge", "both"}, optional
    """
    rng = np.random.default_rng([seed, 12])
    site = site or SITES[int(rng.integers(0, 3))]
    lo, hi = {"liver": (10, 80), "lung": (10, 50), "lymph_node": (12, 45)}[site]
    long_mm = long_mm or float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    contrast = contrast_hu if contrast_hu is not None else float(rng.uniform(20, 60))
    noise = noise_hu if noise_hu is not None else float(rng.uniform(10, 20))
    if spacing_zyx is None:
        px = float(rng.uniform(0.65, 0.85))
        spacing_zyx = (float(rng.choice([1.0, 1.25, 2.0, 2.5])), px, px)
    touching = touching or str(
        rng.choice(["none", "vessel", "edge", "both"], p=[0.3, 0.3, 0.25, 0.15])
    )
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    if site == "liver":
        bg = float(rng.uniform(50, 110))  # unenhanced to portal venous parenchyma
        hu = bg + sign * contrast
        edge_hu, vessel_hu = -100.0, float(rng.uniform(150, 200))
    elif site == "lung":
        bg = -850.0
        hu = float(rng.uniform(10, 50))
        edge_hu = hu + sign * contrast  # chest wall / mediastinum
        vessel_hu = hu + sign * contrast
    else:
        bg = -100.0
        hu = float(rng.uniform(30, 60))
        edge_hu = hu + sign * contrast  # muscle (psoas, crus)
        vessel_hu = hu + sign * contrast if rng.uniform() < 0.5 else float(rng.uniform(150, 200))
    lesion = make_lesion(rng, site, long_mm, (0.0, 0.0, 0.0), hu, f"{site}-{seed}")
    structures: list[Structure] = []
    desc = [f"{site} {long_mm:.0f} mm, contrast {contrast:.0f} HU, noise {noise:.0f} HU"]
    if touching in ("edge", "both"):
        phi = rng.uniform(0, 2 * math.pi)
        n = np.array([math.cos(phi), math.sin(phi), rng.uniform(-0.3, 0.3)])
        n /= np.linalg.norm(n)
        r = _ray_to_surface(lesion, n)
        # plane at the surface or cutting into the lesion by up to 15 % of its radius
        depth = rng.uniform(0.0, 0.15) * r
        structures.append(HalfSpace(tuple(n * (r - depth)), tuple(n), edge_hu))
        desc.append(f"touches an edge ({edge_hu:.0f} HU)")
    if touching in ("vessel", "both"):
        phi = rng.uniform(0, 2 * math.pi)
        toward = np.array([math.cos(phi), math.sin(phi), rng.uniform(-0.2, 0.2)])
        toward /= np.linalg.norm(toward)
        r = _ray_to_surface(lesion, toward)
        vr = float(rng.uniform(1.5, 4.0) if site != "lymph_node" else rng.uniform(3.0, 8.0))
        along = np.cross(toward, rng.normal(size=3))
        along /= np.linalg.norm(along)
        indent = rng.uniform(0.0, 0.3) * vr
        structures.append(Tube(tuple(toward * (r + vr - indent)), tuple(along), vr, vessel_hu))
        desc.append(f"touches a vessel r={vr:.1f} mm ({vessel_hu:.0f} HU)")
    vol, truth = lesion_scene(
        lesion,
        background_hu=bg,
        structures=structures,
        spacing_zyx=spacing_zyx,
        noise_hu=noise,
        contrast_hu=contrast,
        seed=seed,
        description="; ".join(desc),
    )
    truth.extra.update(site=site, touching=touching, size_mm=long_mm, spacing_zyx=spacing_zyx)
    return vol, truth


# --------------------------------------------------------------------- follow-up pair


@dataclass(frozen=True)
class KnownTransform:
    """A known map between a baseline and a follow-up series of the same anatomy.

    :meth:`pull` takes a follow-up LPS point to the baseline anatomy:
    ``F(q) = c + B (q − c) + t + d(q)`` with ``B`` = rotation × (scale + shear) and
    ``d`` a smooth displacement (sines, amplitude ``deform_mm``, wavelength
    ``wavelength_mm``): rigid + affine + mild deformation. :meth:`push` is its inverse
    (the follow-up position of a baseline point), solved by fixed-point iteration.
    """

    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_deg: tuple[float, float, float] = (2.0, -1.5, 4.0)
    scale: tuple[float, float, float] = (1.02, 0.98, 1.01)
    shear: tuple[float, float, float] = (0.015, -0.01, 0.01)
    translation: tuple[float, float, float] = (6.0, -9.0, 12.0)
    deform_mm: float = 2.5
    wavelength_mm: float = 220.0

    @property
    def matrix(self) -> np.ndarray:
        """The 3 × 3 linear part ``B``."""
        ax, ay, az = (math.radians(a) for a in self.rotation_deg)
        rx = np.array(
            [[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]]
        )
        ry = np.array(
            [[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]]
        )
        rz = np.array(
            [[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]]
        )
        s = np.diag(self.scale)
        sx, sy, sz = self.shear
        s[0, 1], s[1, 2], s[0, 2] = sx, sy, sz
        return rz @ ry @ rx @ s

    def displacement(self, q: np.ndarray) -> np.ndarray:
        """The smooth deformation ``d(q)`` (mm)."""
        w = 2 * math.pi / self.wavelength_mm
        x, y, z = q[..., 0], q[..., 1], q[..., 2]
        d = np.stack(
            [
                np.sin(w * y + 0.3) * np.cos(w * z),
                np.sin(w * z + 1.1) * np.cos(w * x),
                np.sin(w * x + 2.0) * np.cos(w * y),
            ],
            axis=-1,
        )
        return self.deform_mm * d

    def pull(self, q: np.ndarray) -> np.ndarray:
        """Follow-up LPS points → baseline anatomy."""
        q = np.asarray(q, float)
        c = np.asarray(self.center)
        return c + (q - c) @ self.matrix.T + np.asarray(self.translation) + self.displacement(q)

    def push(self, p: np.ndarray) -> np.ndarray:
        """Baseline LPS points → follow-up (inverse of :meth:`pull`)."""
        p = np.asarray(p, float)
        c = np.asarray(self.center)
        inv = np.linalg.inv(self.matrix)
        q = c + (p - c - np.asarray(self.translation)) @ inv.T
        for _ in range(50):
            q = c + (p - c - np.asarray(self.translation) - self.displacement(q)) @ inv.T
        return q


@dataclass
class PairTruth:
    """What :func:`followup_pair` drew: lesions at baseline and follow-up, the
    transform, and every lesion's true centre in both series."""

    transform: KnownTransform
    baseline_lesions: list[IrregularLesion]
    followup_lesions: list[IrregularLesion]  # in baseline anatomy coordinates
    centers_baseline: np.ndarray  # (n, 3) LPS in the baseline series
    centers_followup: np.ndarray  # (n, 3) LPS in the follow-up series


def body_lesions(seed: int = 0) -> list[IrregularLesion]:
    """Six irregular lesions inside the body phantom of :mod:`recist_tool.synth.phantom`:
    two in the liver, two in the lungs, two retroperitoneal nodes."""
    rng = np.random.default_rng([seed, 77])
    spec = [
        ("liver", (-85.0, -25.0, -45.0), 36.0, 30.0),
        ("liver", (-50.0, 10.0, -95.0), 18.0, 95.0),
        ("lung", (85.0, -20.0, 60.0), 24.0, 30.0),
        ("lung", (-70.0, 15.0, 95.0), 14.0, 20.0),
        ("lymph_node", (45.0, 25.0, -60.0), 22.0, 45.0),
        ("lymph_node", (-5.0, 28.0, -120.0), 16.0, 40.0),
    ]
    return [
        make_lesion(rng, site, size, centre, hu, f"{site[:2].upper()}{i + 1}")
        for i, (site, centre, size, hu) in enumerate(spec)
    ]


def body_geometry(shape, spacing_zyx, *, z_center: float = -20.0, series_uid: str = "") -> Volume:
    """An empty axial volume centred in-plane on the body, at ``z_center``."""
    n = np.asarray(shape, float)
    sp = np.asarray(spacing_zyx, float)
    origin = np.array(
        [-(n[2] - 1) / 2 * sp[2], -(n[1] - 1) / 2 * sp[1], z_center - (n[0] - 1) / 2 * sp[0]]
    )
    return Volume(
        array=np.zeros(tuple(int(v) for v in shape), np.int16),
        spacing_zyx=tuple(float(v) for v in sp),
        origin_lps=tuple(float(v) for v in origin),
        direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        metadata={"series_instance_uid": series_uid, "modality": "CT"},
    )


def body_volume(
    shape=(60, 128, 128),
    spacing_zyx=(5.0, 3.0, 3.0),
    lesions: Sequence[IrregularLesion] = (),
    *,
    transform: KnownTransform | None = None,
    z_center: float = -20.0,
    noise_hu: float = 12.0,
    seed: int = 0,
    phase: int = 1,
    series_uid: str = "",
) -> Volume:
    """The body phantom (:func:`recist_tool.synth.phantom.body_hu`) with irregular
    lesions, seen through ``transform`` (follow-up) when given."""
    from recist_tool.synth.phantom import body_hu

    geo = body_geometry(shape, spacing_zyx, z_center=z_center, series_uid=series_uid)
    sp = np.asarray(spacing_zyx, float)
    edge = float(min(sp[1:]))

    def hu(points):
        p = points if transform is None else transform.pull(points)
        return render_points(p, body_hu(p, phase), [], list(lesions), edge)

    return render_volume(
        geo, hu, noise_hu=noise_hu, rng=np.random.default_rng([seed, 5]), z_samples=2
    )


def followup_pair(
    shape=(60, 128, 128),
    spacing_zyx=(5.0, 3.0, 3.0),
    *,
    transform: KnownTransform | None = None,
    shrink: float = 0.75,
    noise_hu: float = 12.0,
    seed: int = 0,
) -> tuple[Volume, Volume, PairTruth]:
    """A baseline series and a follow-up of the same body seen through a known
    transform (rigid + affine + mild deformation, :class:`KnownTransform`), lesions
    shrunk by ``shrink``, the follow-up in the other contrast phase.

    Returns
    -------
    (baseline, followup, truth)
    """
    transform = transform or KnownTransform()
    base = body_lesions(seed)
    fu = [les.scaled(shrink) for les in base]
    b = body_volume(shape, spacing_zyx, base, noise_hu=noise_hu, seed=seed, series_uid="2.25.1001")
    f = body_volume(
        shape,
        spacing_zyx,
        fu,
        transform=transform,
        noise_hu=noise_hu,
        seed=seed + 1,
        phase=2,
        series_uid="2.25.1002",
    )
    centres = np.array([les.center_lps for les in base], float)
    truth = PairTruth(transform, base, fu, centres, transform.push(centres))
    return b, f, truth
