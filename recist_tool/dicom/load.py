"""Load one series into a :class:`~recist_tool.dicom.volume.Volume`.

Native (uncompressed little-endian 16-bit) pixel bytes are read with
``readinto`` at the offsets found by the header pass, straight into a
preallocated ``int16`` volume, then sign-extended / masked, padded and rescaled
in place slice by slice — no float64 copy of the volume ever exists.
Compressed slices go through pydicom with an explicitly chosen decoder plugin.
"""

from __future__ import annotations

import itertools
import os
import warnings
from typing import Literal

import numpy as np
from pydicom.uid import RLELossless

from recist_tool.dicom.decoders import (
    DATASET_SYNTAXES,
    NATIVE_SYNTAXES,
    choose_plugin,
    syntax_name,
)
from recist_tool.dicom.errors import (
    NoDicomFoundError,
    NonCTModalityWarning,
    SeriesSelectionError,
    TiltResampledWarning,
    UnreadableFileError,
)
from recist_tool.dicom.geometry import Slice, VolumePlan, plan_volume
from recist_tool.dicom.headers import ImageHeader
from recist_tool.dicom.scan import group_series, read_headers, warn_skipped
from recist_tool.dicom.volume import Volume

INT16_MIN, INT16_MAX = -32768, 32767
CT_PADDING_FILL = -1024  # padded (outside the field of view) voxels become air


class _Promote(Exception):
    """Internal: a slice does not fit in int16; reload as float32."""


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
        f"{path}: {len(candidates or groups)} series found; choose one with series_uid "
        f"(CLI: --series UID):\n{listing}"
    )


def _stored_range(h: ImageHeader) -> tuple[int, int]:
    bs = h.bits_stored or h.bits_allocated
    if h.pixel_representation == 1:
        return -(1 << (bs - 1)), (1 << (bs - 1)) - 1
    return 0, (1 << bs) - 1


def _choose_dtype(slices: list[Slice]) -> np.dtype:
    """int16 when every slope is 1 and every intercept an integer, else float32."""
    for s in slices:
        f = s.frame
        if f.slope != 1.0 or float(f.intercept) != round(f.intercept):
            return np.dtype(np.float32)
        if s.header.bits_allocated > 16:
            return np.dtype(np.float32)
    return np.dtype(np.int16)


def _pad_mask(stored: np.ndarray, h: ImageHeader) -> np.ndarray | None:
    if h.padding_value is None:
        return None
    if h.padding_limit is not None:
        lo, hi = sorted((h.padding_value, h.padding_limit))
        mask = (stored >= lo) & (stored <= hi)
    else:
        mask = stored == h.padding_value
    return mask if mask.any() else None


def _native_inplace(a: np.ndarray, s: Slice, fill: int) -> None:
    """Turn raw little-endian 16-bit stored values in ``a`` (int16) into HU, in place."""
    h, f = s.header, s.frame
    bs = h.bits_stored or 16
    lo, hi = _stored_range(h)
    icpt = round(f.intercept)
    if h.pixel_representation == 1:
        if bs < 16:  # sign-extend: shift the sign bit to bit 15 and back
            np.left_shift(a, 16 - bs, out=a)
            np.right_shift(a, 16 - bs, out=a)
        stored = a
    else:
        stored = a.view(np.uint16)
        if bs < 16:  # high bits may hold overlays or garbage
            np.bitwise_and(stored, (1 << bs) - 1, out=stored)
    mask = _pad_mask(stored, h)
    if (h.pixel_representation == 0 and bs == 16) or not (
        lo + icpt >= INT16_MIN and hi + icpt <= INT16_MAX
    ):
        # Theoretical range does not fit: check the actual values.
        vals = stored if mask is None else stored[~mask]
        if vals.size:
            mn, mx = int(vals.min()) + icpt, int(vals.max()) + icpt
            if mn < INT16_MIN or mx > INT16_MAX:
                raise _Promote
        if h.pixel_representation == 0 and bs == 16:
            a[...] = (stored.astype(np.int32) + icpt).clip(INT16_MIN, INT16_MAX)
            icpt = 0
    if icpt:
        np.add(a, icpt, out=a, casting="unsafe")
    if mask is not None:
        a[mask] = fill


