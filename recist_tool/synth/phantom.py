"""Deterministic synthetic CT studies with lesions of known size.

The phantom is an analytic body in realistic Hounsfield units (air, fat, soft
tissue, liver, lung, contrast-filled aorta, bone) evaluated at the true LPS
position of every pixel, so any orientation, tilt or scout renders correctly.
Lesions are ellipsoids rotated in the axial plane: their RECIST long and short
axes are exactly ``2a`` and ``2b`` on the slice through their centre (centres
lie on slice positions).

Files are valid CT Image Storage objects (all Type 1/2 attributes, proper UIDs
derived deterministically from ``seed``) and can carry every defect the loader
must detect — see :func:`write_series`. The shipped ``sample_dicom/`` comes from
:func:`write_sample_study`.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Tissue values (HU).
AIR, FAT, SOFT, LIVER, LUNG, BLOOD, BONE, CORTEX = -1000, -100, 40, 60, -850, 160, 350, 900


@dataclass
class Lesion:
    """An ellipsoid lesion; axes in mm, ``angle_deg`` rotates the long axis in-plane.

    ``long_axis_mm``/``short_axis_mm`` are the full in-plane diameters (RECIST long
    and short axis on the central axial slice); ``z_axis_mm`` the cranio-caudal one.
    """

    lesion_id: str
    organ: str
    kind: str  # target | non_target
    nodal: bool
    center_lps: tuple[float, float, float]
    long_axis_mm: float
    short_axis_mm: float
    z_axis_mm: float
    angle_deg: float
    hu: float

    def scaled(self, long_mm: float, short_mm: float) -> Lesion:
        """The same lesion with new in-plane axes (z axis scaled with the long axis)."""
        z = self.z_axis_mm * long_mm / self.long_axis_mm
        return Lesion(
            self.lesion_id,
            self.organ,
            self.kind,
            self.nodal,
            self.center_lps,
            long_mm,
            short_mm,
            z,
            self.angle_deg,
            self.hu,
        )

    def axis_endpoints(self) -> dict[str, list[list[float]]]:
        """LPS end points of the long and short axes on the central slice."""
        c = np.array(self.center_lps)
        t = math.radians(self.angle_deg)
        u = np.array([math.cos(t), math.sin(t), 0.0])
        v = np.array([-math.sin(t), math.cos(t), 0.0])
        la, sa = self.long_axis_mm / 2, self.short_axis_mm / 2
        return {
            "long_axis_endpoints_lps": [(c - la * u).tolist(), (c + la * u).tolist()],
            "short_axis_endpoints_lps": [(c - sa * v).tolist(), (c + sa * v).tolist()],
        }


def baseline_lesions() -> list[Lesion]:
    """Liver and lung masses, an enlarged node (SA ≥ 15 mm) and a small non-target nodule."""
    return [
        Lesion("L1", "liver", "target", False, (-75.0, -15.0, -40.0), 42.0, 30.0, 30.0, 30.0, 15.0),
        Lesion("L2", "lung", "target", False, (85.0, -20.0, 60.0), 24.0, 16.0, 20.0, -20.0, 30.0),
        Lesion(
            "N1", "lymph_node", "target", True, (50.0, 25.0, -20.0), 28.0, 20.0, 20.0, 60.0, 45.0
        ),
        Lesion("NT1", "lung", "non_target", False, (-80.0, 10.0, 90.0), 8.0, 8.0, 8.0, 0.0, 20.0),
    ]


# Follow-up axes (long, short) of the sample study: a partial response.
FOLLOWUP_AXES = {"L1": (26.0, 19.0), "L2": (15.0, 11.0), "N1": (20.0, 12.0), "NT1": (8.0, 8.0)}


def _inside(x, y, cx, cy, a, b):
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0


def body_hu(p: np.ndarray, phase: int = 1) -> np.ndarray:
    """Noise-free body HU (no lesions) at LPS points ``p`` of shape (..., 3)."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    hu = np.full(x.shape, AIR, dtype=np.float32)
    body = _inside(x, y, 0, 0, 165, 115) & (np.abs(z) < 400)
    hu[body] = FAT
    hu[_inside(x, y, 0, 0, 153, 103) & body] = SOFT
    # Lungs above the diaphragm (z > 10) with a domed base.
    dome = np.sqrt(np.clip((z - 10.0) / 30.0, 0, 1))
    for cx in (-75.0, 75.0):
        lung = _inside(x, y, cx, -5, 55 * dome + 1e-6, 80 * dome + 1e-6) & (z > 10) & body
        hu[lung] = LUNG
    # Liver below it, on the patient's right (negative x).
    hu[_inside(x, y, -70, -10, 65, 75) & (z <= 10) & (z > -200)] = LIVER
    # Retroperitoneal fat around the aorta (abdomen), home of the lymph node.
    hu[_inside(x, y, 20, 32, 55, 30) & (z <= 0) & (z > -200)] = FAT + 10
    hu[_inside(x, y, 20, 45, 12, 12) & body] = BLOOD if phase == 1 else BLOOD + 150
    hu[_inside(x, y, 0, 70, 18, 18) & body] = CORTEX
    hu[_inside(x, y, 0, 70, 16, 16) & body] = BONE
    return hu


