"""Header-only reading of one DICOM file into a plain :class:`ImageHeader`.

Common files (Part 10, little-endian dataset, single frame) go through the strict
element walker of :mod:`~recist_tool.dicom.fastheader` (~0.2 ms per file, against
~1 ms for ``pydicom.dcmread``); anything else through pydicom with the pixel data
deferred (``defer_size``). Either way the header records where the pixel bytes
start, so the loader reads them straight into a preallocated volume.

Every claimed size is checked against the file's real size and sane limits
*before* anything is allocated for it (:func:`check_claims`), and geometry and
rescale values are checked for being finite, positive and orthogonal
(:func:`_geometry`): a header that cannot be trusted raises
:class:`~recist_tool.dicom.errors.InvalidHeaderError` naming the file, the
attribute and its value, and the scan skips that file with a warning. Memory stays
proportional to the bytes on disk whatever the header claims.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from recist_tool.dicom.decoders import DATASET_SYNTAXES, NATIVE_SYNTAXES
from recist_tool.dicom.errors import InvalidHeaderError
from recist_tool.dicom.fastheader import DEFLATED, FastValues, meta_info, read_fast

PIXEL_DATA = 0x7FE00010

#: Largest Rows or Columns accepted (CT is 512-1024, radiographs up to ~4300).
MAX_DIMENSION = 16384
#: Largest NumberOfFrames accepted (an Enhanced CT has a few thousand).
MAX_FRAMES = 100_000
#: RLE (PackBits) expands a byte pair into at most 128 bytes.
RLE_MAX_EXPANSION = 64
#: A deflated dataset may inflate to this many times its size (at least
#: :data:`INFLATE_FLOOR` bytes); beyond that it is refused as a decompression bomb.
INFLATE_MAX_RATIO = 100
INFLATE_FLOOR = 256 * 2**20
#: |row|, |column| and row·column of ImageOrientationPatient may be this far from
#: 1, 1 and 0 (cosines written with few decimals); beyond it the file is refused.
ORIENTATION_UNIT_TOL = 0.01
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2", "")
_INVALID = object()  # a value is present but is not a number

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


@dataclass(slots=True)
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
    """A number, or None when absent or unreadable; ``cast=int`` accepts ``"3.0"``
    and takes the whole part as the fast reader does."""
    if value is None or value == "":
        return None
    try:
        f = float(value)
        return int(f) if cast is int else f
    except (TypeError, ValueError, OverflowError):
        return None


def _first(value):
    """First item of a multi-valued element (WindowCenter can hold several)."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return value[0] if len(value) else None
    if isinstance(value, str) and "\\" in value:
        return value.split("\\")[0]
    return value