def _store(out: np.ndarray, k: int, stored: np.ndarray, s: Slice, fill: float) -> None:
    """Write rescaled ``stored`` values of slice ``s`` into ``out[k]``."""
    f = s.frame
    mask = _pad_mask(stored, s.header)
    if out.dtype == np.int16:
        vals = stored.astype(np.int32) + round(f.intercept)
        check = vals if mask is None else vals[~mask]
        if check.size and (check.min() < INT16_MIN or check.max() > INT16_MAX):
            raise _Promote
        out[k] = np.clip(vals, INT16_MIN, INT16_MAX)
    else:
        np.multiply(stored, np.float32(f.slope), out=out[k], casting="unsafe")
        out[k] += np.float32(f.intercept)
    if mask is not None:
        out[k][mask] = fill


def _read_native(h: ImageHeader, frame: int, buf: np.ndarray, fd_cache: dict) -> None:
    offset = h.pixel_offset + frame * h.frame_bytes
    fd = fd_cache.get(h.path)
    if fd is None:
        fd = fd_cache[h.path] = os.open(h.path, os.O_RDONLY)
    view = memoryview(buf).cast("B")
    n = os.preadv(fd, [view], offset) if hasattr(os, "preadv") else _pread_into(fd, view, offset)
    if n != h.frame_bytes:
        raise UnreadableFileError(
            f"{h.path}: truncated pixel data — read {n} of {h.frame_bytes} bytes of frame "
            f"{frame + 1} at offset {offset}"
        )


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    data = os.pread(fd, len(view), offset)
    view[: len(data)] = data
    return len(data)


def _decode(s: Slice, cache: dict) -> np.ndarray:
    """Stored values of a compressed / non-native frame via pydicom and a chosen plugin."""
    import pydicom
    from pydicom.pixels import pixel_array

    h = s.header
    plugin = choose_plugin(h.transfer_syntax, where=h.path) or ""

    def decode_all():
        if h.transfer_syntax in DATASET_SYNTAXES:  # deflated / big endian: parse it all
            return pixel_array(pydicom.dcmread(h.path))
        if h.transfer_syntax == RLELossless:
            ds = pydicom.dcmread(h.path)
            _check_rle(ds, h)
            return pixel_array(ds, decoding_plugin=plugin)
        return pixel_array(h.path, decoding_plugin=plugin)

    try:
        if h.number_of_frames > 1:
            if h.path not in cache:  # decode a multi-frame object once
                cache.clear()
                cache[h.path] = decode_all()
            arr = cache[h.path][s.frame.index]
        else:
            arr = decode_all()
    except Exception as exc:  # decoders raise assorted errors on damaged data
        raise UnreadableFileError(
            f"{h.path}: cannot decode {syntax_name(h.transfer_syntax)} pixel data with "
            f"{plugin or 'pydicom'} ({type(exc).__name__}: {exc})"
        ) from exc
    if arr.shape != (h.rows, h.columns):
        raise UnreadableFileError(
            f"{h.path}: decoded frame has shape {arr.shape}, expected ({h.rows}, {h.columns})"
        )
    return arr


def _check_rle(ds, h: ImageHeader) -> None:
    """Validate RLE segment headers: pylibjpeg-rle (5× faster than pydicom's decoder)
    silently decodes a frame whose segment count is wrong into garbage."""
    from pydicom.encaps import generate_frames

    expected = h.samples_per_pixel * (h.bits_allocated // 8)
    for i, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=h.number_of_frames)):
        nseg = int.from_bytes(frame[:4], "little")
        offsets = [int.from_bytes(frame[4 + 4 * j : 8 + 4 * j], "little") for j in range(nseg)]
        if (
            nseg != expected
            or len(frame) < 64
            or offsets[0] != 64
            or any(b <= a for a, b in itertools.pairwise(offsets))
            or offsets[-1] >= len(frame)
        ):
            raise ValueError(
                f"frame {i + 1}: RLE header lists {nseg} segment(s) at {offsets[:4]}, "
                f"expected {expected} within {len(frame)} bytes"
            )