def lesion_weight(p: np.ndarray, lesion: Lesion, edge_mm: float) -> np.ndarray:
    """Partial-volume weight (0..1) of ``lesion`` at points ``p``; 0.5 on its surface."""
    d = p - np.asarray(lesion.center_lps)
    t = math.radians(lesion.angle_deg)
    u = d[..., 0] * math.cos(t) + d[..., 1] * math.sin(t)
    v = -d[..., 0] * math.sin(t) + d[..., 1] * math.cos(t)
    a, b, c = lesion.long_axis_mm / 2, lesion.short_axis_mm / 2, lesion.z_axis_mm / 2
    r = np.sqrt((u / a) ** 2 + (v / b) ** 2 + (d[..., 2] / c) ** 2)
    # Distance to the surface along the radius, approximately (r - 1) × local radius.
    rad = np.sqrt((u**2 + v**2 + d[..., 2] ** 2) / np.maximum(r**2, 1e-12))
    w = np.clip(0.5 - (r - 1.0) * rad / max(edge_mm, 1e-6), 0.0, 1.0)
    return np.where(r < 1e-9, 1.0, w)  # the centre itself (0/0 above)


def render(
    points: np.ndarray,
    lesions: Sequence[Lesion] = (),
    *,
    noise_hu: float = 0.0,
    rng: np.random.Generator | None = None,
    edge_mm: float = 1.0,
    phase: int = 1,
) -> np.ndarray:
    """HU (float32) of the phantom with ``lesions`` at LPS ``points`` (..., 3)."""
    hu = body_hu(points, phase)
    for les in lesions:
        w = lesion_weight(points, les, edge_mm)
        m = w > 0
        if m.any():
            hu[m] = hu[m] * (1 - w[m]) + les.hu * w[m]
    if noise_hu and rng is not None:
        hu += rng.normal(0.0, noise_hu, size=hu.shape).astype(np.float32)
    return hu


def plane_points(ipp, row, col, rows: int, cols: int, spacing) -> np.ndarray:
    """LPS centres of every pixel of an image plane, shape (rows, cols, 3)."""
    r = np.arange(rows, dtype=float)[:, None, None] * spacing[0]
    c = np.arange(cols, dtype=float)[None, :, None] * spacing[1]
    return np.asarray(ipp) + c * np.asarray(row) + r * np.asarray(col)


# ----------------------------------------------------------------------------- DICOM