def _vec(value, n: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def _floats(value):
    """Numbers of a (multi-valued) element: None when absent or empty, ``_INVALID``
    when present but not numbers."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = [v for v in value.split("\\")]
    elif not isinstance(value, list | tuple | pydicom.multival.MultiValue):
        value = [value]
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return _INVALID


def _finite(value: float | None) -> float | None:
    """A finite number or None (optional, informative values: thickness, window, tilt)."""
    return value if value is not None and math.isfinite(value) else None


def _count(path: str, value) -> int:
    """NumberOfFrames: absent = 1; otherwise a whole number 1 … MAX_FRAMES."""
    if value is None or str(value).strip() == "":
        return 1
    text = str(value).strip()
    try:
        f = float(text)
    except ValueError:
        f = math.nan
    if not math.isfinite(f) or f != int(f):
        raise InvalidHeaderError(path, f"NumberOfFrames {text!r} is not a whole number")
    n = int(f)
    if not 1 <= n <= MAX_FRAMES:
        raise InvalidHeaderError(
            path, f"NumberOfFrames {n} is outside 1 … {MAX_FRAMES:,}; the header cannot be trusted"
        )
    return n


def _fmt(values) -> str:
    if values is _INVALID:
        return "(not numbers)"
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _geometry(
    path: str, where: str, ipp, iop, spacing, slope, intercept
) -> tuple[np.ndarray | None, np.ndarray | None, tuple[float, float] | None, float, float]:
    """Check the geometry and rescale of a frame; raw values as from :func:`_floats`.

    Absent values keep their defaults (no position: left out of the volume with a
    warning; no PixelSpacing: 1 mm with a warning; slope 1, intercept 0). Present
    values must be finite, spacing positive, orientation two perpendicular unit
    vectors and the slope non-zero, or :class:`InvalidHeaderError` names the file.
    """

    def bad(what: str) -> InvalidHeaderError:
        return InvalidHeaderError(path, f"{what}{where}; the geometry cannot be trusted")

    pos = ori = ps = None
    if ipp is not None:
        if ipp is _INVALID or len(ipp) != 3 or not math.isfinite(sum(ipp)):
            raise bad(f"ImagePositionPatient {_fmt(ipp)} is not "
                      "three finite numbers (mm)")  # fmt: skip
        pos = np.array(ipp, dtype=float)
    if iop is not None:
        if iop is _INVALID or len(iop) != 6 or not math.isfinite(sum(iop)):
            raise bad(f"ImageOrientationPatient {_fmt(iop)} is not "
                      "six finite numbers")  # fmt: skip
        ori = np.array(iop, dtype=float)
        r0, r1, r2, c0, c1, c2 = iop  # plain floats: this runs once per file
        nr, nc = math.sqrt(r0 * r0 + r1 * r1 + r2 * r2), math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
        dot = (r0 * c0 + r1 * c1 + r2 * c2) / (nr * nc) if nr > 0 and nc > 0 else math.nan
        tol = ORIENTATION_UNIT_TOL
        if not (abs(nr - 1) <= tol and abs(nc - 1) <= tol and abs(dot) <= tol):
            raise bad(
                f"ImageOrientationPatient {_fmt(iop)} is not two perpendicular unit vectors "
                f"(|row| {nr:.4g}, |column| {nc:.4g}, cos angle {dot:.4g})"
            )
    if spacing is not None:
        if (
            spacing is _INVALID
            or len(spacing) != 2
            or not (min(spacing) > 0 and math.isfinite(spacing[0] + spacing[1]))
        ):
            raise bad(f"PixelSpacing {_fmt(spacing)} is not two positive numbers (mm)")
        ps = (float(spacing[0]), float(spacing[1]))
    if slope is None:
        slope_v = 1.0
    elif slope is _INVALID or len(slope) != 1 or not math.isfinite(slope[0]) or slope[0] == 0:
        raise InvalidHeaderError(
            path,
            f"RescaleSlope {_fmt(slope)}{where} is not a finite, non-zero number; "
            "the pixel values cannot be trusted",
        )
    else:
        slope_v = float(slope[0])
    if intercept is None:
        icpt_v = 0.0
    elif intercept is _INVALID or len(intercept) != 1 or not math.isfinite(intercept[0]):
        raise InvalidHeaderError(
            path,
            f"RescaleIntercept {_fmt(intercept)}{where} is not a finite number; "
            "the pixel values cannot be trusted",
        )
    else:
        icpt_v = float(intercept[0])
    return pos, ori, ps, slope_v, icpt_v


def check_claims(hdr: ImageHeader) -> None:
    """Check the image size and pixel format a header claims, before any allocation.

    Raises
    ------
    InvalidHeaderError
        Rows/Columns 0 or above :data:`MAX_DIMENSION`, a pixel format that is not
        1 or 3 samples of 8, 16 or 32 bits, BitsStored above BitsAllocated, or a CT
        image in colour (RGB, PALETTE COLOR, YBR …: not Hounsfield units).
    """
    p = hdr.path
    if not (1 <= hdr.rows <= MAX_DIMENSION and 1 <= hdr.columns <= MAX_DIMENSION):
        raise InvalidHeaderError(
            p,
            f"Rows × Columns {hdr.rows} × {hdr.columns}: each must be 1 … {MAX_DIMENSION}",
        )
    if hdr.samples_per_pixel not in (1, 3):
        raise InvalidHeaderError(p, f"SamplesPerPixel {hdr.samples_per_pixel} (expected 1 or 3)")
    if hdr.bits_allocated not in (8, 16, 32):
        raise InvalidHeaderError(
            p,
            f"BitsAllocated {hdr.bits_allocated}: not an image of 8, 16 or 32-bit pixels "
            "(1 is a bit-packed mask or overlay)",
        )
    if not 1 <= hdr.bits_stored <= hdr.bits_allocated:
        raise InvalidHeaderError(
            p, f"BitsStored {hdr.bits_stored} with BitsAllocated {hdr.bits_allocated}"
        )
    if hdr.pixel_representation not in (0, 1):
        raise InvalidHeaderError(
            p, f"PixelRepresentation {hdr.pixel_representation} (expected 0 or 1)"
        )
    if hdr.modality == "CT" and (hdr.samples_per_pixel != 1 or hdr.photometric not in _MONOCHROME):
        raise InvalidHeaderError(
            p,
            f"a CT image with PhotometricInterpretation {hdr.photometric or '?'} and "
            f"SamplesPerPixel {hdr.samples_per_pixel}: colour or palette pixels are not "
            "Hounsfield units",
        )


def _check_deflated(fp, path: str, file_size: int) -> None:
    """Refuse a deflated dataset that would inflate far beyond its size (a bomb)."""
    info = meta_info(fp)
    fp.seek(0)
    if info is None or info[0] != DEFLATED:
        return
    limit = max(INFLATE_FLOOR, INFLATE_MAX_RATIO * file_size)
    fp.seek(info[1])
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    while True:
        chunk = fp.read(1 << 16)
        data = d.decompress(chunk, 1 << 20) if chunk else b""
        total += len(data)
        while d.unconsumed_tail and total <= limit:
            data = d.decompress(d.unconsumed_tail, 1 << 20)
            total += len(data)
        if total > limit:
            raise InvalidHeaderError(
                path,
                f"the deflated dataset inflates to more than {limit:,} bytes from "
                f"{file_size:,} (a decompression bomb?)",
            )
        if not chunk or d.eof:
            break
    fp.seek(0)


def _get(ds, keyword: str):
    """``ds.get(keyword)``, or the stored text when pydicom cannot convert the value
    (e.g. an IS of ``-inf``): the same text the fast reader parses."""
    try:
        return ds.get(keyword)
    except (ValueError, TypeError, OverflowError):
        raw = ds.get_item(keyword)
        value = getattr(raw, "value", None)
        return value.decode("latin-1").rstrip("\x00 ") if isinstance(value, bytes) else None


def _multi(value) -> list[str]:
    """Values of a multi-valued text element (a single value is one item, not letters)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return value.split("\\")
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return [str(v) for v in value]
    return [str(value)]


def _str(ds, keyword: str) -> str:
    """Text of an element, several values joined by backslash as stored (the fast
    reader's reading of the same bytes)."""
    v = ds.get(keyword, "")
    if isinstance(v, pydicom.multival.MultiValue):
        return "\\".join(str(x) for x in v).strip()
    return "" if v is None else str(v).strip()


def _window(ds) -> tuple[float, float] | None:
    c = _finite(_num(_first(_get(ds, "WindowCenter"))))
    w = _finite(_num(_first(_get(ds, "WindowWidth"))))
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
        position, orientation, spacing, slope, intercept = _geometry(
            hdr.path,
            f" (frame {i + 1})",
            _floats(pos.get("ImagePositionPatient")) if pos is not None else None,
            _floats(ori.get("ImageOrientationPatient")) if ori is not None else None,
            _floats(meas.get("PixelSpacing")) if meas is not None else None,
            _floats(pvt.get("RescaleSlope")) if pvt is not None else None,
            _floats(pvt.get("RescaleIntercept")) if pvt is not None else None,
        )
        frames.append(
            FrameGeometry(
                index=i,
                position=position,
                orientation=orientation,
                pixel_spacing=spacing,
                slope=slope,
                intercept=intercept,
                image_type=tuple(t.strip().upper() for t in _multi(ftype.get("FrameType")))
                if ftype is not None
                else tuple(t.strip().upper() for t in _multi(ds.get("ImageType"))),
                slice_thickness=_finite(_num(meas.get("SliceThickness")))
                if meas is not None
                else None,
            )
        )
    return frames


#: The geometry and rescale attributes of a frame, in :func:`_geometry`'s order.
_GEOMETRY = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "RescaleSlope",
    "RescaleIntercept",
)


