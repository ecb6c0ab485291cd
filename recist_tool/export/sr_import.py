"""DICOM SR import: TID 1500 Measurement Reports back into the annotation format.

Reads the SRs written by :mod:`recist_tool.export.sr` losslessly (every value the SR
carries: patient, time point, date, lesion ID and tracking UID, kind, organ as
written, nodal, long and short axis, RECIST status, reader, series, each axis line
and each non-target point marker with the slice it references), and TID 1500 SRs of
other tools — OHIF's Length and Bidirectional tools among them — with long/short
axis (SCT or the older SRT G-A185/G-A186 codes) or length/diameter measurements in
TID 1501 or TID 1410 groups: one lesion per measurement group, named by its label
(Comment), linked across time points by its Tracking Unique Identifier or label.
Measurement groups of other tools that are not lesions (a vessel diameter, an angle,
a probe, image-level groups) are reported and skipped.

The content tree is walked with pydicom directly, concept by concept, so that SRs
which highdicom's stricter template parsers refuse still import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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
FINDING_SITE_SRT = ("G-C0E3", "SRT")
COMMENT = (C.COMMENT.value, "DCM")
REFERENCED_SEGMENT = ("121191", "DCM")
_LONG = {
    (C.LONG_AXIS.value, "SCT"),
    C.LONG_AXIS_SRT,
    (C.LENGTH.value, "SCT"),
    ("G-D7FE", "SRT"),  # Length, SNOMED-RT (Slicer's ruler, cornerstoneTools 4)
    (C.DIAMETER.value, "SCT"),
    ("G-D785", "SRT"),  # Diameter, SNOMED-RT
}
_SHORT = {(C.SHORT_AXIS.value, "SCT"), C.SHORT_AXIS_SRT}
#: Free-text label codes of Cornerstone/OHIF (older releases put the label here).
_FREE_TEXT = {"CORNERSTONEFREETEXT"}
#: Findings that are lesions (SNOMED CT): lesion, lymph node, mass, neoplasm, tumour,
#: nodule, metastasis, target/non-target lesion.
_LESION_FINDINGS = {
    C.LESION.value,
    C.LYMPH_NODE.value,
    "4147007",  # Mass
    "108369006",  # Neoplasm
    "399981008",  # Neoplasm and/or hamartoma
    "27925004",  # Nodule
    "128462008",  # Metastatic neoplasm
    "14799000",  # Neoplasm, metastatic
    "86049000",  # Malignant neoplasm, primary
    "367651003",  # Malignant neoplasm of primary, secondary or uncertain origin
}
#: Finding sites that are not where a RECIST lesion is measured (vessels, heart
#: chambers): a length there is an anatomical measurement.
_NON_LESION_SITES = {
    "15825003",  # Aorta
    "59820001",  # Blood vessel
    "51114001",  # Artery
    "29092000",  # Vein
    "81040000",  # Pulmonary artery
    "64131007",  # Inferior vena cava
    "48345005",  # Superior vena cava
    "32764006",  # Portal vein
    "80891009",  # Heart
    "21814001",  # Cardiac ventricle
    "59652004",  # Cardiac atrium
}
_NON_LESION_WORDS = (
    "aorta", "aortic", "artery", "arterial", "vein", "venous", "vena cava", "vessel",
    "ventricle", "atrium", "heart",
)  # fmt: skip
#: Cornerstone/OHIF tools whose groups are not lesion sizes.
_NON_LENGTH_TOOLS = (
    "Angle", "CobbAngle", "Probe", "ArrowAnnotate", "KeyImage", "EllipticalROI",
    "RectangleROI", "CircleROI", "PlanarFreehandROI", "SplineROI", "LivewireContour",
    "UltrasoundDirectional", "Height",
)  # fmt: skip
_TO_MM = {"mm": 1.0, "cm": 10.0, "um": 0.001, "m": 1000.0}


class SRImportError(ExportError):
    """An SR cannot be imported (names the file and what is wrong)."""


@dataclass
class SkippedGroup:
    """A measurement group of another tool that is not a lesion (not imported)."""

    source: str
    group: int
    description: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: measurement group {self.group} ({self.description}): {self.reason}"


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
    marker: AxisLine | None = None  # a point (non-target, new lesion): xy of shape (1, 2)
    label: str = ""  # the Comment (DCM 121106) or Cornerstone free-text label
    tracking_text: str = ""  # the Tracking Identifier text
    organ_text: str = ""  # the organ as written (recist-tool's private item)
    group_index: int = 0
    own: bool = False  # written by recist-tool
    finding: tuple[str, str] | None = None
    finding_meaning: str = ""
    sites: list[tuple[str, str]] = field(default_factory=list)
    kind_coded: bool = False
    segment: bool = False  # a TID 1411 group of a DICOM SEG segment (volume, mean HU)


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


def _scoord(item: Dataset, points: int = 2) -> AxisLine | None:
    data = np.asarray(item.get("GraphicData", []), dtype=float).reshape(-1, 2)
    if len(data) != points:
        return None
    for child in _children(item):
        if child.get("ValueType") == "IMAGE" and child.get("ReferencedSOPSequence"):
            return AxisLine(str(child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID), data)
    return None


def _tip(item: Dataset) -> AxisLine | None:
    """The first point of a SCOORD POINT or 2-point POLYLINE (an arrow's tip)."""
    if item.get("ValueType") != "SCOORD":
        return None
    line = _scoord(item, points=1) or _scoord(item)
    return None if line is None else AxisLine(line.sop_instance_uid, line.xy[:1])


def _num(item: Dataset, where: str) -> float:
    mv = item.get("MeasuredValueSequence")
    if not mv:
        raise SRImportError(f"{where}: measurement without a value")
    value = float(mv[0].NumericValue)
    unit = _code(mv[0], "MeasurementUnitsCodeSequence")[0]
    if unit not in _TO_MM:
        raise SRImportError(f"{where}: unit {unit!r} is not a length (expected mm)")
    return value * _TO_MM[unit]


def _evidence_series(ds: Dataset) -> dict[str, str]:
    out = {}
    for kw in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(kw, []) or []:
            for series in study.get("ReferencedSeriesSequence", []) or []:
                for sop in series.get("ReferencedSOPSequence", []) or []:
                    out[str(sop.ReferencedSOPInstanceUID)] = str(series.SeriesInstanceUID)
    return out


def _is_own(ds: Dataset) -> bool:
    """Written by recist-tool (its private coding scheme is declared)."""
    return any(
        str(item.get("CodingSchemeDesignator", "")) == C.PRIVATE_SCHEME
        for item in ds.get("CodingSchemeIdentificationSequence", []) or []
    )


def read_sr(
    path: str | os.PathLike, skipped: list[SkippedGroup] | None = None
) -> list[ImportedLesion]:
    """Lesions of one TID 1500 SR file: one per measurement group.

    Parameters
    ----------
    path : path-like
    skipped : list, optional
        Receives a :class:`SkippedGroup` for every measurement group of another tool
        that is not a lesion (vessel diameters, angles, probes, image-level groups).

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
    if ds.get("ValueType") != "CONTAINER" or "ContentSequence" not in ds:
        raise SRImportError(f"{path}: not a DICOM Structured Report")
    if _code(ds) != MEASUREMENT_REPORT:
        raise SRImportError(
            f"{path}: document title {_code(ds)} is not Imaging Measurement Report "
            "(DCM 126000): not a TID 1500 SR"
        )
    own = _is_own(ds)
    patient = str(ds.get("PatientID", ""))
    date = _iso(ds.get("StudyDate", "")) or _iso(ds.get("ContentDate", ""))
    sop_series = _evidence_series(ds)
    reader = ""
    groups = []
    for item in _children(ds):
        code = _code(item)
        if code == PERSON_OBSERVER_NAME and not reader:
            reader = str(item.get("PersonName", "")).rstrip("^")
            if reader == "unknown^unknown":
                reader = ""  # dcmjs's placeholder observer
        elif code == IMAGING_MEASUREMENTS:
            groups += [g for g in _children(item) if _code(g) == MEASUREMENT_GROUP]
    out = []
    for n, group in enumerate(groups, start=1):
        les = _group(group, f"{path}: measurement group {n}", n)
        les.patient_id, les.reader, les.source = patient, reader, str(path)
        les.date, les.own, les.group_index = date, own, n
        les.timepoint = les.timepoint or date
        if les.segment:  # volume and mean HU of a segment: the sizes are in planar groups
            if skipped is not None:
                reason = "a segmentation's volumetric group (volume, mean HU), not a size"
                skipped.append(SkippedGroup(str(path), n, _describe(les), reason))
            continue
        if not own:
            reason = _not_a_lesion(les)
            if reason:
                if skipped is not None:
                    skipped.append(SkippedGroup(str(path), n, _describe(les), reason))
                continue
        les.lesion_id = _lesion_id(les, own, n)
        for line in [*les.lines.values(), les.marker]:
            if line is not None:
                les.series_uid = les.series_uid or sop_series.get(line.sop_instance_uid, "")
        if not les.series_uid and len(set(sop_series.values())) == 1:
            les.series_uid = next(iter(sop_series.values()))  # the report's only series
        out.append(les)
    return out


def _describe(les: ImportedLesion) -> str:
    what = les.tracking_text.split(":")[-1] if les.tracking_text else "group"
    return f"{what} {les.label!r}" if les.label else what


def _lesion_id(les: ImportedLesion, own: bool, n: int) -> str:
    """Ours: the Comment (older SRs: the tracking identifier). Others: the label,
    else the tracking identifier when it names the lesion (not a tool), else G<n>."""
    if les.label:
        return les.label
    if les.tracking_text and (own or not _is_tool_text(les.tracking_text)):
        return les.tracking_text
    return f"G{n}"


def _is_tool_text(text: str) -> bool:
    return text.startswith((C.CORNERSTONE_TAG, C.CORNERSTONE_LEGACY_TAG)) or "@^" in text


def _not_a_lesion(les: ImportedLesion) -> str:
    """Why a group of another tool is not a lesion ("" when it is one)."""
    tool = les.tracking_text.split(":")[-1] if _is_tool_text(les.tracking_text) else ""
    if les.kind_coded:
        return ""  # a RECIST baseline category or new-lesion code: a lesion
    lesion_finding = les.finding is not None and les.finding[0] in _LESION_FINDINGS
    if les.finding and not lesion_finding and les.finding[0] not in _FREE_TEXT:
        return f"finding {les.finding_meaning or les.finding[0]!r} is not a lesion"
    for value, meaning in les.sites:
        if value in _NON_LESION_SITES:
            return f"finding site {meaning or value} is not where a RECIST lesion is measured"
    hit = next((w for w in _NON_LESION_WORDS if w in les.label.lower()), None)
    if hit and not lesion_finding:
        return f"its label names an anatomical structure ({hit}), not a lesion"
    if tool == "ArrowAnnotate" and les.label and les.marker is not None:
        return ""  # a labelled arrow (how OHIF saves our markers): a non-target lesion
    if tool == "ArrowAnnotate":
        return "an arrow without a lesion label is not a lesion"
    if tool in _NON_LENGTH_TOOLS or les.tracking_text.endswith(":Series"):
        return f"a {tool or 'series-level'} measurement is not a lesion size"
    if les.long_axis_mm is None and les.short_axis_mm is None and not lesion_finding:
        return "no length measured and nothing says it is a lesion (an image-level group?)"
    return ""


def _group(group: Dataset, where: str, n: int) -> ImportedLesion:
    les = ImportedLesion("", "", "", "", "", "", False, "")
    kind = status = None
    finding = None
    region = None
    tip: AxisLine | None = None
    site: tuple[str, str, str, str | None] | None = None
    for item in _children(group):
        code, vt = _code(item), item.get("ValueType")
        if code == TRACKING_ID:
            les.tracking_text = str(item.get("TextValue", ""))
        elif code == TRACKING_UID:
            les.tracking_uid = str(item.get("UID", ""))
        elif code in TIME_POINT and vt == "TEXT":
            les.timepoint = str(item.get("TextValue", ""))
        elif code == FINDING:
            finding = _code(item, "ConceptCodeSequence")
            les.finding_meaning = _meaning(item)
            if finding[0] in _FREE_TEXT and not les.label:
                les.label = les.finding_meaning  # older OHIF: the label as the finding
        elif code in (FINDING_SITE, FINDING_SITE_SRT):
            value, scheme = _code(item, "ConceptCodeSequence")
            if value in _FREE_TEXT:
                les.label = les.label or _meaning(item)  # older OHIF: the label as a site
                continue
            lat = next(
                (
                    _code(c, "ConceptCodeSequence")[0]
                    for c in _children(item)
                    if _code(c) == LATERALITY
                ),
                None,
            )
            les.sites.append((value, _meaning(item)))
            site = site or (value, scheme, _meaning(item), lat)
        elif code == COMMENT and vt == "TEXT":
            les.label = str(item.get("TextValue", "")).strip()
        elif code == (C.ORGAN_TEXT.value, C.PRIVATE_SCHEME) and vt == "TEXT":
            les.organ_text = str(item.get("TextValue", ""))
        elif code == REFERENCED_SEGMENT:
            les.segment = True
        elif code == IMAGE_REGION and vt == "SCOORD":
            region = item
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
        elif vt == "NUM" and tip is None:
            # OHIF's ArrowAnnotate/Probe: a point (an arrow: tip first) under a NUM item
            tip = next((x for x in map(_tip, _children(item)) if x), None)
    if region is None and tip is not None and les.long_axis_mm is None:
        les.marker = tip
    if region is not None:
        if region.get("GraphicType") == "POINT":
            les.marker = _scoord(region, points=1)
        elif "long" not in les.lines and les.long_axis_mm is not None:
            line = _scoord(region)
            if line is not None:
                les.lines["long"] = line  # TID 1410: the ROI is the measured line
    les.kind_coded = kind is not None
    les.finding = finding
    les.nodal = finding == (C.LYMPH_NODE.value, "SCT") or (
        site is not None and site[:2] == (C.LYMPH_NODE.value, "SCT")
    )
    les.organ = les.organ_text or (C.organ_name(*site) if site else "")
    measured = les.long_axis_mm is not None or les.short_axis_mm is not None
    les.kind = kind or ("target" if measured else "non_target")
    les.status = status or ("measured" if les.kind == "target" and measured else "present")
    if les.kind == "target" and les.status == "measured" and not measured:
        raise SRImportError(f"{where}: lesion {les.label or n} is measured but has no size")
    return les


def read_srs(
    paths: Iterable[str | os.PathLike], skipped: list[SkippedGroup] | None = None
) -> list[ImportedLesion]:
    """Lesions of several SR files or folders (searched recursively).

    Non-SR DICOM files in folders are skipped; an explicitly named file that is not
    a TID 1500 SR is an error. A lesion keeps one ID across the SRs of a patient:
    groups sharing a Tracking Unique Identifier get the ID of the first one; two
    groups of one time point with the same label get suffixes (``-2``, ``-3``).

    Parameters
    ----------
    paths : iterable of path-like
    skipped : list, optional
        Receives the measurement groups of other tools that are not lesions.
    """
    paths = list(paths)
    out: list[ImportedLesion] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                try:
                    out += read_sr(f, skipped)
                except SRImportError:
                    continue
        elif p.is_file():
            out += read_sr(p, skipped)
        else:
            raise SRImportError(f"{p}: no such file or folder")
    if not out:
        raise SRImportError("no TID 1500 measurement group found in " + ", ".join(map(str, paths)))
    _link(out)
    return out


def _link(lesions: list[ImportedLesion]) -> None:
    by_uid: dict[tuple[str, str], str] = {}
    used: set[tuple[str, str, str]] = set()
    for le in sorted(lesions, key=lambda x: (x.patient_id, x.date, x.source, x.group_index)):
        key = (le.patient_id, le.tracking_uid)
        if le.tracking_uid and key in by_uid:
            le.lesion_id = by_uid[key]
        base, k = le.lesion_id, 1
        while (le.patient_id, le.timepoint, le.lesion_id) in used:
            k += 1
            le.lesion_id = f"{base}-{k}"
        used.add((le.patient_id, le.timepoint, le.lesion_id))
        if le.tracking_uid:
            by_uid.setdefault(key, le.lesion_id)


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
    from recist_tool.reading import Finding, Line, Marker, Reading

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
        marker = None
        if le.marker is not None:
            image = index.get(le.marker.sop_instance_uid, f"{le.source}: lesion {le.lesion_id}")
            series = str(image.SeriesInstanceUID)
            info = r.series.get(series)
            sops = info.geometry.sop_instance_uids if info and info.geometry else ()
            k = (
                sops.index(le.marker.sop_instance_uid)
                if le.marker.sop_instance_uid in sops
                else None
            )
            marker = Marker(
                tuple(map(float, image_to_lps(le.marker.xy, image)[0])),
                series,
                le.marker.sop_instance_uid,
                k,
            )
        lesion.findings[le.timepoint] = Finding(
            status=le.status,
            marker=marker,
            long_axis=lines.get("long"),
            short_axis=lines.get("short"),
            long_axis_mm=None if "long" in lines else le.long_axis_mm,
            short_axis_mm=None if "short" in lines else le.short_axis_mm,
        )
    return list(readings.values())