def _uid(*parts: Any) -> str:
    """Deterministic UID: a name-based (SHA-1) UUID under the 2.25 root (ISO/IEC 9834-8)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, '|'.join(map(str, parts))).int}"


@dataclass
class SeriesTruth:
    """What :func:`write_series` wrote: files, UIDs, geometry and lesion truth."""

    folder: str
    study_instance_uid: str
    series_instance_uid: str
    files: list[str]
    positions: list[list[float]]  # IPP per written file (same order as files)
    pixel_spacing: tuple[float, float]
    slice_spacing: float
    rows: int
    columns: int
    lesions: list[Lesion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_TS = {
    "explicit": "1.2.840.10008.1.2.1",
    "implicit": "1.2.840.10008.1.2",
    "deflated": "1.2.840.10008.1.2.1.99",
    "rle": "1.2.840.10008.1.2.5",
    "jpeg2000": "1.2.840.10008.1.2.4.90",
    "jpegls": "1.2.840.10008.1.2.4.80",
    "jpeg_lossless": "1.2.840.10008.1.2.4.70",  # written by python-gdcm
}
_ENCODER = {"rle": "pylibjpeg", "jpeg2000": "pylibjpeg", "jpegls": "pyjpegls"}


def _base_dataset(
    *,
    modality: str,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    for_uid: str,
    study_date: str,
    series_number: int,
    series_description: str,
) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = (
        "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"
    )
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = "093000"
    ds.AccessionNumber = f"ACC{study_date}"
    ds.Modality = modality
    ds.Manufacturer = "recist-tool synthetic phantom"
    ds.InstitutionName = "Synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "CT CHEST ABDOMEN (synthetic)"
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = "recist_tool.synth.phantom"
    ds.PatientName = f"SYNTHETIC^{patient_id}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "O"
    ds.PatientAge = "065Y"
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    if modality == "CT":
        ds.KVP = 120
        ds.ConvolutionKernel = "STANDARD"
        ds.RescaleType = "HU"
    else:
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.EchoTime = 10
        ds.RepetitionTime = 500
        ds.EchoTrainLength = 1
    return ds


def _file_meta(ds, ts: str):
    from pydicom.dataset import FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    meta.ImplementationVersionName = "RECIST_TOOL"
    return meta


def _encode(
    hu: np.ndarray,
    *,
    bits_stored: int,
    signed: bool,
    slope: float,
    intercept: float,
    pad_mask: np.ndarray | None,
    pad_value: int | None,
    high_garbage: bool,
) -> np.ndarray:
    """HU → stored values (uint16/int16) with the given representation."""
    stored = np.rint((hu - intercept) / slope)
    lo, hi = (
        (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1)
        if signed
        else (0, (1 << bits_stored) - 1)
    )
    stored = np.clip(stored, lo, hi).astype(np.int32)
    if pad_mask is not None and pad_value is not None:
        stored[pad_mask] = pad_value
    if signed:
        out = stored.astype(np.int16)
        if bits_stored < 16:  # keep only the stored bits: the loader must sign-extend
            out = (out.view(np.uint16) & np.uint16((1 << bits_stored) - 1)).view(np.int16)
        return out
    out = stored.astype(np.uint16)
    if high_garbage and bits_stored < 16:  # overlay-like bits above BitsStored
        out[::7, ::5] |= np.uint16(1 << 15)
    return out


def write_series(
    out_dir: str | os.PathLike,
    *,
    shape: tuple[int, int, int] = (20, 64, 64),
    fov_mm: float = 400.0,
    slice_spacing: float = 5.0,
    slice_thickness: float | None = None,
    z_center: float = -10.0,
    lesions: Sequence[Lesion] | None = None,
    seed: int = 0,
    noise_hu: float = 6.0,
    patient_id: str = "SYNTH001",
    study_date: str = "20240115",
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_number: int = 2,
    series_description: str = "AXIAL 5mm",
    modality: str = "CT",
    transfer_syntax: str = "explicit",
    bits_stored: int = 12,
    signed: bool = False,
    intercept: float = -1024.0,
    slope: float = 1.0,
    vary_slope: bool = False,
    padding_value: int | None = None,
    high_bit_garbage: bool = False,
    window: tuple[float, float] | None = (40.0, 400.0),
    missing: Sequence[int] = (),
    duplicate: Sequence[int] = (),
    second_phase: bool = False,
    uneven: dict[int, float] | None = None,
    tilt_deg: float = 0.0,
    orientation: Sequence[float] | None = None,
    scout: bool = False,
    scout_typed: bool = True,
    mixed_size: int | None = None,
    mixed_orientation: bool = False,
    truncate: int | None = None,
    multiframe: bool = False,
    extra_files: bool = False,
) -> SeriesTruth:
    """Write one synthetic axial series (one file per slice) into ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Destination folder (created).
    shape : (slices, rows, columns)
        Volume size; ``(300, 512, 512)`` for benchmarks.
    fov_mm, slice_spacing, slice_thickness, z_center : float
        In-plane field of view, slice step (mm), nominal thickness (defaults to the
        step) and the approximate z centre. Slice positions are multiples of the step.
    lesions : sequence of Lesion, optional
        Defaults to :func:`baseline_lesions`.
    seed : int
        Seeds the noise and all UIDs: the same arguments give identical files.
    transfer_syntax : str
        One of "explicit", "implicit", "deflated", "rle", "jpeg2000", "jpegls",
        "jpeg_lossless" (the last via python-gdcm).
    bits_stored, signed, intercept, slope : pixel representation (HU = stored × slope +
        intercept). ``vary_slope`` alternates slopes 1 and 0.5 between slices.
    padding_value : int, optional
        Stored value written outside the circular field of view (PixelPaddingValue).
    high_bit_garbage : bool
        Set bit 15 in some pixels of unsigned data with BitsStored < 16.
    missing, duplicate : sequence of int
        Slice indices left out / written twice (with new SOP Instance UIDs).
    second_phase : bool
        Add a second acquisition (AcquisitionNumber 2) at the same positions.
    uneven : dict, optional
        ``{slice index: mm}`` added to that slice's position along z.
    tilt_deg : float
        Gantry tilt: image planes tilted about the x axis, table steps along z.
    orientation : 6 floats, optional
        ImageOrientationPatient of every slice (default axial); slices are stacked
        along its normal (e.g. ``(1, 0, 0, 0, 0, -1)`` for coronal).
    scout, scout_typed : bool
        Add a coronal localizer to the series, ImageType ``LOCALIZER`` (or ``OTHER``).
    mixed_size : int, optional
        Index of a slice written with 16 more columns.
    mixed_orientation : bool
        Rotate the in-plane axes of the second half of the slices by 30°.
    truncate : int, optional
        Index of a slice whose file is cut short.
    multiframe : bool
        Write one Legacy Converted Enhanced CT (multi-frame) object instead.
    extra_files : bool
        Also write a text file and a non-image DICOM (Basic Text SR) in the folder.

    Returns
    -------
    SeriesTruth
    """
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n, rows, cols = shape
    ps = fov_mm / cols
    spacing = (ps, ps)
    lesions = list(baseline_lesions() if lesions is None else lesions)
    study_uid = study_uid or _uid("study", patient_id, study_date, seed)
    series_uid = series_uid or _uid("series", study_uid, series_number, seed)
    for_uid = frame_of_reference_uid or _uid("for", study_uid, seed)
    thick = slice_thickness or slice_spacing
    k0 = math.ceil((n - 1) / 2) + round(z_center / slice_spacing)
    t = math.radians(tilt_deg)
    if orientation is not None:
        row_dir = np.asarray(orientation[:3], dtype=float)
        col_dir = np.asarray(orientation[3:], dtype=float)
    else:
        row_dir = np.array([1.0, 0.0, 0.0])
        col_dir = np.array([0.0, math.cos(t), math.sin(t)])
    # Slices step along the normal, or along the table (z) when the gantry is tilted.
    step_dir = np.array([0.0, 0.0, 1.0]) if tilt_deg else np.cross(row_dir, col_dir)
    ts = _TS[transfer_syntax]

    base = dict(
        modality=modality,
        patient_id=patient_id,
        study_uid=study_uid,
        series_uid=series_uid,
        for_uid=for_uid,
        study_date=study_date,
        series_number=series_number,
        series_description=series_description,
    )
    # One dict per image to write: slice index, copy, acquisition, position, axes, size.
    plan: list[dict[str, Any]] = []
    for k in range(n):
        if k in missing:
            continue
        z = (k0 - k) * slice_spacing + (uneven or {}).get(k, 0.0)
        rd, cd = row_dir, col_dir
        if mixed_orientation and k >= n // 2:
            a = math.radians(30)
            rd = np.array([math.cos(a), math.sin(a), 0.0])
            cd = np.array([-math.sin(a), math.cos(a), 0.0])
        c = cols + 16 if mixed_size == k else cols
        copies = 2 if k in duplicate else 1
        for copy in range(copies):
            plan.append(dict(k=k, copy=copy, acq=1, z=z, rd=rd, cd=cd, rows=rows, cols=c))
        if second_phase:
            plan.append(dict(k=k, copy=0, acq=2, z=z, rd=rd, cd=cd, rows=rows, cols=c))
    datasets, files, positions = [], [], []
    inst = 0
    for item in plan:
        inst += 1
        k = item["k"]
        # slice centre on the stacking line, first pixel half an image away
        centre = item["z"] * step_dir
        ipp = centre - (cols - 1) / 2 * ps * item["rd"] - (rows - 1) / 2 * ps * item["cd"]
        pts = plane_points(ipp, item["rd"], item["cd"], item["rows"], item["cols"], spacing)
        srng = np.random.default_rng([seed, k, item["acq"], item["copy"]])
        hu = render(pts, lesions, noise_hu=noise_hu, rng=srng, edge_mm=ps, phase=item["acq"])
        s = 0.5 if vary_slope and k % 2 else slope
        pad_mask = None
        if padding_value is not None:
            rr = np.hypot(pts[..., 0], pts[..., 1])
            pad_mask = rr > fov_mm / 2
        stored = _encode(
            hu,
            bits_stored=bits_stored,
            signed=signed,
            slope=s,
            intercept=intercept,
            pad_mask=pad_mask,
            pad_value=padding_value,
            high_garbage=high_bit_garbage,
        )
        ds = _base_dataset(**base)
        ds.SOPInstanceUID = _uid("sop", series_uid, k, item["acq"], item["copy"])
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = inst
        ds.AcquisitionNumber = item["acq"]
        if item["acq"] == 2:
            ds.ContentTime = ds.AcquisitionTime = "093100"
        ds.PatientOrientation = ""
        ds.ImagePositionPatient = [round(float(v), 6) for v in ipp]
        ds.ImageOrientationPatient = [round(float(v), 8) for v in (*item["rd"], *item["cd"])]
        ds.SliceLocation = round(float(item["z"]), 6)
        ds.SliceThickness = thick
        ds.PixelSpacing = [ps, ps]
        if tilt_deg:
            ds.GantryDetectorTilt = tilt_deg
        _set_pixels(ds, stored, bits_stored, signed, s, intercept, padding_value, window)
        datasets.append(ds)
        positions.append([float(v) for v in ipp])
    if scout:
        datasets.append(
            _scout(
                base,
                series_uid,
                shape,
                slice_spacing,
                k0,
                fov_mm,
                lesions,
                scout_typed,
                inst + 1,
                bits_stored,
                signed,
                intercept,
                window,
            )
        )
        positions.append(list(map(float, datasets[-1].ImagePositionPatient)))
    if multiframe:
        files = [_write_multiframe(out, datasets, series_uid, series_number, ts)]
    else:
        for i, ds in enumerate(datasets):
            native = ts in (_TS["explicit"], _TS["implicit"], DeflatedExplicitVRLittleEndian)
            ds.file_meta = _file_meta(ds, ts if native else _TS["explicit"])
            name = out / f"IM{(i * 7919) % 100003:06d}.dcm"  # names do not follow z order
            if native:
                ds.save_as(name, enforce_file_format=True)
            elif transfer_syntax == "jpeg_lossless":
                ds.save_as(name, enforce_file_format=True)
                _gdcm_transcode(name, "JPEGLosslessProcess14_1")
            else:
                ds.compress(
                    ts, encoding_plugin=_ENCODER[transfer_syntax], generate_instance_uid=False
                )
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.save_as(name, enforce_file_format=True)
            files.append(str(name))
    if truncate is not None:
        idx = next(i for i, it in enumerate(plan) if it["k"] == truncate)
        with open(files[idx], "r+b") as fh:
            size = fh.seek(0, 2)
            fh.truncate(int(size * 0.6))
    if extra_files:
        (out / "README.txt").write_text("not a DICOM file\n")
        _write_text_sr(out / "SR000001.dcm", base, series_uid)
    truth = SeriesTruth(
        folder=str(out),
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        files=files,
        positions=positions,
        pixel_spacing=spacing,
        slice_spacing=slice_spacing,
        rows=rows,
        columns=cols,
        lesions=lesions,
    )
    return truth


def _gdcm_transcode(path: Path, syntax: str) -> None:
    """Re-encode ``path`` in place with python-gdcm (pydicom has no JPEG encoder)."""
    from recist_tool.dicom._gdcm_guard import guard_gdcm_import

    guard_gdcm_import()
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise OSError(f"gdcm cannot read {path}")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise OSError(f"gdcm cannot encode {path} as {syntax}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise OSError(f"gdcm cannot write {path}")


def _set_pixels(ds, stored, bits_stored, signed, slope, intercept, padding, window) -> None:
    ds.Rows, ds.Columns = stored.shape
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleIntercept = intercept
    ds.RescaleSlope = slope
    if padding is not None:
        ds.PixelPaddingValue = int(padding)
        # pydicom needs the VR of US-or-SS elements decided by PixelRepresentation
        ds["PixelPaddingValue"].VR = "SS" if signed else "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    ds["PixelData"].VR = "OW"


def _scout(base, series_uid, shape, dz, k0, fov, lesions, typed, inst, bits, signed, icpt, window):
    """A coronal localizer through y = 0 covering the series (same SeriesInstanceUID).

    It has the series' image size, as real scouts often do: only its orientation
    and ImageType tell it apart.
    """
    n, rows, cols = shape
    z_top = k0 * dz + 20
    z_len = n * dz + 40
    spacing = (z_len / rows, fov / cols)
    ipp = np.array([-fov / 2, 0.0, z_top])
    pts = plane_points(ipp, [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], rows, cols, spacing)
    hu = render(pts, lesions)
    stored = _encode(
        hu,
        bits_stored=bits,
        signed=signed,
        slope=1.0,
        intercept=icpt,
        pad_mask=None,
        pad_value=None,
        high_garbage=False,
    )
    ds = _base_dataset(**base)
    ds.SOPInstanceUID = _uid("scout", series_uid)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if typed else "OTHER"]
    if "RescaleType" in ds:  # not HU on an original localizer (dciodvfy)
        del ds.RescaleType
    ds.InstanceNumber = inst
    ds.AcquisitionNumber = 1
    ds.PatientOrientation = ""
    ds.ImagePositionPatient = [float(v) for v in ipp]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
    ds.SliceThickness = 1.0
    ds.PixelSpacing = list(spacing)
    _set_pixels(ds, stored, bits, signed, 1.0, icpt, None, window)
    return ds


def _write_multiframe(out: Path, datasets, series_uid, series_number, ts) -> str:
    """One Legacy Converted Enhanced CT object from the slices (highdicom; it also
    encodes RLE, JPEG 2000 and JPEG-LS frames)."""
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    for ds in datasets:
        ds.file_meta = _file_meta(ds, _TS["explicit"])
    mf = LegacyConvertedEnhancedCTImage(
        legacy_datasets=datasets,
        series_instance_uid=_uid("mf-series", series_uid),
        series_number=series_number + 100,
        sop_instance_uid=_uid("mf", series_uid),
        instance_number=1,
        transfer_syntax_uid=ts,
    )
    name = out / "ENHANCED_CT.dcm"
    mf.save_as(name, enforce_file_format=True)
    return str(name)


def _write_text_sr(path: Path, base, series_uid) -> None:
    """A minimal Basic Text SR (a non-image object the scanner must skip)."""
    ds = _base_dataset(**base)
    for kw in (
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "KVP",
        "ConvolutionKernel",
        "RescaleType",
    ):
        if kw in ds:
            delattr(ds, kw)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = _uid("sr", series_uid)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = _uid("sr-series", series_uid)
    ds.SeriesNumber = 900
    ds.InstanceNumber = 1
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.file_meta = _file_meta(ds, _TS["explicit"])
    ds.save_as(path, enforce_file_format=True)


# ------------------------------------------------------------------------ sample study

SAMPLE_SHAPE = (41, 256, 256)
SAMPLE_FOV = 384.0


def write_sample_study(
    out_dir: str | os.PathLike,
    *,
    shape: tuple[int, int, int] = SAMPLE_SHAPE,
    fov_mm: float = SAMPLE_FOV,
    slice_spacing: float = 5.0,
    transfer_syntax: str = "rle",
    seed: int = 2024,
) -> dict[str, Any]:
    """Write the shipped sample: one patient, baseline and ~3-month follow-up.

    Writes ``baseline/`` and ``followup/`` (one CT series each, RLE lossless),
    ``truth.json`` (lesion centres in LPS mm, true long/short axes per time point,
    axis end points, series UIDs) and ``annotations.csv`` (the annotation format,
    axes = truth). Lesions shrink to a partial response (SOD −38 %).

    Returns
    -------
    dict
        The truth written to ``truth.json``.
    """
    from recist_tool._atomic import atomic_write_text
    from recist_tool.annotations import Measurement, write_annotations

    out = Path(out_dir)
    patient = "RECIST-SAMPLE-001"
    base = baseline_lesions()
    follow = [les.scaled(*FOLLOWUP_AXES[les.lesion_id]) for les in base]
    timepoints = [
        ("baseline", "20240115", base, 0.0),
        ("followup", "20240416", follow, 5.0 * 0),
    ]
    truth: dict[str, Any] = {
        "description": "Synthetic CT study written by recist_tool.synth.phantom.write_sample_study",
        "patient_id": patient,
        "coordinate_system": "DICOM LPS, mm",
        "timepoints": [],
    }
    rows: list[Measurement] = []
    for i, (tp, date, lesions, _) in enumerate(timepoints):
        st = write_series(
            out / tp,
            shape=shape,
            fov_mm=fov_mm,
            slice_spacing=slice_spacing,
            z_center=10.0,
            lesions=lesions,
            seed=seed + i,
            patient_id=patient,
            study_date=date,
            series_number=2,
            series_description=f"AXIAL {slice_spacing:g}mm {tp}",
            transfer_syntax=transfer_syntax,
        )
        iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        recs = []
        for les in lesions:
            rec = asdict(les)
            rec["center_lps"] = list(les.center_lps)
            rec.update(les.axis_endpoints())
            recs.append(rec)
            target = les.kind == "target"
            rows.append(
                Measurement(
                    patient_id=patient,
                    timepoint=tp,
                    date=iso,
                    lesion_id=les.lesion_id,
                    kind=les.kind,
                    organ=les.organ,
                    nodal=les.nodal,
                    long_axis_mm=les.long_axis_mm if target else None,
                    short_axis_mm=les.short_axis_mm if target else None,
                    status="measured" if target else "present",
                    extra={
                        "slice_thickness_mm": f"{slice_spacing:g}",
                        "modality": "CT",
                        "reader": "truth",
                        "series_uid": st.series_instance_uid,
                    },
                )
            )
        truth["timepoints"].append(
            {
                "timepoint": tp,
                "date": iso,
                "folder": tp,
                "study_instance_uid": st.study_instance_uid,
                "series_instance_uid": st.series_instance_uid,
                "shape_zyx": list(shape),
                "pixel_spacing_mm": list(st.pixel_spacing),
                "slice_spacing_mm": slice_spacing,
                "lesions": recs,
                "sum_of_diameters_mm": sum(
                    (les.short_axis_mm if les.nodal else les.long_axis_mm)
                    for les in lesions
                    if les.kind == "target"
                ),
            }
        )
    b, f = (t["sum_of_diameters_mm"] for t in truth["timepoints"])
    truth["sod_change_percent"] = round(100.0 * (f - b) / b, 2)
    atomic_write_text(out / "truth.json", json.dumps(truth, indent=2) + "\n")
    write_annotations(rows, out / "annotations.csv")
    return truth