def _same_frames(
    hdr: ImageHeader, raw: list, image_type: tuple[str, ...], thickness: float | None
) -> list[FrameGeometry]:
    """The frames of a file whose frames share one geometry (a single-frame file, or a
    legacy multi-frame one without functional groups): checked once, arrays shared."""
    position, orientation, spacing, slope, intercept = _geometry(hdr.path, "", *raw)
    first = FrameGeometry(
        index=0,
        position=position,
        orientation=orientation,
        pixel_spacing=spacing,
        slope=slope,
        intercept=intercept,
        image_type=image_type,
        slice_thickness=thickness,
    )
    return [first] + [dataclasses.replace(first, index=i) for i in range(1, hdr.number_of_frames)]


def is_image_sop_class(sop_class_uid: str) -> bool:
    """False for SR, presentation states, RT objects, SEG, DICOMDIR and waveforms."""
    if sop_class_uid in NON_IMAGE_SOP_CLASSES:
        return False
    return not any(sop_class_uid.startswith(p) for p in NON_IMAGE_PREFIXES)


_FALLBACK = object()  # _from_fast: let pydicom read this file


def _from_fast(path: str, res: dict, file_size: int):
    """Build the header from :func:`read_fast`'s raw values (same rules as pydicom's)."""
    v = FastValues(res)
    sop_class = v.text("SOPClassUID") or res["meta_sop_class"]
    if not sop_class or not is_image_sop_class(sop_class):
        return None
    if res["pixel_tell"] is None or "Rows" not in v:
        return _FALLBACK  # an image without pixels: damaged, or read otherwise by pydicom
    bits_allocated = v.us("BitsAllocated") or 0
    wc, ww = _finite(v.number("WindowCenter")), _finite(v.number("WindowWidth"))
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
        gantry_tilt=_finite(v.number("GantryDetectorTilt")),
        number_of_frames=_count(path, v.text("NumberOfFrames") or None),
    )
    if not hdr.series_instance_uid:
        hdr.series_instance_uid = f"(no SeriesInstanceUID) {os.path.dirname(path)}"
    check_claims(hdr)
    _set_pixel_location(hdr, res["pixel_tell"], res["pixel_length"], file_size)
    hdr.frames = _same_frames(
        hdr,
        [_floats(v.text(kw) or None) for kw in _GEOMETRY],
        tuple(t.upper() for t in v.multi("ImageType")),
        _finite(v.number("SliceThickness")),
    )
    return hdr


