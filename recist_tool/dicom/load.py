"""Load one series into a :class:`~recist_tool.dicom.volume.Volume`.

Reads the headers (once), picks the series, checks and orders its slices
(:mod:`~recist_tool.dicom.geometry`), reads the pixels
(:mod:`~recist_tool.dicom.pixels`) and wraps it all with metadata.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Literal

import numpy as np

from recist_tool.dicom.decoders import choose_plugin, syntax_name
from recist_tool.dicom.errors import (
    AssumedSpacingWarning,
    LocalizerDroppedWarning,
    NonCTModalityWarning,
    SeriesSelectionError,
    TiltResampledWarning,
    UnreadableFileError,
    VolumeTooLargeError,
)
from recist_tool.dicom.geometry import VolumePlan, plan_volume
from recist_tool.dicom.headers import ImageHeader
from recist_tool.dicom.pixels import Promote, choose_dtype, read_pixels, resample_tilt
from recist_tool.dicom.scan import group_series, no_image_error, read_headers, warn_skipped
from recist_tool.dicom.stream import StreamedArray, streamable
from recist_tool.dicom.volume import Volume

CT_PADDING_FILL = -1024  # padded (outside the field of view) voxels become air


def _is_localizer_only(hs: list[ImageHeader]) -> bool:
    return all("LOCALIZER" in f.image_type for h in hs for f in h.frames)


def _describe(uid: str, hs: list[ImageHeader]) -> str:
    h = hs[0]
    return (
        f"  - {uid}: #{h.series_number} {h.modality} '{h.series_description}' "
        f"{len(hs)} image(s) in {os.path.dirname(h.path)}"
    )


def select_series(
    groups: dict[str, list[ImageHeader]], path: str, series_uid: str | None
) -> tuple[str, list[ImageHeader]]:
    """Pick the series to load; never silently among several CT volumes."""
    if series_uid is not None:
        if series_uid not in groups:
            listing = "\n".join(_describe(u, hs) for u, hs in groups.items())
            raise SeriesSelectionError(
                f"{path}: no series with SeriesInstanceUID {series_uid}; found:\n{listing}"
            )
        return series_uid, groups[series_uid]
    if len(groups) == 1:
        return next(iter(groups.items()))
    # Scout-only series are not volumes; prefer CT when CT is present.
    volumes = {u: hs for u, hs in groups.items() if not _is_localizer_only(hs)}
    ct = {u: hs for u, hs in volumes.items() if hs[0].modality == "CT"}
    candidates = ct or volumes
    if len(candidates) == 1:
        return next(iter(candidates.items()))
    listing = "\n".join(_describe(u, hs) for u, hs in (candidates or groups).items())
    raise SeriesSelectionError(
        f"{path}: {len(candidates or groups)} series found; choose one by its Series "
        f"Instance UID (recist-tool: --series UID):\n{listing}"
    )


def _metadata(plan: VolumePlan, ts: list[str]) -> dict:
    h = plan.slices[0].header
    return {
        "patient_id": h.patient_id,
        "patient_name": h.patient_name,
        "study_instance_uid": h.study_instance_uid,
        "study_date": h.study_date,
        "study_time": h.study_time,
        "study_description": h.study_description,
        "series_instance_uid": h.series_instance_uid,
        "series_number": h.series_number,
        "series_description": h.series_description,
        "modality": h.modality,
        "frame_of_reference_uid": h.frame_of_reference_uid,
        "sop_class_uid": h.sop_class_uid,
        "rows": h.rows,
        "columns": h.columns,
        "pixel_spacing": (plan.spacing_zyx[1], plan.spacing_zyx[2]),
        "transfer_syntax": " + ".join(sorted({syntax_name(t) for t in ts})),
        "folder": plan.folder,
        "files": tuple(s.header.path for s in plan.slices),
        "instance_numbers": tuple(s.header.instance_number for s in plan.slices),
        "dropped": list(plan.dropped),
        "tilt_deg": plan.tilt_deg,
        "notes": list(plan.notes),
    }


def _physical_memory() -> int | None:
    """Bytes of physical memory (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(plan: VolumePlan, dtype: np.dtype) -> None:
    """Refuse a volume larger than this machine's memory before allocating it."""
    h = plan.slices[0].header
    need = len(plan.slices) * h.rows * h.columns * dtype.itemsize
    have = _physical_memory()
    if have is not None and need > have:
        raise VolumeTooLargeError(
            f"{plan.folder}: the volume would take {need / 2**30:.1f} GiB "
            f"({len(plan.slices)} × {h.rows} × {h.columns} {dtype}), more than this "
            f"machine's {have / 2**30:.1f} GiB of memory"
        )


def load_series(
    path: str | os.PathLike,
    series_uid: str | None = None,
    *,
    tilt: Literal["error", "resample"] = "error",
    acquisition: int | None = None,
    stream: bool = False,
) -> Volume:
    """Load one CT series from a file or folder.

    Parameters
    ----------
    path : path-like
        A folder (walked recursively) or a single DICOM file.
    series_uid : str, optional
        SeriesInstanceUID to load; required when several CT series are present.
    tilt : {"error", "resample"}
        Gantry-tilted series raise :class:`GantryTiltError` by default; with
        ``"resample"`` each slice is shifted in-plane onto an orthogonal grid (linear
        interpolation) and a :class:`TiltResampledWarning` says so.
    acquisition : int, optional
        Keep only slices with this AcquisitionNumber (two phases in one series).
    stream : bool
        Return once the headers are read and checked, with the pixels read later,
        in a background thread: ``array`` is then a
        :class:`~recist_tool.dicom.stream.StreamedArray` (any single slice at once,
        the whole volume when read) when the series allows it — uncompressed,
        int16-safe, no tilt to resample — and a ``numpy.ndarray`` read now
        otherwise. Every check of the series runs before the call returns either
        way.

    Returns
    -------
    Volume
        ``array`` (z, y, x) int16 HU when the rescale allows it, else float32.

    Raises
    ------
    NoDicomFoundError, SeriesSelectionError, NotAVolumeError, MixedGeometryError,
    DuplicatePositionError, MissingSliceError, UnevenSpacingError, GantryTiltError,
    NoDecoderError, UnreadableFileError
        Each message names the folder, file or slice and what is wrong.
    """
    p = os.fspath(path)
    headers, damaged = read_headers(p)
    if not headers:
        raise no_image_error(p, damaged)
    uid, hs = select_series(group_series(headers), p, series_uid)
    good = [h for h in hs if h.problem is None]
    folders = {os.path.dirname(h.path) for h in hs}
    skipped = [(h.path, h.problem) for h in hs if h.problem] + [
        d for d in damaged if os.path.dirname(d[0]) in folders
    ]
    if not good:
        raise UnreadableFileError(
            f"{p}: no readable image in series {uid}; e.g. {skipped[0][0]}: {skipped[0][1]}"
        )
    for ts in sorted({h.transfer_syntax for h in good}):
        choose_plugin(ts, where=os.path.dirname(good[0].path))
    plan = plan_volume(
        good,
        tilt=tilt,
        acquisition=acquisition,
        skipped=[(os.path.basename(f), why) for f, why in skipped],
    )
    warn_skipped(skipped, plan.folder, "; the rest of the series is whole")
    if plan.dropped:
        warnings.warn(
            f"{plan.folder}: left {len(plan.dropped)} image(s) out of the volume: "
            f"{', '.join(plan.dropped[:5])}",
            LocalizerDroppedWarning,
            stacklevel=2,
        )
    h0 = plan.slices[0].header
    is_ct = h0.modality == "CT"
    window = h0.window
    rescale = (plan.slices[0].frame.slope, plan.slices[0].frame.intercept)
    if not is_ct:
        # Stored values as they are: no Hounsfield units to compute. The rescale goes
        # to the metadata and the window is expressed in stored values too.
        for s in plan.slices:
            s.frame = dataclasses.replace(s.frame, slope=1.0, intercept=0.0)
        if window is not None:
            slope, icpt = rescale
            window = ((window[0] - icpt) / slope, window[1] / abs(slope))
        warnings.warn(
            f"{plan.folder}: series {uid} is {h0.modality or 'of unknown modality'}, not CT; "
            f"loaded as stored values (not rescaled, not Hounsfield units; RescaleSlope "
            f"{rescale[0]:g}, RescaleIntercept {rescale[1]:g} in metadata['rescale'])",
            NonCTModalityWarning,
            stacklevel=2,
        )
    if plan.slices[0].frame.pixel_spacing is None:
        warnings.warn(
            f"{plan.folder}: series {uid} has no PixelSpacing; distances assume 1 mm pixels "
            f"(e.g. {plan.slices[0].where()}) and are not true millimetres",
            AssumedSpacingWarning,
            stacklevel=2,
        )
    fill = CT_PADDING_FILL if is_ct else 0
    dtype = choose_dtype(plan.slices)
    _check_memory(plan, dtype)
    try:
        if stream and streamable(plan, dtype):
            arr: np.ndarray | StreamedArray = StreamedArray(plan, int(fill))
        else:
            arr = read_pixels(plan, dtype, fill)
    except Promote:
        _check_memory(plan, np.dtype(np.float32))
        arr = read_pixels(plan, np.dtype(np.float32), fill)
    if plan.shear_px is not None:
        arr = resample_tilt(arr, plan.shear_px, fill)
        warnings.warn(
            f"{plan.folder}: gantry tilt of {plan.tilt_deg:.2f}° resampled onto an orthogonal "
            "grid (linear interpolation)",
            TiltResampledWarning,
            stacklevel=2,
        )
    multi = any(s.header.multiframe for s in plan.slices)
    metadata = _metadata(plan, [s.header.transfer_syntax for s in plan.slices])
    metadata["rescale"] = rescale
    metadata["values"] = "HU" if is_ct else "stored"
    thick = [s.frame.slice_thickness for s in plan.slices if s.frame.slice_thickness]
    return Volume(
        array=arr,
        spacing_zyx=tuple(float(v) for v in plan.spacing_zyx),
        origin_lps=plan.origin_lps,
        direction=plan.direction,
        slice_thickness=float(np.median(thick)) if thick else None,
        sop_instance_uids=tuple(s.header.sop_instance_uid for s in plan.slices),
        frame_numbers=tuple(s.frame.index + 1 for s in plan.slices) if multi else None,
        window=window,
        metadata=metadata,
    )


__all__ = ["load_series", "select_series"]
