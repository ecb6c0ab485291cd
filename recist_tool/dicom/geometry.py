"""From the headers of one series to a checked slice order and volume geometry.

No pixel is read here, so :func:`recist_tool.dicom.scan` can tell whether a
series is loadable. The rules follow the field notes: drop localizers by
ImageType *and* orientation outliers; check size/spacing/orientation agree; sort
by ImagePositionPatient projected on the slice normal; from the position gaps
detect duplicates, missing slices, uneven spacing; z spacing is the median gap;
tilt is the angle between the slice step and the normal.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from recist_tool.dicom.errors import (
    DuplicatePositionError,
    GantryTiltError,
    MissingSliceError,
    MixedGeometryError,
    NotAVolumeError,
    UnevenSpacingError,
)
from recist_tool.dicom.headers import FrameGeometry, ImageHeader

ORIENTATION_TOL = 1e-3  # direction cosines that differ by less are the same
DUPLICATE_TOL_MM = 0.01  # two positions closer than this along the normal coincide
TILT_TOL_DEG = 0.05  # slice step further than this from the normal is a tilt


@dataclass
class Slice:
    """One 2-D image of the volume: a frame of a file."""

    header: ImageHeader
    frame: FrameGeometry

    def where(self) -> str:
        """``file`` or ``file frame N`` for messages."""
        name = os.path.basename(self.header.path)
        return f"{name} frame {self.frame.index + 1}" if self.header.multiframe else name


@dataclass
class VolumePlan:
    """A checked slice order with the geometry of the volume it makes."""

    slices: list[Slice]
    spacing_zyx: tuple[float, float, float]
    origin_lps: tuple[float, float, float]
    direction: tuple[float, ...]
    folder: str
    shear_px: np.ndarray | None = None  # (n, 2) row/col shift per slice when resampling tilt
    tilt_deg: float = 0.0
    dropped: list[str] = field(default_factory=list)  # localizers left out
    notes: list[str] = field(default_factory=list)


def _common_folder(headers: list[ImageHeader]) -> str:
    try:
        return os.path.commonpath([os.path.dirname(h.path) for h in headers])
    except ValueError:
        return os.path.dirname(headers[0].path)


def _series_label(headers: list[ImageHeader], folder: str) -> str:
    h = headers[0]
    num = f" #{h.series_number}" if h.series_number is not None else ""
    desc = f" '{h.series_description}'" if h.series_description else ""
    return f"series{num}{desc} ({h.series_instance_uid}) in {folder}"


def _cluster_orientations(slices: list[Slice]) -> list[list[Slice]]:
    groups: list[tuple[tuple[float, ...], list[Slice]]] = []
    for s in slices:
        o = tuple(s.frame.orientation.tolist())  # plain floats: 300 slices in < 1 ms
        for ref, members in groups:
            if ref == o or max(abs(a - b) for a, b in zip(ref, o, strict=True)) < ORIENTATION_TOL:
                members.append(s)
                break
        else:
            groups.append((o, [s]))
    return sorted((m for _, m in groups), key=len, reverse=True)


def _is_localizer(s: Slice) -> bool:
    return "LOCALIZER" in s.frame.image_type


def _check_same(slices: list[Slice], label: str) -> None:
    """Image size, pixel spacing and pixel format must agree across slices."""
    ref = slices[0]

    def fmt(h: ImageHeader) -> tuple:
        return (h.bits_allocated, h.samples_per_pixel, h.photometric)

    for s in slices[1:]:
        h, r = s.header, ref.header
        if (h.rows, h.columns) != (r.rows, r.columns):
            raise MixedGeometryError(
                f"{label}: mixed image size — {ref.where()} is {r.rows}×{r.columns} but "
                f"{s.where()} is {h.rows}×{h.columns}"
            )
        ps, pr = s.frame.pixel_spacing, ref.frame.pixel_spacing
        if (ps is None) != (pr is None) or (
            ps is not None
            and ps != pr
            and any(abs(a - b) > 1e-5 + 1e-4 * abs(b) for a, b in zip(ps, pr, strict=True))
        ):
            raise MixedGeometryError(
                f"{label}: mixed pixel spacing — {ref.where()} has {pr} mm but "
                f"{s.where()} has {ps} mm"
            )
        if fmt(h) != fmt(r):
            raise MixedGeometryError(
                f"{label}: mixed pixel format — {ref.where()} has (BitsAllocated, "
                f"SamplesPerPixel, Photometric) {fmt(r)} but {s.where()} has {fmt(h)}"
            )


def plan_volume(
    headers: list[ImageHeader],
    *,
    tilt: str = "error",
    acquisition: int | None = None,
    skipped: list[tuple[str, str]] | None = None,
) -> VolumePlan:
    """Order the slices of one series and compute the volume geometry.

    Parameters
    ----------
    headers : list of ImageHeader
        Readable image headers of a single series.
    tilt : {"error", "resample"}
        What to do with a gantry-tilted series.
    acquisition : int, optional
        Keep only slices with this AcquisitionNumber (a series holding two phases).
    skipped : list of (file name, why), optional
        Unreadable files already left out; named in gap errors (the first with why).

    Raises
    ------
    NotAVolumeError, MixedGeometryError, DuplicatePositionError, MissingSliceError,
    UnevenSpacingError, GantryTiltError
    """
    folder = _common_folder(headers)
    label = _series_label(headers, folder)
    skipped_note = ""
    if skipped:
        more = ", ".join(name for name, _ in skipped[1:5])
        skipped_note = (
            f" (unreadable file(s) skipped: {skipped[0][0]}: {skipped[0][1]}"
            f"{'; also ' + more if more else ''})"
        )
    slices = [Slice(h, f) for h in headers for f in h.frames]
    if acquisition is not None:
        slices = [s for s in slices if s.header.acquisition_number == acquisition]
        if not slices:
            have = sorted({h.acquisition_number for h in headers}, key=str)
            raise NotAVolumeError(
                f"{label}: no slice has AcquisitionNumber {acquisition} (present: {have})"
            )
    no_geom = [s for s in slices if s.frame.position is None or s.frame.orientation is None]
    if len(no_geom) == len(slices):
        raise NotAVolumeError(
            f"{label}: no slice has ImagePositionPatient/ImageOrientationPatient "
            f"(e.g. {slices[0].where()}); it is not a cross-sectional volume"
        )
    dropped = [s.where() + " (no position)" for s in no_geom]
    slices = [s for s in slices if s not in no_geom]

    # Localizers: by ImageType, then by orientation outliers.
    loc = [s for s in slices if _is_localizer(s)]
    slices = [s for s in slices if not _is_localizer(s)]
    dropped += [s.where() + " (ImageType LOCALIZER)" for s in loc]
    if not slices:
        raise NotAVolumeError(
            f"{label}: all {len(loc)} image(s) are localizers (scouts), no axial volume"
        )
    groups = _cluster_orientations(slices)
    if len(groups) > 1:
        main = groups[0]
        outliers = [s for g in groups[1:] for s in g]
        if len(outliers) <= max(2, len(slices) // 10) and len(main) >= 2 * len(outliers):
            dropped += [s.where() + " (orientation outlier)" for s in outliers]
            slices = main
        else:
            desc = ", ".join(
                f"{len(g)} × {np.round(g[0].frame.orientation, 3).tolist()}" for g in groups[:4]
            )
            raise MixedGeometryError(
                f"{label}: mixed orientation — {desc} (e.g. {groups[0][0].where()} vs "
                f"{groups[1][0].where()}); not one volume"
            )
    _check_same(slices, label)

    iop = slices[0].frame.orientation
    row, col = iop[:3], iop[3:]
    row = row / np.linalg.norm(row)
    col = col / np.linalg.norm(col)
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    pos = np.array([s.frame.position for s in slices])
    proj = pos @ normal
    inst = [s.header.instance_number or 0 for s in slices]
    order = sorted(range(len(slices)), key=lambda i: (proj[i], inst[i], slices[i].frame.index))
    slices = [slices[i] for i in order]
    pos, proj = pos[order], proj[order]
    ps_row, ps_col = slices[0].frame.pixel_spacing or (1.0, 1.0)
    direction = tuple(float(v) for v in np.column_stack([row, col, normal]).ravel())
    notes: list[str] = []
    if dropped:
        notes.append(f"left out {len(dropped)} image(s): {', '.join(dropped[:5])}")

    if len(slices) == 1:
        thick = slices[0].frame.slice_thickness
        dz = float(thick) if thick and thick > 0 else 1.0
        return VolumePlan(
            slices,
            (dz, float(ps_row), float(ps_col)),
            tuple(map(float, pos[0])),
            direction,
            folder,
            dropped=dropped,
            notes=notes,
        )

    gaps = np.diff(proj)
    dup = np.nonzero(gaps < DUPLICATE_TOL_MM)[0]
    if dup.size:
        i = int(dup[0])
        acq = sorted({s.header.acquisition_number for s in slices}, key=str)
        hint = (
            f"; it holds {len(acq)} acquisitions (AcquisitionNumber {', '.join(map(str, acq))})"
            f" — load one with acquisition=N"
            if len(acq) > 1
            else ""
        )
        raise DuplicatePositionError(
            f"{label}: {dup.size} duplicate slice position(s) — e.g. {slices[i].where()} and "
            f"{slices[i + 1].where()} both at {proj[i]:.3f} mm along the normal{hint}"
        )
    step = float(np.median(gaps))
    tol = max(DUPLICATE_TOL_MM, 0.01 * step)
    bad = np.nonzero(np.abs(gaps - step) > tol)[0]
    if bad.size:
        ratios = gaps[bad] / step
        missing = [
            (int(i), round(r))
            for i, r in zip(bad, ratios, strict=True)
            if r > 1.5 and abs(r - round(r)) * step <= tol
        ]
        if len(missing) == bad.size:
            where = "; ".join(
                f"{k - 1} missing between {slices[i].where()} ({proj[i]:.2f} mm) and "
                f"{slices[i + 1].where()} ({proj[i + 1]:.2f} mm)"
                for i, k in missing[:5]
            )
            total = sum(k - 1 for _, k in missing)
            raise MissingSliceError(
                f"{label}: {total} slice(s) missing (step {step:.3f} mm): {where}{skipped_note}"
            )
        i = int(bad[0])
        raise UnevenSpacingError(
            f"{label}: uneven slice spacing — gaps from {gaps.min():.3f} to {gaps.max():.3f} mm "
            f"(median {step:.3f}); e.g. {gaps[i]:.3f} mm between {slices[i].where()} and "
            f"{slices[i + 1].where()}{skipped_note}"
        )

    # Tilt: the mean step vector against the normal.
    vstep = (pos[-1] - pos[0]) / (len(slices) - 1)
    along = float(vstep @ normal)
    inplane = vstep - along * normal
    tilt_deg = math.degrees(math.atan2(float(np.linalg.norm(inplane)), abs(along)))
    shear = None
    if tilt_deg > TILT_TOL_DEG:
        if tilt != "resample":
            gt = slices[0].header.gantry_tilt
            tag = f", GantryDetectorTilt {gt:g}°" if gt is not None else ""
            raise GantryTiltError(
                f"{label}: gantry tilt — slices are stacked {tilt_deg:.2f}° off their normal"
                f"{tag}; an orthogonal grid would shear the anatomy. Load with "
                f"tilt='resample' (CLI: --tilt resample) to resample onto an orthogonal grid"
            )
        k = np.arange(len(slices))[:, None]
        shear = k * np.array([inplane @ col / ps_row, inplane @ row / ps_col])[None, :]
        notes.append(f"gantry tilt {tilt_deg:.2f}° resampled onto an orthogonal grid")
    return VolumePlan(
        slices,
        (abs(along) if shear is not None else step, float(ps_row), float(ps_col)),
        tuple(map(float, pos[0])),
        direction,
        folder,
        shear_px=shear,
        tilt_deg=tilt_deg if shear is not None else 0.0,
        dropped=dropped,
        notes=notes,
    )