def _set_pixel_location(hdr: ImageHeader, tell, length, file_size: int | None) -> None:
    """Record where the pixel bytes are; check the claimed sizes against the file.

    Native pixel data must hold Rows × Columns × SamplesPerPixel × BitsAllocated/8 ×
    NumberOfFrames bytes: fewer is a truncated file (``problem``, skipped with a
    warning), a whole frame or more beyond that means BitsAllocated, the size or the
    frame count is wrong. Encapsulated (compressed) data needs at least 8 bytes per
    frame, and RLE cannot decode to more than 64 times its size. ``file_size`` is
    None for datasets pydicom had to read whole (deflated, big endian).
    """
    need = hdr.frame_bytes * hdr.number_of_frames
    sizes = (
        f"Rows × Columns × SamplesPerPixel × BitsAllocated/8 × NumberOfFrames = {hdr.rows} × "
        f"{hdr.columns} × {hdr.samples_per_pixel} × {hdr.bits_allocated // 8} × "
        f"{hdr.number_of_frames} = {need:,} bytes"
    )
    if tell is not None and length == 0xFFFFFFFF and hdr.transfer_syntax not in NATIVE_SYNTAXES:
        hdr.encapsulated_tell = int(tell)
        if file_size is not None:
            avail = max(0, file_size - int(tell))
            if hdr.number_of_frames > avail // 8:
                raise InvalidHeaderError(
                    hdr.path,
                    f"NumberOfFrames {hdr.number_of_frames:,} cannot fit in the {avail:,} bytes "
                    "of encapsulated pixel data (8 bytes or more per frame)",
                )
            if hdr.transfer_syntax == pydicom.uid.RLELossless and need > RLE_MAX_EXPANSION * avail:
                raise InvalidHeaderError(
                    hdr.path,
                    f"{sizes}, but RLE data of {avail:,} bytes decodes to at most "
                    f"{RLE_MAX_EXPANSION * avail:,}",
                )
    if tell is None or length in (None, 0xFFFFFFFF):
        return
    uncompressed = hdr.transfer_syntax in NATIVE_SYNTAXES or hdr.transfer_syntax in DATASET_SYNTAXES
    if uncompressed and length >= need + max(hdr.frame_bytes, 2):
        raise InvalidHeaderError(
            hdr.path,
            f"Pixel Data holds {length:,} bytes but {sizes}: BitsAllocated, Rows, "
            "Columns or NumberOfFrames is wrong",
        )
    if hdr.transfer_syntax in NATIVE_SYNTAXES:
        hdr.pixel_offset, hdr.pixel_length = int(tell), int(length)
        if file_size is not None and tell + length > file_size:
            have = max(0, min(length, file_size - tell))
            hdr.problem = (
                f"truncated: pixel data has {have} of {need} bytes (file is {file_size} bytes)"
            )
        elif length < need:
            raise InvalidHeaderError(
                hdr.path,
                f"Pixel Data holds {length:,} bytes but {sizes}: BitsAllocated, Rows, "
                "Columns or NumberOfFrames is wrong",
            )