def read_pixels(plan: VolumePlan, dtype: np.dtype, fill: float) -> np.ndarray:
    """Read every slice of ``plan`` into a new ``(z, y, x)`` array of ``dtype``."""
    h0 = plan.slices[0].header
    out = np.empty((len(plan.slices), h0.rows, h0.columns), dtype=dtype)
    tmp = np.empty((h0.rows, h0.columns), dtype=np.int16)  # float path / checks
    fds: dict[str, int] = {}
    cache: dict = {}
    try:
        for k, s in enumerate(plan.slices):
            h = s.header
            if h.native:
                if dtype == np.int16:  # straight into the volume, converted in place
                    _read_native(h, s.frame.index, out[k], fds)
                    _native_inplace(out[k], s, int(fill))
                else:
                    _read_native(h, s.frame.index, tmp, fds)
                    stored = tmp if h.pixel_representation == 1 else tmp.view(np.uint16)
                    stored = _sign_fix(stored, h)
                    _store(out, k, stored, s, fill)
            else:
                _store(out, k, _decode(s, cache), s, fill)
            if len(fds) > 64:
                _close(fds)
    finally:
        _close(fds)
    return out


def _sign_fix(stored: np.ndarray, h: ImageHeader) -> np.ndarray:
    bs = h.bits_stored or 16
    if bs >= 16:
        return stored
    if h.pixel_representation == 1:
        shift = 16 - bs
        return (stored.astype(np.int16) << shift) >> shift
    return stored & np.uint16((1 << bs) - 1)


def _close(fds: dict) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


def _resample_tilt(arr: np.ndarray, shear: np.ndarray, fill: float) -> np.ndarray:
    from scipy.ndimage import shift

    for k in range(arr.shape[0]):
        if np.any(shear[k]):
            res = shift(arr[k].astype(np.float32), shear[k], order=1, cval=fill)
            arr[k] = np.rint(res) if arr.dtype == np.int16 else res
    return arr


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


def load_series(
    path: str | os.PathLike,
    series_uid: str | None = None,
    *,
    tilt: Literal["error", "resample"] = "error",
    acquisition: int | None = None,
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
        extra = (
            f"; {len(damaged)} damaged DICOM file(s), e.g. {damaged[0][0]}: {damaged[0][1]}"
            if damaged
            else ""
        )
        raise NoDicomFoundError(f"{p}: no DICOM image found{extra}")
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
        good, tilt=tilt, acquisition=acquisition, skipped=[os.path.basename(f) for f, _ in skipped]
    )
    warn_skipped(skipped, plan.folder, "; the rest of the series is whole")
    h0 = plan.slices[0].header
    is_ct = h0.modality == "CT"
    if not is_ct:
        warnings.warn(
            f"{plan.folder}: series {uid} is {h0.modality or 'of unknown modality'}, not CT; "
            "values are rescaled stored values, not Hounsfield units",
            NonCTModalityWarning,
            stacklevel=2,
        )
    fill = CT_PADDING_FILL if is_ct else 0
    dtype = _choose_dtype(plan.slices)
    try:
        arr = read_pixels(plan, dtype, fill)
    except _Promote:
        arr = read_pixels(plan, np.dtype(np.float32), fill)
    if plan.shear_px is not None:
        arr = _resample_tilt(arr, plan.shear_px, fill)
        warnings.warn(
            f"{plan.folder}: gantry tilt of {plan.tilt_deg:.2f}° resampled onto an orthogonal "
            "grid (linear interpolation)",
            TiltResampledWarning,
            stacklevel=2,
        )
    multi = any(s.header.multiframe for s in plan.slices)
    thick = [s.frame.slice_thickness for s in plan.slices if s.frame.slice_thickness]
    return Volume(
        array=arr,
        spacing_zyx=tuple(float(v) for v in plan.spacing_zyx),
        origin_lps=plan.origin_lps,
        direction=plan.direction,
        slice_thickness=float(np.median(thick)) if thick else None,
        sop_instance_uids=tuple(s.header.sop_instance_uid for s in plan.slices),
        frame_numbers=tuple(s.frame.index + 1 for s in plan.slices) if multi else None,
        window=h0.window,
        metadata=_metadata(plan, [s.header.transfer_syntax for s in plan.slices]),
    )


__all__ = ["NATIVE_SYNTAXES", "load_series", "select_series"]
