"""Header-only reading of one DICOM file into a plain :class:`ImageHeader`.

Common files (Part 10, little-endian dataset, single frame) go through the strict
element walker of :mod:`~recist_tool.dicom.fastheader` (~0.2 ms per file, against
~1 ms for ``pydicom.dcmread``); anything else through pydicom with the pixel data
deferred (``defer_size``). Either way the header records where the pixel bytes
start, so the loader reads them straight into a preallocated volume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from recist_tool.dicom.decoders import NATIVE_SYNTAXES
from recist_tool.dicom.fastheader import FastValues, read_fast

PIXEL_DATA = 0x7FE00010

# SOP classes that carry no image to stack, even if some have pixel-like data.
NON_IMAGE_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.",)  # structured reports
NON_IMAGE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.1.3.10",  # Media Storage Directory (DICOMDIR)
        "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
        "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
        "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
        "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
        "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
        "1.2.840.10008.5.1.4.1.1.66",  # Raw Data
        "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
    }
)


@dataclass
class FrameGeometry:
    """Geometry and rescale of one frame (a single-frame file has one)."""

    index: int  # 0-based frame index in the file
    position: np.ndarray | None  # ImagePositionPatient (3,)
    orientation: np.ndarray | None  # ImageOrientationPatient (6,)
    pixel_spacing: tuple[float, float] | None  # (row, column) mm
    slope: float = 1.0
    intercept: float = 0.0
    image_type: tuple[str, ...] = ()
    slice_thickness: float | None = None


@dataclass
class ImageHeader:
    """What the loader needs from one image file, read without its pixel data."""

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax: str
    modality: str = ""
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    series_number: int | None = None
    series_description: str = ""
    frame_of_reference_uid: str = ""
    acquisition_number: int | None = None
    instance_number: int | None = None
    rows: int = 0
    columns: int = 0
    samples_per_pixel: int = 1
    photometric: str = ""
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    padding_value: int | None = None
    padding_limit: int | None = None
    window: tuple[float, float] | None = None
    gantry_tilt: float | None = None
    number_of_frames: int = 1
    multiframe: bool = False
    pixel_offset: int | None = None  # file offset of native pixel bytes
    pixel_length: int | None = None
    encapsulated_tell: int | None = None  # file offset of encapsulated (compressed) pixel data
    problem: str | None = None  # why the pixels cannot be read (e.g. truncated)
    frames: list[FrameGeometry] = field(default_factory=list)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one native frame."""
        return self.rows * self.columns * self.samples_per_pixel * (self.bits_allocated // 8)

    @property
    def native(self) -> bool:
        """True when pixels can be read directly from the file (little endian, 16 bit)."""
        return (
            self.transfer_syntax in NATIVE_SYNTAXES
            and self.pixel_offset is not None
            and self.bits_allocated == 16
            and self.samples_per_pixel == 1
        )


def _num(value, cast=float):
    if value is None or value == "":
        return None
    try:
        return cast(value)
    except (TypeError, ValueError):
        return None


def _first(value):
    """First item of a multi-valued element (WindowCenter can hold several)."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return value[0] if len(value) else None
    return value


def _vec(value, n: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def _str(ds, keyword: str) -> str:
    v = ds.get(keyword, "")
    return "" if v is None else str(v).strip()


def _window(ds) -> tuple[float, float] | None:
    c = _num(_first(ds.get("WindowCenter")))
    w = _num(_first(ds.get("WindowWidth")))
    return (c, w) if c is not None and w is not None and w > 0 else None


def _item(seq_owner, keyword: str):
    seq = seq_owner.get(keyword) if seq_owner is not None else None
    return seq[0] if seq else None


def _multiframe_frames(ds, hdr: ImageHeader) -> list[FrameGeometry]:
    """Per-frame geometry of an Enhanced (functional groups) object."""
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    frames = []
    for i in range(hdr.number_of_frames):
        fg = per_frame[i] if i < len(per_frame) else None

        def pick(keyword: str, fg=fg):
            return _item(fg, keyword) or _item(shared, keyword)

        pos = pick("PlanePositionSequence")
        ori = pick("PlaneOrientationSequence")
        meas = pick("PixelMeasuresSequence")
        pvt = pick("PixelValueTransformationSequence")
        ftype = pick("CTImageFrameTypeSequence") or pick("MRImageFrameTypeSequence")
        voi = pick("FrameVOILUTSequence")
        if i == 0 and voi is not None and hdr.window is None:
            hdr.window = _window(voi)
        spacing = _vec(meas.get("PixelSpacing"), 2) if meas is not None else None
        frames.append(
            FrameGeometry(
                index=i,
                position=_vec(pos.get("ImagePositionPatient"), 3) if pos is not None else None,
                orientation=_vec(ori.get("ImageOrientationPatient"), 6)
                if ori is not None
                else None,
                pixel_spacing=tuple(spacing) if spacing is not None else None,
                slope=_num(pvt.get("RescaleSlope")) or 1.0 if pvt is not None else 1.0,
                intercept=(_num(pvt.get("RescaleIntercept")) or 0.0) if pvt is not None else 0.0,
                image_type=tuple(str(t).strip().upper() for t in (ftype.get("FrameType") or ()))
                if ftype is not None
                else tuple(str(t).upper() for t in (ds.get("ImageType") or ())),
                slice_thickness=_num(meas.get("SliceThickness")) if meas is not None else None,
            )
        )
    return frames


def is_image_sop_class(sop_class_uid: str) -> bool:
    """False for SR, presentation states, RT objects, SEG, DICOMDIR and waveforms."""
    if sop_class_uid in NON_IMAGE_SOP_CLASSES:
        return False
    return not any(sop_class_uid.startswith(p) for p in NON_IMAGE_PREFIXES)


def _from_fast(path: str, res: dict, file_size: int) -> ImageHeader | None:
    """Build the header from :func:`read_fast`'s raw values (same rules as pydicom's)."""
    v = FastValues(res)
    sop_class = v.text("SOPClassUID") or res["meta_sop_class"]
    if not sop_class or not is_image_sop_class(sop_class):
        return None
    if res["pixel_tell"] is None or "Rows" not in v:
        name = pydicom.uid.UID(sop_class).name
        raise ValueError(f"{name} object without Rows or Pixel Data (header only or truncated)")
    bits_allocated = v.us("BitsAllocated") or 0
    wc, ww = v.number("WindowCenter"), v.number("WindowWidth")
    spacing = v.floats("PixelSpacing")
    hdr = ImageHeader(
        path=path,
        sop_class_uid=sop_class,
        sop_instance_uid=v.text("SOPInstanceUID"),
        series_instance_uid=v.text("SeriesInstanceUID"),
        study_instance_uid=v.text("StudyInstanceUID"),
        transfer_syntax=res["ts"],
        modality=v.text("Modality").upper(),
        patient_id=v.text("PatientID"),
        patient_name=v.text("PatientName").rstrip("="),  # as pydicom shows a PN
        study_date=v.text("StudyDate"),
        study_time=v.text("StudyTime"),
        study_description=v.text("StudyDescription"),
        series_number=v.number("SeriesNumber", int),
        series_description=v.text("SeriesDescription"),
        frame_of_reference_uid=v.text("FrameOfReferenceUID"),
        acquisition_number=v.number("AcquisitionNumber", int),
        instance_number=v.number("InstanceNumber", int),
        rows=v.us("Rows") or 0,
        columns=v.us("Columns") or 0,
        samples_per_pixel=v.us("SamplesPerPixel") or 1,
        photometric=v.text("PhotometricInterpretation").upper(),
        bits_allocated=bits_allocated,
        bits_stored=v.us("BitsStored") or bits_allocated,
        pixel_representation=v.us("PixelRepresentation") or 0,
        padding_value=v.xs("PixelPaddingValue"),
        padding_limit=v.xs("PixelPaddingRangeLimit"),
        window=(wc, ww) if wc is not None and ww is not None and ww > 0 else None,
        gantry_tilt=v.number("GantryDetectorTilt"),
        number_of_frames=v.number("NumberOfFrames", int) or 1,
    )
    if not hdr.series_instance_uid:
        hdr.series_instance_uid = f"(no SeriesInstanceUID) {os.path.dirname(path)}"
    pos, ori = v.floats("ImagePositionPatient"), v.floats("ImageOrientationPatient")
    hdr.frames = [
        FrameGeometry(
            index=i,
            position=_vec(pos, 3),
            orientation=_vec(ori, 6),
            pixel_spacing=tuple(spacing) if spacing is not None and len(spacing) == 2 else None,
            slope=v.number("RescaleSlope") or 1.0,
            intercept=v.number("RescaleIntercept") or 0.0,
            image_type=tuple(t.upper() for t in v.multi("ImageType")),
            slice_thickness=v.number("SliceThickness"),
        )
        for i in range(hdr.number_of_frames)
    ]
    _set_pixel_location(hdr, res["pixel_tell"], res["pixel_length"], file_size)
    return hdr


def _set_pixel_location(hdr: ImageHeader, tell, length, file_size: int) -> None:
    """Record where native pixel bytes are; flag truncated files."""
    if tell is not None and length == 0xFFFFFFFF and hdr.transfer_syntax not in NATIVE_SYNTAXES:
        hdr.encapsulated_tell = int(tell)
    if (
        hdr.transfer_syntax in NATIVE_SYNTAXES
        and tell is not None
        and length
        not in (
            None,
            0xFFFFFFFF,
        )
    ):
        hdr.pixel_offset, hdr.pixel_length = int(tell), int(length)
        need = hdr.frame_bytes * hdr.number_of_frames
        if tell + length > file_size or length < need:
            have = max(0, min(length, file_size - tell))
            hdr.problem = (
                f"truncated: pixel data has {have} of {need} bytes (file is {file_size} bytes)"
            )


def read_header(path: str, *, fast: bool = True) -> ImageHeader | None:
    """Read the header of ``path``.

    Returns
    -------
    ImageHeader or None
        None for files that are not DICOM or hold no image (SR, RTSTRUCT, PR …).

    Raises
    ------
    OSError, InvalidDicomError, ValueError, EOFError …
        When a DICOM file is damaged; callers turn this into a skip with a warning.
    """
    with open(path, "rb") as fp:
        file_size = os.fstat(fp.fileno()).st_size
        if fast:
            res = read_fast(fp)
            if res is not None:
                return _from_fast(path, res, file_size)
            fp.seek(0)
        try:
            ds = pydicom.dcmread(fp, defer_size=1024)
        except InvalidDicomError:
            return None
    meta = ds.get("file_meta")
    sop_class = _str(ds, "SOPClassUID") or (
        str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    )
    if not sop_class or not is_image_sop_class(sop_class):
        return None
    if PIXEL_DATA not in ds._dict or "Rows" not in ds:
        # An image object without pixels is damaged (typically cut short).
        name = pydicom.uid.UID(sop_class).name
        raise ValueError(f"{name} object without Rows or Pixel Data (header only or truncated)")
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        ts = pydicom.uid.ImplicitVRLittleEndian
    hdr = ImageHeader(
        path=path,
        sop_class_uid=sop_class,
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        series_instance_uid=_str(ds, "SeriesInstanceUID"),
        study_instance_uid=_str(ds, "StudyInstanceUID"),
        transfer_syntax=ts,
        modality=_str(ds, "Modality").upper(),
        patient_id=_str(ds, "PatientID"),
        patient_name=_str(ds, "PatientName"),
        study_date=_str(ds, "StudyDate"),
        study_time=_str(ds, "StudyTime"),
        study_description=_str(ds, "StudyDescription"),
        series_number=_num(ds.get("SeriesNumber"), int),
        series_description=_str(ds, "SeriesDescription"),
        frame_of_reference_uid=_str(ds, "FrameOfReferenceUID"),
        acquisition_number=_num(ds.get("AcquisitionNumber"), int),
        instance_number=_num(ds.get("InstanceNumber"), int),
        rows=int(ds.get("Rows") or 0),
        columns=int(ds.get("Columns") or 0),
        samples_per_pixel=int(ds.get("SamplesPerPixel") or 1),
        photometric=_str(ds, "PhotometricInterpretation").upper(),
        bits_allocated=int(ds.get("BitsAllocated") or 0),
        bits_stored=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 0),
        pixel_representation=int(ds.get("PixelRepresentation") or 0),
        padding_value=_num(ds.get("PixelPaddingValue"), int),
        padding_limit=_num(ds.get("PixelPaddingRangeLimit"), int),
        window=_window(ds),
        gantry_tilt=_num(ds.get("GantryDetectorTilt")),
        number_of_frames=_num(ds.get("NumberOfFrames"), int) or 1,
    )
    if not hdr.series_instance_uid:
        hdr.series_instance_uid = f"(no SeriesInstanceUID) {os.path.dirname(path)}"
    hdr.multiframe = (
        "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    )
    if hdr.multiframe:
        hdr.frames = _multiframe_frames(ds, hdr)
    else:
        spacing = _vec(ds.get("PixelSpacing"), 2)
        hdr.frames = [
            FrameGeometry(
                index=i,
                position=_vec(ds.get("ImagePositionPatient"), 3),
                orientation=_vec(ds.get("ImageOrientationPatient"), 6),
                pixel_spacing=tuple(spacing) if spacing is not None else None,
                slope=_num(ds.get("RescaleSlope")) or 1.0,
                intercept=_num(ds.get("RescaleIntercept")) or 0.0,
                image_type=tuple(str(t).strip().upper() for t in (ds.get("ImageType") or ())),
                slice_thickness=_num(ds.get("SliceThickness")),
            )
            for i in range(hdr.number_of_frames)
        ]
    raw = ds._dict[PIXEL_DATA]  # the deferred RawDataElement knows offset and length
    _set_pixel_location(
        hdr, getattr(raw, "value_tell", None), getattr(raw, "length", None), file_size
    )
    return hdr