def read_header(path: str, *, fast: bool = True) -> ImageHeader | None:
    """Read the header of ``path``.

    Returns
    -------
    ImageHeader or None
        None for files that are not DICOM or hold no image (SR, RTSTRUCT, PR …).

    Raises
    ------
    InvalidHeaderError
        A claimed size, the geometry, the rescale or the pixel format cannot be
        trusted (checked before anything is allocated for it).
    OSError, InvalidDicomError, ValueError, EOFError …
        When a DICOM file is damaged; callers turn this into a skip with a warning.
    """
    with open(path, "rb") as fp:
        file_size = os.fstat(fp.fileno()).st_size
        if fast:
            res = read_fast(fp)
            if res is not None:
                hdr = _from_fast(path, res, file_size)
                if hdr is not _FALLBACK:
                    return hdr
        _check_deflated(fp, path, file_size)
        fp.seek(0)
        try:
            ds = pydicom.dcmread(fp, defer_size=1024)
        except InvalidDicomError:
            return None
    meta = ds.get("file_meta")
    sop_class = _str(ds, "SOPClassUID") or (
        _str(meta, "MediaStorageSOPClassUID") if meta is not None else ""
    )
    if not sop_class or not is_image_sop_class(sop_class):
        return None
    if PIXEL_DATA not in ds._dict or "Rows" not in ds:
        # An image object without pixels is damaged (typically cut short).
        name = pydicom.uid.UID(sop_class).name
        raise ValueError(f"{name} object without Rows or Pixel Data (header only or truncated)")
    ts = _str(meta, "TransferSyntaxUID") if meta is not None else ""
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
        series_number=_num(_first(_get(ds, "SeriesNumber")), int),
        series_description=_str(ds, "SeriesDescription"),
        frame_of_reference_uid=_str(ds, "FrameOfReferenceUID"),
        acquisition_number=_num(_first(_get(ds, "AcquisitionNumber")), int),
        instance_number=_num(_first(_get(ds, "InstanceNumber")), int),
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
        gantry_tilt=_finite(_num(_first(_get(ds, "GantryDetectorTilt")))),
        number_of_frames=_count(path, _get(ds, "NumberOfFrames")),
    )
    if not hdr.series_instance_uid:
        hdr.series_instance_uid = f"(no SeriesInstanceUID) {os.path.dirname(path)}"
    check_claims(hdr)
    raw = ds._dict[PIXEL_DATA]  # the deferred RawDataElement knows offset and length
    whole = ts in DATASET_SYNTAXES  # read whole by pydicom: offsets are not file offsets
    _set_pixel_location(
        hdr,
        getattr(raw, "value_tell", None),
        getattr(raw, "length", None),
        None if whole else file_size,
    )
    hdr.multiframe = (
        "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    )
    if hdr.multiframe:
        hdr.frames = _multiframe_frames(ds, hdr)
    else:
        hdr.frames = _same_frames(
            hdr,
            [_floats(ds.get(kw)) for kw in _GEOMETRY],
            tuple(t.strip().upper() for t in _multi(ds.get("ImageType"))),
            _finite(_num(_first(_get(ds, "SliceThickness")))),
        )
    return hdr
