"""DICOM SEG export of lesion segmentations, referenced from a TID 1500 SR.

For one patient and time point, :func:`build_seg` writes the lesions' masks as one
DICOM Segmentation (highdicom; binary, one segment per lesion, the lesion ID as label
and tracking ID, the same Tracking Unique Identifier as the SR groups of that lesion).
:func:`volumetric_group` makes the TID 1500 volumetric measurement group (TID 1411)
that references a segment, with its volume (SCT 118565006, cm³ = mL) and mean
attenuation (DCM 112031 "Attenuation Coefficient", derivation SCT 373098007 "Mean",
Hounsfield units): the pair 3D Slicer's Quantitative Reporting loads.

:func:`export_segmentations` does it for readings from the command line: the masks
are recomputed by :func:`recist_tool.measure.propose` from each assisted finding's
axes (deterministic: seed = where the axes cross, hint = the long axis, so the same
slice is measured); with ``all_lesions`` every finding with a drawn long axis is
segmented. It writes ``<patient>_<timepoint>_SEG.dcm`` and, next to it,
``<patient>_<timepoint>_SEG-SR.dcm``: the SR of :mod:`recist_tool.export.sr` with
the volumetric groups added.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recist_tool import __version__
from recist_tool.export import ExportError
from recist_tool.export import sr_codes as C
from recist_tool.export.sr import (
    ImageIndex,
    _without_identity,
    build_sr,
    tracking_uid,
    write_sr,
)
from recist_tool.filenames import file_stem

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from recist_tool.export.deid import Deidentifier
    from recist_tool.reading import Reading

SEG_SERIES_NUMBER = 991
SEG_SR_SERIES_NUMBER = 992
#: Methods whose findings are segmented by default.
ASSISTED = ("assisted", "assisted_edited")


class SEGExportError(ExportError):
    """A segmentation cannot be written (no image, empty mask, …)."""


@dataclass
class LesionMask:
    """One lesion's segmentation on a series: a boolean ``(z, y, x)`` mask of the
    series' volume, and what it measures."""

    lesion_id: str
    mask: np.ndarray
    volume_ml: float
    mean_hu: float
    confidence: float = 1.0
    reason: str = ""


