"""DICOM SR export: a TID 1500 Measurement Report per patient and time point.

Each SR is a Comprehensive 3D SR built with highdicom, in the study of the images
it measures. Every lesion is one measurement group (TID 1501) with

* Tracking Identifier (the lesion ID) and Tracking Unique Identifier — the same UID
  for the same lesion at every time point, derived from patient and lesion ID;
* Time Point (TID 1502: the time point label and its order, baseline = 1);
* Finding (Lesion or Lymph node), Finding Site (SNOMED CT, with laterality),
  method RECIST 1.1, Baseline Category (target / non-target);
* Long axis (SCT 103339001) and Short axis (SCT 103340004) in mm, each with its
  2-point polyline in image coordinates of the slice it was drawn on — DICOM image
  coordinates put the top-left corner of the first pixel at (0, 0), so a pixel
  centre (column, row) is at (column + 0.5, row + 0.5);
* the RECIST per-lesion status (measured, too small, disappeared, …) and the kind
  "new lesion" as coded qualitative evaluations of a private scheme ``99RCST``.

Patient name, birth date and other identifiers of the images are left empty unless
asked for (``include_identity``); with a :class:`~recist_tool.export.deid.Deidentifier`
the SR is de-identified by the PS3.15 Basic Profile with consistent UID replacement.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recist_tool import __version__
from recist_tool._atomic import atomic_write
from recist_tool.export import ExportError
from recist_tool.export import sr_codes as C
from recist_tool.filenames import file_stem

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from recist_tool.export.deid import Deidentifier
    from recist_tool.reading import Line, Reading

#: Patient-identity attributes: copied from the images only when asked for
#: (``include_identity``), and then exactly as the images of the study carry them.
IDENTITY_ATTRIBUTES = (
    "PatientName",
    "PatientBirthDate",
    "PatientBirthTime",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "PatientMotherBirthName",
    "EthnicGroup",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)
#: Free-text fields of the images: copied only when asked for (``include_free_text``)
#: — they often hold names, histories and places.
FREE_TEXT_ATTRIBUTES = (
    "StudyDescription",
    "PatientComments",
    "AdditionalPatientHistory",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
)
#: Patient attributes the SR always shares with its images (they file it in the study).
PATIENT_KEY_ATTRIBUTES = ("PatientID", "IssuerOfPatientID", "PatientSex")
#: Distance (mm) a line end may lie off the plane of the slice it references.
PLANE_TOLERANCE_MM = 0.05
SR_SERIES_NUMBER = 990


class SRExportError(ExportError):
    """An SR cannot be written (missing image, line off its slice, …)."""


def tracking_uid(patient_id: str, lesion_id: str) -> str:
    """Tracking Unique Identifier of a lesion: the same at every time point.

    ``2.25.`` followed by 128 bits of SHA-256 of the patient and lesion IDs (a
    UUID-derived UID as PS3.5 B.2 allows), so separate exports agree without a
    registry.
    """
    digest = hashlib.sha256(f"recist-tool lesion\x00{patient_id}\x00{lesion_id}".encode())
    return f"2.25.{int.from_bytes(digest.digest()[:16], 'big')}"


# ----------------------------------------------------------------------------- images


class ImageIndex:
    """Headers (no pixel data) of DICOM image files, by SOP Instance UID.

    Parameters
    ----------
    paths : iterable of path-like
        Files or folders (searched recursively). Non-DICOM files are skipped.
    """

    def __init__(self, paths: Iterable[str | os.PathLike]):
        from pydicom import dcmread
        from pydicom.errors import InvalidDicomError

        self.by_sop: dict[str, Dataset] = {}
        self.files: dict[str, Path] = {}
        self.by_series: dict[str, list[str]] = {}
        for root in paths:
            root = Path(root)
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            for f in files:
                try:
                    ds = dcmread(f, stop_before_pixels=True)
                except (InvalidDicomError, OSError, ValueError, EOFError):
                    continue
                uid = str(ds.get("SOPInstanceUID", ""))
                if not uid or uid in self.by_sop or "ContentSequence" in ds:
                    continue  # duplicates, SRs and other non-images
                self.by_sop[uid] = ds
                self.files[uid] = f
                self.by_series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(uid)

    def series_info(self, series_uid: str):
        """The series as a :class:`recist_tool.reading.SeriesInfo` with its geometry.

        Slices are ordered as :func:`recist_tool.dicom.load_series` orders them, so
        slice indices agree with a loaded volume. None when the series is unknown.
        """
        from recist_tool.dicom.geometry import plan_volume
        from recist_tool.dicom.headers import read_header
        from recist_tool.reading import SeriesGeometry, SeriesInfo, dicom_date

        sops = self.by_series.get(series_uid)
        if not sops:
            return None
        headers = [h for h in (read_header(str(self.files[s])) for s in sops) if h is not None]
        plan = plan_volume(headers)
        first = self.by_sop[sops[0]]
        thick = first.get("SliceThickness")
        number = first.get("SeriesNumber")
        return SeriesInfo(
            series_uid=series_uid,
            description=str(first.get("SeriesDescription", "")),
            modality=str(first.get("Modality", "")),
            study_date=dicom_date(first.get("StudyDate", "")),
            series_number=None if number in (None, "") else int(number),
            slice_thickness_mm=None if thick in (None, "") else float(thick),
            image_count=len(plan.slices),
            geometry=SeriesGeometry(
                series_uid=series_uid,
                origin_lps=tuple(plan.origin_lps),
                spacing_zyx=tuple(plan.spacing_zyx),
                direction=tuple(plan.direction),
                sop_instance_uids=tuple(s.header.sop_instance_uid for s in plan.slices),
            ),
        )

    def get(self, sop_uid: str, where: str) -> Dataset:
        """Header of an image, or an error naming ``where`` it was needed."""
        try:
            return self.by_sop[sop_uid]
        except KeyError:
            raise SRExportError(
                f"{where}: image with SOP Instance UID {sop_uid} not found in the DICOM "
                "folders given (--dicom)"
            ) from None


def image_coordinates(points_lps: np.ndarray, image: Dataset, where: str = "") -> np.ndarray:
    """Patient LPS points (mm) → DICOM image coordinates (column + 0.5, row + 0.5).

    Parameters
    ----------
    points_lps : array (n, 3)
    image : pydicom.Dataset
        The slice header (ImagePositionPatient, ImageOrientationPatient, PixelSpacing).
    where : str
        Context for the error message.

    Returns
    -------
    numpy.ndarray (n, 2)
        ``(x, y)`` per point, with the pixel-corner origin of DICOM SCOORDs.

    Raises
    ------
    SRExportError
        When a point lies more than :data:`PLANE_TOLERANCE_MM` off the slice.
    """
    ipp = np.asarray(image.ImagePositionPatient, dtype=float)
    iop = np.asarray(image.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]  # direction of increasing column, of increasing row
    dr, dc = (float(v) for v in image.PixelSpacing)  # row spacing, column spacing
    d = np.asarray(points_lps, dtype=float) - ipp
    normal = np.cross(row_dir, col_dir)
    off = np.abs(d @ normal)
    if np.any(off > PLANE_TOLERANCE_MM):
        raise SRExportError(
            f"{where}: line end {off.max():.3f} mm off the plane of slice "
            f"{image.get('InstanceNumber', '?')} (SOP Instance UID {image.SOPInstanceUID})"
        )
    col = d @ row_dir / dc
    row = d @ col_dir / dr
    return np.stack([col + 0.5, row + 0.5], axis=1)


def image_to_lps(coords: np.ndarray, image: Dataset) -> np.ndarray:
    """Inverse of :func:`image_coordinates`: image (x, y) → patient LPS (mm)."""
    ipp = np.asarray(image.ImagePositionPatient, dtype=float)
    iop = np.asarray(image.ImageOrientationPatient, dtype=float)
    dr, dc = (float(v) for v in image.PixelSpacing)
    xy = np.asarray(coords, dtype=float)
    col, row = xy[:, 0] - 0.5, xy[:, 1] - 0.5
    return ipp + np.outer(col * dc, iop[:3]) + np.outer(row * dr, iop[3:])


# ----------------------------------------------------------------------------- content


@dataclass
class _Axis:
    code: Any
    value: float
    line: Line | None


def _axes(lesion, finding) -> list[_Axis]:
    """The group's axes. A lesion that split is measured as its parts added up (what
    RECIST counts), as numbers without geometry: one line would show one part only."""
    split = bool(finding.fragments)
    out = []
    for code, value, line in (
        (C.LONG_AXIS, finding.added_up("long") if split else finding.long_mm, finding.long_axis),
        (
            C.SHORT_AXIS,
            finding.added_up("short") if split else finding.short_mm,
            finding.short_axis,
        ),
    ):
        line = None if split else line
        if value is not None:
            out.append(_Axis(code, float(value), line))
    return out


def _tool(axes: list[_Axis], finding) -> str | None:
    """The OHIF (Cornerstone3D) tool a group hydrates as, from its geometry.

    Bidirectional when both axes have lines on one image (OHIF draws a bidirectional
    on one image); Length when only one axis line can be drawn (the first one: the
    long axis, or a node's short axis alone); ArrowAnnotate for a point marker (OHIF
    shows the lesion ID at the arrow's tip); None when
    there is no geometry (the group is then numbers only: OHIF shows it read-only).
    """
    lines = [a.line for a in axes if a.line is not None and a.line.sop_instance_uid]
    if len(lines) == 2 and lines[0].sop_instance_uid == lines[1].sop_instance_uid:
        return C.TOOL_BIDIRECTIONAL
    if lines:
        return C.TOOL_LENGTH
    if finding.marker is not None and finding.marker.sop_instance_uid and not axes:
        return C.TOOL_ARROW
    return None


def _measurement_group(reading: Reading, lesion, label: str, index: ImageIndex):
    from highdicom.sr import (
        CoordinatesForMeasurement,
        FindingSite,
        GraphicTypeValues,
        ImageRegion,
        Measurement,
        MeasurementsAndQualitativeEvaluations,
        PlanarROIMeasurementsAndQualitativeEvaluations,
        QualitativeEvaluation,
        RelationshipTypeValues,
        SourceImageForRegion,
        TextContentItem,
        TimePointContext,
        TrackingIdentifier,
    )

    finding = lesion.findings[label]
    where = f"patient {reading.patient_id}, time point {label}, lesion {lesion.lesion_id}"
    axes = _axes(lesion, finding)
    tool = _tool(axes, finding)
    measurements = []
    for axis in axes:
        coords = None
        if axis.line is not None and axis.line.sop_instance_uid:
            image = index.get(axis.line.sop_instance_uid, where)
            xy = image_coordinates(np.array([axis.line.p1_lps, axis.line.p2_lps]), image, where)
            coords = [
                CoordinatesForMeasurement(
                    graphic_type=GraphicTypeValues.POLYLINE,
                    graphic_data=xy.astype(np.float32),
                    source_image=SourceImageForRegion(
                        referenced_sop_class_uid=image.SOPClassUID,
                        referenced_sop_instance_uid=image.SOPInstanceUID,
                    ),
                )
            ]
        measurements.append(
            Measurement(name=axis.code, value=axis.value, unit=C.MM, referenced_coordinates=coords)
        )
    site, laterality = C.organ_site(lesion.organ) if lesion.organ else (None, None)
    evaluations = []
    if lesion.kind in ("target", "non_target"):
        evaluations.append(
            QualitativeEvaluation(
                C.BASELINE_CATEGORY, C.TARGET if lesion.kind == "target" else C.NON_TARGET
            )
        )
    else:
        evaluations.append(QualitativeEvaluation(C.LESION_KIND, C.NEW_LESION))
    if finding.status:
        from pydicom.sr.coding import Code

        evaluations.append(
            QualitativeEvaluation(
                C.LESION_STATUS,
                Code(finding.status, C.PRIVATE_SCHEME, C.STATUS_MEANINGS[finding.status]),
            )
        )
    common = dict(
        # OHIF picks its tool from the tracking identifier text; our lesion identity
        # is the tracking UID (the same at every time point) and the Comment below.
        tracking_identifier=TrackingIdentifier(
            uid=tracking_uid(reading.patient_id, lesion.lesion_id),
            identifier=tool or lesion.lesion_id,
        ),
        # no Time Point Order: a NUM item before the measurements hides their
        # coordinates from OHIF (its adapter reads the first NUM of a group)
        time_point_context=TimePointContext(time_point=label),
        finding_type=C.LYMPH_NODE if lesion.nodal else C.LESION,
        method=C.RECIST_11,
        finding_sites=None if site is None else [FindingSite(site, laterality=laterality)],
        qualitative_evaluations=evaluations,
    )
    if tool == C.TOOL_ARROW:
        image = index.get(finding.marker.sop_instance_uid, where)
        xy = image_coordinates(np.array([finding.marker.position_lps]), image, where)
        group = PlanarROIMeasurementsAndQualitativeEvaluations(
            referenced_region=ImageRegion(
                graphic_type=GraphicTypeValues.POINT,
                graphic_data=xy.astype(np.float32),
                source_image=SourceImageForRegion(
                    referenced_sop_class_uid=image.SOPClassUID,
                    referenced_sop_instance_uid=image.SOPInstanceUID,
                ),
            ),
            **common,
        )
    else:
        group = MeasurementsAndQualitativeEvaluations(measurements=measurements or None, **common)
    items = group[0].ContentSequence
    extra = [TextContentItem(C.COMMENT, lesion.lesion_id, RelationshipTypeValues.CONTAINS)]
    if lesion.organ and C.organ_name_of(site, laterality) != lesion.organ:
        extra.append(
            TextContentItem(C.ORGAN_TEXT, str(lesion.organ)[:1024], RelationshipTypeValues.CONTAINS)
        )
    # OHIF's order: tracking identifiers, measurements (the first NUM carries the
    # geometry the adapter reads), the label as a Comment, then everything else.
    head = [it for it in items if _concept(it) in (("112039", "DCM"), ("112040", "DCM"))]
    nums = [it for it in items if it.ValueType == "NUM"]
    rest = [it for it in items if it not in head and it not in nums]
    group[0].ContentSequence = [*head, *nums, *extra, *rest]
    return group


def _concept(item) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence")
    return (str(seq[0].CodeValue), str(seq[0].CodingSchemeDesignator)) if seq else ("", "")


def _evidence(reading: Reading, label: str, index: ImageIndex) -> list[Dataset]:
    """Headers of every image the time point's lines reference (else its series)."""
    sops: list[str] = []
    for lesion in reading.lesions:
        f = lesion.findings.get(label)
        if f is None:
            continue
        for mark in (f.long_axis, f.short_axis, f.marker):
            if mark is not None and mark.sop_instance_uid and mark.sop_instance_uid not in sops:
                sops.append(mark.sop_instance_uid)
    where = f"patient {reading.patient_id}, time point {label}"
    if sops:
        return [index.get(s, where) for s in sops]
    series = [s.series_uid for s in reading.series_of(label)] + [
        lesion.findings[label].series_uid
        for lesion in reading.lesions
        if label in lesion.findings and lesion.findings[label].series_uid
    ]
    for uid in series:
        if index.by_series.get(uid):
            return [index.by_sop[index.by_series[uid][0]]]
    raise SRExportError(
        f"{where}: no image of series {', '.join(series) or '(none recorded)'} found in the "
        "DICOM folders given: the SR must be placed in the study of its images"
    )


def build_sr(
    reading: Reading,
    timepoint: str,
    index: ImageIndex,
    include_identity: bool = False,
    manufacturer: str = "recist-tool",
    extra_groups: Sequence[Any] = (),
    extra_evidence: Sequence[Dataset] = (),
    include_free_text: bool = False,
) -> Dataset:
    """Build the TID 1500 Comprehensive 3D SR of one patient at one time point.

    Parameters
    ----------
    reading : recist_tool.reading.Reading
        The patient's lesions with their lines (from the annotation CSV and sidecar).
    timepoint : str
        Time point label.
    index : ImageIndex
        Headers of the images the lines were drawn on.
    include_identity : bool
        Copy patient name, birth date, accession number, … from the images (off by
        default: exports never carry them unless asked); they then match the images.
    manufacturer : str
    extra_groups : sequence, optional
        More measurement groups after the lesions' (e.g. the volumetric groups of
        :func:`recist_tool.export.seg.volumetric_group`).
    extra_evidence : sequence of Dataset, optional
        Objects those groups reference (e.g. the DICOM SEG).
    include_free_text : bool
        Also copy the images' free-text fields (:data:`FREE_TEXT_ATTRIBUTES`: study
        description, patient comments, history, institution, station, device serial
        number).

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
    """
    from highdicom import UID
    from highdicom.sr import (
        Comprehensive3DSR,
        DeviceObserverIdentifyingAttributes,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
        PersonObserverIdentifyingAttributes,
    )
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    labels = [tp.label for tp in reading.timepoints]
    if timepoint not in labels:
        raise SRExportError(f"patient {reading.patient_id}: no time point {timepoint!r}")
    order = labels.index(timepoint) + 1
    lesions = [le for le in reading.lesions if timepoint in le.findings]
    if not lesions:
        raise SRExportError(f"patient {reading.patient_id}, time point {timepoint}: no lesions")
    groups = [_measurement_group(reading, le, timepoint, index) for le in lesions]
    groups += list(extra_groups)
    images = _evidence(reading, timepoint, index)
    where = f"patient {reading.patient_id}, time point {timepoint}"
    patient = _patient_attributes(images, where, include_identity, include_free_text)
    images = [_without_identity(ds) for ds in images]
    evidence = images + list(extra_evidence)
    device = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=tracking_uid("recist-tool device", manufacturer),
            name="recist-tool",
            manufacturer_name=manufacturer,
            model_name=f"recist-tool {__version__}",
        ),
    )
    person = None
    if reading.reader:
        person = ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=PersonObserverIdentifyingAttributes(
                # a one-word name gets the trailing caret PS3.5 6.2.1.2 asks for
                name=reading.reader if "^" in reading.reader else f"{reading.reader}^"
            ),
        )
    report = MeasurementReport(
        observation_context=ObservationContext(
            observer_person_context=person, observer_device_context=device
        ),
        procedure_reported=C.CT_UNSPECIFIED,
        imaging_measurements=groups,
        # an Image Library (TID 1600) of every image referenced: older OHIF 3 needs it
        referenced_images=images,
    )
    sr = Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=UID(),
        instance_number=order,
        manufacturer=manufacturer,
        is_complete=True,
        series_description=f"RECIST 1.1 measurements {timepoint}"[:64],
    )
    for kw in IDENTITY_ATTRIBUTES + FREE_TEXT_ATTRIBUTES:
        if kw in sr:
            del sr[kw]
    for elem in patient:
        sr.add(elem)
    scheme = Dataset()
    scheme.CodingSchemeDesignator = C.PRIVATE_SCHEME
    scheme.CodingSchemeName = C.PRIVATE_SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = "recist-tool"
    sr.CodingSchemeIdentificationSequence = [scheme]
    sr.SoftwareVersions = __version__
    return sr


