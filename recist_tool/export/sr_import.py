"""DICOM SR import: TID 1500 Measurement Reports back into the annotation format.

Reads the SRs written by :mod:`recist_tool.export.sr` losslessly (every value the SR
carries: patient, time point, date, lesion ID and tracking UID, kind, organ, nodal,
long and short axis, RECIST status, reader, series, and each axis line with the
slice it references), and TID 1500 SRs of other tools with long/short axis
(or length/diameter) measurements in TID 1501 or TID 1410 groups.

The content tree is walked with pydicom directly, concept by concept, so that SRs
which highdicom's stricter template parsers refuse still import.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recist_tool.annotations import STATUSES
from recist_tool.export import ExportError
from recist_tool.export import sr_codes as C

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from recist_tool.export.sr import ImageIndex
    from recist_tool.reading import Reading

MEASUREMENT_REPORT = ("126000", "DCM")
IMAGING_MEASUREMENTS = ("126010", "DCM")
MEASUREMENT_GROUP = ("125007", "DCM")
TRACKING_ID = ("112039", "DCM")
TRACKING_UID = ("112040", "DCM")
FINDING = ("121071", "DCM")
FINDING_SITE = ("363698007", "SCT")
LATERALITY = ("272741003", "SCT")
TIME_POINT = {("C2348792", "UMLS"), ("126070", "DCM")}
IMAGE_REGION = ("111030", "DCM")
PERSON_OBSERVER_NAME = ("121008", "DCM")
_LONG = {(C.LONG_AXIS.value, "SCT"), (C.LENGTH.value, "SCT"), (C.DIAMETER.value, "SCT")}
_SHORT = {(C.SHORT_AXIS.value, "SCT")}
_TO_MM = {"mm": 1.0, "cm": 10.0, "um": 0.001, "m": 1000.0}


class SRImportError(ExportError):
    """An SR cannot be imported (names the file and what is wrong)."""


class DamagedSRError(SRImportError):
    """A TID 1500 SR whose content cannot be read (a value, a code or a reference is
    missing or malformed); the message names the file and what is wrong."""


@dataclass
class AxisLine:
    """A measurement line as the SR stores it: image coordinates on one image."""

    sop_instance_uid: str
    xy: np.ndarray  # (2, 2): (column + 0.5, row + 0.5) per end


@dataclass
class ImportedLesion:
    """One measurement group of an SR."""

    patient_id: str
    timepoint: str
    date: str
    lesion_id: str
    kind: str
    organ: str
    nodal: bool
    status: str
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    tracking_uid: str = ""
    reader: str = ""
    series_uid: str = ""
    lines: dict[str, AxisLine] = field(default_factory=dict)
    source: str = ""


def _code(item: Dataset, keyword: str = "ConceptNameCodeSequence") -> tuple[str, str]:
    seq = item.get(keyword)
    if not seq:
        return ("", "")
    return (str(seq[0].get("CodeValue", "")), str(seq[0].get("CodingSchemeDesignator", "")))


def _meaning(item: Dataset, keyword: str = "ConceptCodeSequence") -> str:
    seq = item.get(keyword)
    return str(seq[0].get("CodeMeaning", "")) if seq else ""


def _children(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence", []) or [])


def _iso(da: str) -> str:
    da = str(da or "").strip()
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}" if len(da) >= 8 and da[:8].isdigit() else ""


def _scoord(item: Dataset) -> AxisLine | None:
    """A 2-point polyline and the image it is on; None when it is not one."""
    try:
        data = np.asarray(item.get("GraphicData", []), dtype=float)
    except (TypeError, ValueError):
        raise DamagedSRError(f"GraphicData {item.get('GraphicData')!r} is not numbers") from None
    if data.ndim != 1 or data.size % 2 or not np.isfinite(data).all():
        raise DamagedSRError(f"GraphicData of {data.size} value(s) is not (column, row) pairs")
    if data.size != 4:
        return None  # another shape than a line of two points: no line kept
    for child in _children(item):
        if child.get("ValueType") == "IMAGE" and child.get("ReferencedSOPSequence"):
            uid = child.ReferencedSOPSequence[0].get("ReferencedSOPInstanceUID")
            if not uid:
                raise DamagedSRError("image reference without ReferencedSOPInstanceUID")
            return AxisLine(str(uid), data.reshape(2, 2))
    return None


def _num(item: Dataset, where: str) -> float:
    from recist_tool.annotations import MAX_SIZE_MM

    mv = item.get("MeasuredValueSequence")
    if not mv:
        raise DamagedSRError(f"{where}: measurement without a value")
    raw = mv[0].get("NumericValue")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DamagedSRError(f"{where}: NumericValue {raw!r} is not a number") from None
    unit = _code(mv[0], "MeasurementUnitsCodeSequence")[0]
    if unit not in _TO_MM:
        raise DamagedSRError(f"{where}: unit {unit!r} is not a length (expected mm)")
    mm = value * _TO_MM[unit]
    if not (math.isfinite(mm) and 0 <= mm <= MAX_SIZE_MM):
        raise DamagedSRError(f"{where}: length {raw!s} {unit} is not a size 0 … {MAX_SIZE_MM:g} mm")
    return mm


def _evidence_series(ds: Dataset) -> dict[str, str]:
    out = {}
    for kw in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(kw, []) or []:
            for series in study.get("ReferencedSeriesSequence", []) or []:
                for sop in series.get("ReferencedSOPSequence", []) or []:
                    out[str(sop.ReferencedSOPInstanceUID)] = str(series.SeriesInstanceUID)
    return out


def read_sr(path: str | os.PathLike) -> list[ImportedLesion]:
    """Measurement groups of one TID 1500 SR file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of ImportedLesion

    Raises
    ------
    SRImportError
        When the file is not DICOM, not an SR, or not a TID 1500 Measurement Report.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        ds = dcmread(path)
    except (InvalidDicomError, OSError) as exc:
        raise SRImportError(f"{path}: not a readable DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises assorted errors on damaged files
        raise DamagedSRError(f"{path}: damaged DICOM file ({type(exc).__name__}: {exc})") from exc
    try:
        is_sr = ds.get("ValueType") == "CONTAINER" and "ContentSequence" in ds
        title = _code(ds) if is_sr else None
    except Exception as exc:
        raise DamagedSRError(f"{path}: damaged DICOM file ({type(exc).__name__}: {exc})") from exc
    if not is_sr:
        raise SRImportError(f"{path}: not a DICOM Structured Report")
    if title != MEASUREMENT_REPORT:
        raise SRImportError(
            f"{path}: document title {title} is not Imaging Measurement Report "
            "(DCM 126000): not a TID 1500 SR"
        )
    # pydicom parses values lazily: a damaged element raises while the tree is walked.
    try:
        return _read_tree(ds, path)
    except SRImportError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise DamagedSRError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise DamagedSRError(f"{path}: damaged SR content ({type(exc).__name__}: {exc})") from exc


def _read_tree(ds: Dataset, path: Path) -> list[ImportedLesion]:
    patient = str(ds.get("PatientID", "")).strip()
    date = _iso(ds.get("StudyDate", "")) or _iso(ds.get("ContentDate", ""))
    if not patient:
        raise DamagedSRError("no PatientID: the measurements cannot be given to a patient")
    if not date:
        raise DamagedSRError("no StudyDate or ContentDate (YYYYMMDD): the time point has no date")
    sop_series = _evidence_series(ds)
    reader = ""
    groups = []
    for item in _children(ds):
        code = _code(item)
        if code == PERSON_OBSERVER_NAME and not reader:
            reader = str(item.get("PersonName", "")).rstrip("^")
        elif code == IMAGING_MEASUREMENTS:
            groups += [g for g in _children(item) if _code(g) == MEASUREMENT_GROUP]
    out = []
    for n, group in enumerate(groups, start=1):
        les = _group(group, f"{path}: measurement group {n}", n)
        les.patient_id, les.reader, les.source = patient, reader, str(path)
        les.date = date
        les.timepoint = les.timepoint or date
        for line in les.lines.values():
            les.series_uid = les.series_uid or sop_series.get(line.sop_instance_uid, "")
        if not les.series_uid and len(set(sop_series.values())) == 1:
            les.series_uid = next(iter(sop_series.values()))  # the report's only series
        out.append(les)
    return out


def _group(group: Dataset, where: str, n: int) -> ImportedLesion:
    les = ImportedLesion("", "", "", "", "", "", False, "")
    kind = status = None
    finding = None
    region = None
    site: tuple[str, str, str, str | None] | None = None
    for item in _children(group):
        code, vt = _code(item), item.get("ValueType")
        if code == TRACKING_ID:
            les.lesion_id = str(item.get("TextValue", ""))
        elif code == TRACKING_UID:
            les.tracking_uid = str(item.get("UID", ""))
        elif code in TIME_POINT and vt == "TEXT":
            les.timepoint = str(item.get("TextValue", ""))
        elif code == FINDING:
            finding = _code(item, "ConceptCodeSequence")
        elif code == FINDING_SITE:
            value, scheme = _code(item, "ConceptCodeSequence")
            lat = next(
                (
                    _code(c, "ConceptCodeSequence")[0]
                    for c in _children(item)
                    if _code(c) == LATERALITY
                ),
                None,
            )
            site = (value, scheme, _meaning(item), lat)
        elif code == IMAGE_REGION and vt == "SCOORD":
            region = _scoord(item)
        elif code == (C.BASELINE_CATEGORY.value, "DCM"):
            value = _code(item, "ConceptCodeSequence")[0]
            kind = {C.TARGET.value: "target", C.NON_TARGET.value: "non_target"}.get(value, kind)
        elif code == (C.LESION_KIND.value, C.PRIVATE_SCHEME):
            kind = "new"
        elif code == (C.LESION_STATUS.value, C.PRIVATE_SCHEME):
            status = _code(item, "ConceptCodeSequence")[0]
        elif vt == "NUM" and (code in _LONG or code in _SHORT):
            axis = "long" if code in _LONG else "short"
            value = _num(item, f"{where} ({_meaning(item, 'ConceptNameCodeSequence')})")
            if axis == "long" and les.long_axis_mm is not None:
                continue  # keep the first long-axis-like value (long axis before length)
            setattr(les, f"{axis}_axis_mm", value)
            line = next(
                (
                    x
                    for x in (_scoord(c) for c in _children(item) if c.get("ValueType") == "SCOORD")
                    if x
                ),
                None,
            )
            if line is not None:
                les.lines[axis] = line
    if region is not None and "long" not in les.lines and les.long_axis_mm is not None:
        les.lines["long"] = region  # TID 1410: the ROI is the measured line
    les.lesion_id = les.lesion_id or les.tracking_uid or f"G{n}"
    les.nodal = finding == (C.LYMPH_NODE.value, "SCT") or (
        site is not None and site[:2] == (C.LYMPH_NODE.value, "SCT")
    )
    les.organ = C.organ_name(*site) if site else ""
    measured = les.long_axis_mm is not None or les.short_axis_mm is not None
    les.kind = kind or ("target" if measured else "non_target")
    les.status = status or ("measured" if les.kind == "target" and measured else "present")
    if les.kind == "target" and les.status == "measured" and not measured:
        raise DamagedSRError(f"{where}: lesion {les.lesion_id} is measured but has no size")
    if les.status not in STATUSES[les.kind]:
        raise DamagedSRError(
            f"{where}: lesion {les.lesion_id}: status {les.status!r} is not one of a "
            f"{les.kind} lesion ({', '.join(STATUSES[les.kind])})"
        )
    return les


def read_srs(
    paths: Iterable[str | os.PathLike], damaged: list[str] | None = None
) -> list[ImportedLesion]:
    """Measurement groups of several SR files or folders (searched recursively).

    Non-SR DICOM files in folders are skipped; an explicitly named file that is not
    a TID 1500 SR is an error. A damaged SR (a value, a code or a reference that
    cannot be read) is skipped and named in ``damaged`` when a list is given (the
    rest is imported); without one it raises.

    Parameters
    ----------
    paths : iterable of path-like
    damaged : list of str, optional
        Receives one message per damaged SR skipped (file and what is wrong).

    Raises
    ------
    SRImportError
        When nothing could be imported, or a named file is not an SR.
    """
    paths = list(paths)
    out: list[ImportedLesion] = []
    skipped: list[str] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted(x for x in p.rglob("*") if x.is_file())
        elif p.is_file():
            files = [p]
        else:
            raise SRImportError(f"{p}: no such file or folder")
        for f in files:
            try:
                out += read_sr(f)
            except DamagedSRError as exc:
                if damaged is None:
                    raise
                skipped.append(str(exc))
            except SRImportError:
                if f == p:  # named explicitly: it must be an SR
                    raise
    if damaged is not None:
        damaged += skipped
    if not out:
        why = (
            f"; skipped {len(skipped)} damaged SR(s): " + "; ".join(skipped[:3]) if skipped else ""
        )
        raise SRImportError(
            "no TID 1500 measurement group found in " + ", ".join(map(str, paths)) + why
        )
    return out


def to_frame(lesions: Sequence[ImportedLesion]):
    """The imported groups as an annotation table (plus ``series_uid``, ``reader``,
    ``tracking_uid``)."""
    from recist_tool.annotations import Measurement, to_frame

    rows = [
        Measurement(
            patient_id=le.patient_id,
            timepoint=le.timepoint,
            date=le.date,
            lesion_id=le.lesion_id,
            kind=le.kind,
            organ=le.organ,
            nodal=le.nodal,
            long_axis_mm=le.long_axis_mm,
            short_axis_mm=le.short_axis_mm,
            status=le.status,
            extra={
                "reader": le.reader,
                "series_uid": le.series_uid,
                "tracking_uid": le.tracking_uid,
            },
        )
        for le in sorted(lesions, key=lambda x: (x.patient_id, x.date, x.timepoint, x.lesion_id))
    ]
    return to_frame(rows)


def to_readings(lesions: Sequence[ImportedLesion], index: ImageIndex) -> list[Reading]:
    """Readings (one per patient) with every axis line back in patient LPS mm.

    Parameters
    ----------
    lesions : sequence of ImportedLesion
    index : ImageIndex
        Headers of the images the SRs reference (for the geometry).

    Returns
    -------
    list of Reading
    """
    from recist_tool.export.sr import image_to_lps
    from recist_tool.reading import Finding, Line, Reading

    readings: dict[str, Reading] = {}
    for le in sorted(lesions, key=lambda x: (x.patient_id, x.date, x.timepoint)):
        r = readings.setdefault(le.patient_id, Reading(patient_id=le.patient_id, reader=le.reader))
        if not any(tp.label == le.timepoint for tp in r.timepoints):
            r.set_timepoint(le.timepoint, le.date)
        if le.series_uid and le.series_uid not in r.series:
            info = index.series_info(le.series_uid)
            if info is not None:
                r.add_series(info)
                r.assign_series(le.series_uid, le.timepoint, le.date)
        try:
            lesion = r.lesion(le.lesion_id)
        except Exception:
            lesion = r.add_lesion(le.kind, le.organ, le.nodal, le.lesion_id)
        lines: dict[str, Any] = {}
        for axis, al in le.lines.items():
            image = index.get(al.sop_instance_uid, f"{le.source}: lesion {le.lesion_id}")
            lps = image_to_lps(al.xy, image)
            series = str(image.SeriesInstanceUID)
            info = r.series.get(series)
            k = None
            if info is not None and info.geometry is not None:
                sops = info.geometry.sop_instance_uids
                k = sops.index(al.sop_instance_uid) if al.sop_instance_uid in sops else None
            lines[axis] = Line(
                tuple(map(float, lps[0])), tuple(map(float, lps[1])), series, al.sop_instance_uid, k
            )
        lesion.findings[le.timepoint] = Finding(
            status=le.status,
            long_axis=lines.get("long"),
            short_axis=lines.get("short"),
            long_axis_mm=None if "long" in lines else le.long_axis_mm,
            short_axis_mm=None if "short" in lines else le.short_axis_mm,
        )
    return list(readings.values())