@dataclass
class SegExport:
    """What :func:`export_segmentations` wrote, and the lesions it left out (why)."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _codes():
    from pydicom.sr.codedict import codes

    return codes


def segment_description(reading: Reading, lesion, number: int):
    """The SEG segment of a lesion: label and tracking ID = lesion ID, tracking UID
    as in the SR, category "Morphologically abnormal structure", type Lesion or
    Lymph node, anatomic region = the finding site."""
    import highdicom as hd

    codes = _codes()
    site, _ = C.organ_site(lesion.organ) if lesion.organ else (None, None)
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=lesion.lesion_id[:64],
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=C.LYMPH_NODE if lesion.nodal else C.LESION,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="recist-tool measure.propose",
            family=codes.cid7162.HistogramAnalysis,
            version=__version__,
        ),
        tracking_uid=tracking_uid(reading.patient_id, lesion.lesion_id),
        tracking_id=lesion.lesion_id[:64],
        anatomic_regions=None if site is None else [site],
        display_color=hd.color.CIELabColor(*_COLOURS[(number - 1) % len(_COLOURS)]),
    )


# CIE L*a*b* display colours of successive segments (distinct hues, medium lightness)
_COLOURS = [(60.0, 60.0, 40.0), (70.0, -50.0, 50.0), (55.0, 20.0, -60.0), (80.0, 0.0, 80.0),
            (60.0, 70.0, -20.0), (70.0, -40.0, -20.0)]  # fmt: skip


def build_seg(
    reading: Reading,
    timepoint: str,
    series_uid: str,
    masks: Sequence[LesionMask],
    index: ImageIndex,
    include_identity: bool = False,
    manufacturer: str = "recist-tool",
):
    """One DICOM Segmentation of ``masks`` on the series ``series_uid``.

    Parameters
    ----------
    reading : Reading
        Gives the patient, the lesions (kind, organ, nodal) and tracking UIDs.
    timepoint : str
    series_uid : str
        The series the masks were made on (its slices, in the order
        :func:`recist_tool.dicom.load_series` gives them, are the source images).
    masks : sequence of LesionMask
        Each the shape of that series' volume.
    index : ImageIndex
        Headers of the series' images.

    Returns
    -------
    highdicom.seg.Segmentation
    """
    import highdicom as hd

    if not masks:
        raise SEGExportError(f"patient {reading.patient_id}, {timepoint}: nothing to segment")
    info = index.series_info(series_uid)
    where = f"patient {reading.patient_id}, time point {timepoint}"
    if info is None or info.geometry is None:
        raise SEGExportError(f"{where}: series {series_uid} not found in the DICOM folders given")
    sources = [index.get(uid, where) for uid in info.geometry.sop_instance_uids]
    # highdicom copies the patient and study modules of the sources: never their free
    # text (study description, comments, …), the identity only when asked for
    sources = [_without_identity(ds, keep_identity=include_identity) for ds in sources]
    shape = (len(sources), int(sources[0].Rows), int(sources[0].Columns))
    frames = []
    descriptions = []
    for number, m in enumerate(masks, start=1):
        if m.mask.shape != shape:
            raise SEGExportError(
                f"{where}: lesion {m.lesion_id}: mask of shape {m.mask.shape} does not fit "
                f"series {series_uid} ({shape})"
            )
        if not m.mask.any():
            raise SEGExportError(f"{where}: lesion {m.lesion_id}: the mask is empty")
        frames.append(m.mask.astype(bool))
        descriptions.append(segment_description(reading, reading.lesion(m.lesion_id), number))
    pixel = np.stack(frames, axis=-1)
    from highdicom import UID

    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=UID(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=UID(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name="recist-tool",
        software_versions=__version__,
        device_serial_number="0",
        content_label="LESIONS",
        content_description=f"RECIST lesions {timepoint}"[:64],
        series_description=f"Lesion segmentation {timepoint}"[:64],
    )


def volumetric_group(
    reading: Reading,
    lesion,
    timepoint: str,
    order: int,
    seg: Dataset,
    segment_number: int,
    volume_ml: float,
    mean_hu: float | None,
):
    """The TID 1411 volumetric measurement group of a lesion referencing its SEG
    segment: volume (mL as cm³) and mean attenuation (HU)."""
    from highdicom.sr import (
        FindingSite,
        Measurement,
        ReferencedSegment,
        SourceSeriesForSegmentation,
        TimePointContext,
        TrackingIdentifier,
        VolumetricROIMeasurementsAndQualitativeEvaluations,
    )

    codes = _codes()
    measurements = [
        Measurement(name=codes.SCT.Volume, value=float(volume_ml), unit=codes.UCUM.CubicCentimeter)
    ]
    if mean_hu is not None and np.isfinite(mean_hu):
        measurements.append(
            Measurement(
                name=codes.DCM.AttenuationCoefficient,
                value=float(mean_hu),
                unit=codes.UCUM.HounsfieldUnit,
                derivation=codes.SCT.Mean,
            )
        )
    site, laterality = C.organ_site(lesion.organ) if lesion.organ else (None, None)
    source_series = str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    return VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(
            uid=tracking_uid(reading.patient_id, lesion.lesion_id), identifier=lesion.lesion_id
        ),
        referenced_segment=ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=segment_number,
            source_series=SourceSeriesForSegmentation(source_series),
        ),
        time_point_context=TimePointContext(time_point=timepoint, time_point_order=order),
        finding_type=C.LYMPH_NODE if lesion.nodal else C.LESION,
        method=C.RECIST_11,
        finding_sites=None if site is None else [FindingSite(site, laterality=laterality)],
        measurements=measurements,
    )


# ------------------------------------------------------------------ from the readings


def seed_from_lines(finding) -> tuple[np.ndarray, np.ndarray | None]:
    """A point inside the lesion and the hint line from a finding's axes: where the
    long and short axis cross (their midpoint when they do not), and the long axis
    (the short axis for a node drawn without one)."""
    la, sa = finding.long_axis, finding.short_axis
    main = la or sa
    if main is None:
        raise SEGExportError("no axis drawn")
    p1, p2 = np.asarray(main.p1_lps, float), np.asarray(main.p2_lps, float)
    seed = (p1 + p2) / 2
    if la is not None and sa is not None:
        q1, q2 = np.asarray(sa.p1_lps, float), np.asarray(sa.p2_lps, float)
        a = np.column_stack((p2 - p1, -(q2 - q1)))
        st, *_ = np.linalg.lstsq(a, q1 - p1, rcond=None)
        s, t = st
        cross = p1 + s * (p2 - p1)
        if 0 <= s <= 1 and 0 <= t <= 1 and np.linalg.norm(cross - (q1 + t * (q2 - q1))) < 1.0:
            seed = cross
    return seed, np.array([p1, p2])


def segment_findings(
    reading: Reading,
    timepoint: str,
    index: ImageIndex,
    all_lesions: bool = False,
    volumes: dict[str, Any] | None = None,
) -> tuple[dict[str, list[LesionMask]], list[str]]:
    """Masks of a time point's lesions, by series UID, recomputed from their axes.

    Returns
    -------
    (masks by series UID, notes on the lesions left out)
    """
    from recist_tool.dicom import load_series
    from recist_tool.measure import MeasureError, propose

    volumes = {} if volumes is None else volumes
    out: dict[str, list[LesionMask]] = {}
    notes: list[str] = []
    for lesion in reading.lesions:
        f = lesion.findings.get(timepoint)
        if f is None or (f.long_axis is None and f.short_axis is None):
            continue
        if not all_lesions and f.method not in ASSISTED:
            continue
        where = f"patient {reading.patient_id}, {timepoint}, lesion {lesion.lesion_id}"
        series_uid = f.series_uid
        files = [index.files[s] for s in index.by_series.get(series_uid, [])]
        if not files:
            notes.append(f"{where}: series {series_uid or '?'} not in the DICOM folders: left out")
            continue
        if series_uid not in volumes:
            folder = Path(os.path.commonpath([str(p.parent) for p in files]))
            volumes[series_uid] = load_series(folder, series_uid=series_uid)
        volume = volumes[series_uid]
        seed, hint = seed_from_lines(f)
        try:
            p = propose(volume, seed, axis_hint=hint, nodal=lesion.nodal)
        except MeasureError as exc:
            notes.append(f"{where}: no segmentation ({exc}): left out")
            continue
        out.setdefault(series_uid, []).append(
            # the segment's own volume: the SR's volumetric group references the SEG
            # (volume_ml adds the caps' partial-volume share, which the mask has not)
            LesionMask(
                lesion.lesion_id, p.mask, p.mask_volume_ml, p.mean_hu, p.confidence, p.reason
            )
        )
        if p.low_confidence:
            notes.append(
                f"{where}: segmentation doubtful (confidence {p.confidence:.2f}: {p.reason})"
            )
    return out, notes


def write_dataset(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write a DICOM dataset atomically."""
    return write_sr(ds, path)