def _patient_attributes(
    images: Sequence[Dataset], where: str, identity: bool, free_text: bool
) -> list:
    """The patient/study attributes the SR carries, as the images of its study do.

    Patient ID and sex always; the identity attributes when ``identity`` (the
    Type 2 ones empty otherwise); free text when ``free_text``. The images must
    agree on every attribute copied, or the SR could not be filed with them.
    """
    from pydicom.dataelem import DataElement

    wanted = list(PATIENT_KEY_ATTRIBUTES)
    if identity:
        wanted += IDENTITY_ATTRIBUTES
    if free_text:
        wanted += FREE_TEXT_ATTRIBUTES
    out = []
    for kw in wanted:
        values = {str(ds.get(kw, "")) for ds in images if kw in ds}
        if len(values) > 1:
            raise SRExportError(
                f"{where}: the images disagree on {kw} ({', '.join(sorted(values))}): "
                "the SR cannot match them all"
            )
        source = next((ds for ds in images if kw in ds), None)
        if source is not None:
            out.append(copy.deepcopy(source[kw]))
    if not identity:  # Type 2 attributes of the Patient and General Study modules
        for kw, vr in (("PatientName", "PN"), ("PatientBirthDate", "DA")):
            out.append(DataElement(kw, vr, ""))
        out.append(DataElement("AccessionNumber", "SH", ""))
        out.append(DataElement("ReferringPhysicianName", "PN", ""))
        out.append(DataElement("StudyID", "SH", ""))
    return out