def export_segmentations(
    readings: Sequence[Reading],
    dicom: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    timepoints: Sequence[str] | None = None,
    include_identity: bool = False,
    deid: Deidentifier | None = None,
    all_lesions: bool = False,
    with_sr: bool = True,
) -> SegExport:
    """Write a SEG (and an SR referencing it) per patient, time point and series.

    Parameters
    ----------
    readings : sequence of Reading
    dicom : sequence of path-like
        Folders with the images.
    outdir : path-like
    timepoints : sequence of str, optional
    include_identity : bool
        Keep patient name, birth date, … from the images.
    deid : Deidentifier, optional
        De-identify SEG and SR (consistent UIDs: the SR still references the SEG).
    all_lesions : bool
        Segment every finding with an axis, not only assisted ones.
    with_sr : bool
        Also write the SR with the volumetric groups.

    Returns
    -------
    SegExport
    """
    index = ImageIndex(dicom)
    if not index.by_sop:
        raise SEGExportError(f"no DICOM image found in {', '.join(map(str, dicom))}")
    result = SegExport()
    outdir = Path(outdir)
    for reading in readings:
        labels = [tp.label for tp in reading.timepoints]
        volumes: dict[str, Any] = {}
        for tp in reading.timepoints:
            if timepoints and tp.label not in timepoints:
                continue
            by_series, notes = segment_findings(reading, tp.label, index, all_lesions, volumes)
            result.notes += notes
            for n, (series_uid, masks) in enumerate(sorted(by_series.items())):
                seg = build_seg(reading, tp.label, series_uid, masks, index, include_identity)
                sr = None
                if with_sr:
                    order = labels.index(tp.label) + 1
                    groups = [
                        volumetric_group(
                            reading,
                            reading.lesion(m.lesion_id),
                            tp.label,
                            order,
                            seg,
                            i,
                            m.volume_ml,
                            m.mean_hu,
                        )
                        for i, m in enumerate(masks, start=1)
                    ]
                    sr = build_sr(
                        reading,
                        tp.label,
                        index,
                        include_identity=include_identity,
                        extra_groups=groups,
                        extra_evidence=[seg],
                    )
                    sr.SeriesNumber = SEG_SR_SERIES_NUMBER
                    sr.SeriesDescription = f"RECIST 1.1 with segmentation {tp.label}"[:64]
                pid, label = reading.patient_id, tp.label
                if deid is not None:
                    # as export_readings: the images' Patient ID keys the pseudonym, and
                    # the reading's own patient code is scrubbed from free text too
                    image_pid = str(seg.get("PatientID", "") or reading.patient_id)
                    # the images' patient name, as free text may spell it, is scrubbed too
                    from recist_tool.export.deid import patient_name_forms

                    first = index.get(
                        index.series_info(series_uid).geometry.sop_instance_uids[0], ""
                    )
                    ids = [reading.patient_id, *patient_name_forms(first.get("PatientName", ""))]
                    seg = deid.dataset(seg, identifiers=ids)
                    sr = None if sr is None else deid.dataset(sr, identifiers=ids)
                    pid = str(seg.PatientID)
                    label = deid.scrub_text(tp.label, image_pid, ids)
                stem = file_stem(pid, label)  # unique and bounded (recist_tool.filenames)
                suffix = "" if n == 0 else f"_{n + 1}"
                result.paths.append(write_dataset(seg, outdir / f"{stem}_SEG{suffix}.dcm"))
                if sr is not None:
                    result.paths.append(write_dataset(sr, outdir / f"{stem}_SEG-SR{suffix}.dcm"))
    if not result.paths:
        drawn = any(
            f.long_axis is not None or f.short_axis is not None
            for r in readings
            for le in r.lesions
            for f in le.findings.values()
        )
        why = (
            "no assisted measurement (--all segments every lesion with a drawn axis)"
            if drawn
            else "no lesion has drawn axes (an annotation CSV needs its JSON sidecar for them)"
        )
        raise SEGExportError(
            f"nothing segmented: {why}"
            + ("" if not result.notes else ":\n  " + "\n  ".join(result.notes))
        )
    return result