def _without_identity(ds: Dataset, keep_identity: bool = False) -> Dataset:
    """A copy of an image header without free text, and without identity unless
    ``keep_identity``.

    A deep copy: a shallow ``copy.copy`` of a pydicom Dataset shares its element
    dictionary, so emptying an attribute there would change the index's own header.
    """
    from pydicom.dataelem import DataElement

    out = copy.deepcopy(ds)
    for kw in (() if keep_identity else IDENTITY_ATTRIBUTES) + FREE_TEXT_ATTRIBUTES:
        if kw in out:
            elem = out[kw]
            if elem.VR == "SQ":
                del out[kw]
            else:
                out[kw] = DataElement(elem.tag, elem.VR, "")
    return out


def write_sr(sr: Dataset, path: str | os.PathLike) -> Path:
    """Write an SR dataset to a DICOM file atomically."""
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        sr.save_as(fh, enforce_file_format=True)
    return path


def export_readings(
    readings: Sequence[Reading],
    dicom: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    timepoints: Sequence[str] | None = None,
    include_identity: bool = False,
    deid: Deidentifier | None = None,
    include_free_text: bool = False,
) -> list[Path]:
    """Write one SR per patient and time point into ``outdir``.

    Parameters
    ----------
    readings : sequence of Reading
    dicom : sequence of path-like
        Folders (or files) holding the images the lines were drawn on.
    outdir : path-like
    timepoints : sequence of str, optional
        Only these time points (default: all).
    include_identity : bool
        Keep patient name, birth date, … from the images.
    deid : Deidentifier, optional
        De-identify each SR (PS3.15 Basic Profile, consistent UID replacement).
    include_free_text : bool
        Keep the images' free-text fields (:data:`FREE_TEXT_ATTRIBUTES`).

    Returns
    -------
    list of pathlib.Path
        Files named ``<patient>_<timepoint>_SR.dcm`` (the pseudonym and the scrubbed
        label when de-identified); identifiers with other characters than ASCII
        letters, digits, ``.`` and ``-``, or longer than 60, get a short hash so that
        names stay unique and bounded (:func:`recist_tool.filenames.file_stem`).
    """
    index = ImageIndex(dicom)
    if not index.by_sop:
        raise SRExportError(f"no DICOM image found in {', '.join(map(str, dicom))}")
    outdir = Path(outdir)
    paths = []
    for reading in readings:
        for tp in reading.timepoints:
            if timepoints and tp.label not in timepoints:
                continue
            if not any(tp.label in le.findings for le in reading.lesions):
                continue
            sr = build_sr(
                reading,
                tp.label,
                index,
                include_identity=include_identity,
                include_free_text=include_free_text,
            )
            pid, label = reading.patient_id, tp.label
            if deid is not None:
                # the keyed hash is on the images' Patient ID: the same as for the images;
                # the reading's own patient code is scrubbed from the kept text too
                image_pid = str(sr.get("PatientID", "") or reading.patient_id)
                sr = deid.dataset(sr, identifiers=[reading.patient_id])
                pid = str(sr.PatientID)
                label = deid.scrub_text(tp.label, image_pid, [reading.patient_id])
            name = f"{file_stem(pid, label)}_SR.dcm"  # unique and bounded (recist_tool.filenames)
            paths.append(write_sr(sr, outdir / name))
    return paths


def numbers_only(readings: Sequence[Reading]) -> list[str]:
    """Warnings for the lesions whose sizes have no line geometry.

    An SR of such a lesion carries its numbers only: no viewer can show or edit the
    measurement (an annotation CSV without its JSON sidecar has no lines).
    """
    out = []
    for reading in readings:
        missing = sorted(
            {
                f"{lesion.lesion_id} ({label})"
                for lesion in reading.lesions
                for label, f in lesion.findings.items()
                if (f.long_axis_mm is not None and f.long_axis is None)
                or (f.short_axis_mm is not None and f.short_axis is None)
            }
        )
        if missing:
            out.append(
                f"patient {reading.patient_id}: no line geometry for {', '.join(missing)} "
                "(no JSON sidecar of line geometry?): the SR carries the sizes only, and "
                "viewers (OHIF, Slicer) cannot show or edit these measurements"
            )
    return out
