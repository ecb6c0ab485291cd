"""A reader's work on one patient: time points, lesions and their measurement lines.

This is the pure model behind the napari plugin (no Qt, no napari): the plugin turns
mouse work into these types and shows what they compute. A :class:`Reading` holds

* the series of a study and the time point each one is assigned to,
* lesions with one identity across time points (kind, organ, nodal flag),
* per time point a :class:`Finding`: a status and the measurement lines (end points
  in patient LPS millimetres, with series UID, SOP instance UID and slice index) or
  a point marker.

It converts to the annotation format (:mod:`recist_tool.annotations`, one row per
lesion per time point) and to a JSON sidecar that keeps the geometry; both are
written atomically by :meth:`Reading.save` and restored by :meth:`Reading.load`.
The sidecar schema is documented in ``docs/annotation_format.md`` ("JSON sidecar").
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recist_tool import annotations as ann
from recist_tool._atomic import atomic_write_text
from recist_tool.errors import RecistError

#: Identifies a sidecar file written by this module.
SIDECAR_FORMAT = "recist-tool-reading"
#: Version of the sidecar schema; bumped only on incompatible changes.
SIDECAR_VERSION = 1
#: Lengths are written to the annotation table with this many decimals (0.1 mm, as
#: a PACS displays them); the sidecar keeps the exact end points.
LENGTH_DECIMALS = 1
#: Short and long axis of a node should be perpendicular within this many degrees.
PERPENDICULAR_TOLERANCE_DEG = 10.0
#: Label of the baseline time point suggested by default.
BASELINE_LABEL = "baseline"

_ID_PREFIX = {"target": "T", "non_target": "NT", "new": "N"}
_DEFAULT_STATUS = {"target": "measured", "non_target": "present", "new": "present"}
# Statuses of a target whose size is not a drawn line: the line is dropped (a node
# keeps its short axis, which RECIST still uses for a "disappeared" node).
_SIZELESS_TARGET = ("too_small", "disappeared", "not_evaluated")

Point3 = tuple[float, float, float]


class ReadingError(RecistError):
    """A reading (or its sidecar) is inconsistent; the message says what and where."""


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class SeriesGeometry:
    """Voxel grid of one series: index ``(z, y, x)`` <-> patient LPS millimetres.

    ``LPS = origin + D @ (spacing_xyz * (x, y, z))`` with ``D`` the 3 × 3 direction
    matrix (row-major, SimpleITK convention: its columns are the directions of the
    x/column, y/row and z/slice axes).
    """

    series_uid: str
    origin_lps: Point3
    spacing_zyx: Point3
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    sop_instance_uids: tuple[str, ...] = ()

    @functools.cached_property
    def matrix(self) -> np.ndarray:
        """4 × 4 matrix taking homogeneous ``(z, y, x, 1)`` indices to ``(L, P, S, 1)``."""
        d = np.asarray(self.direction, dtype=float).reshape(3, 3)
        sx = np.asarray(self.spacing_zyx[::-1], dtype=float)
        m = np.eye(4)
        m[:3, :3] = (d * sx)[:, ::-1]  # columns reordered from (x, y, z) to (z, y, x)
        m[:3, 3] = self.origin_lps
        return m

    def index_to_lps(self, index_zyx: Any) -> np.ndarray:
        """Patient coordinates (mm) of continuous voxel indices ``(..., 3)`` in z, y, x."""
        idx = np.asarray(index_zyx, dtype=float)
        m = self.matrix
        return idx @ m[:3, :3].T + m[:3, 3]

    @functools.cached_property
    def _inverse(self) -> np.ndarray:
        return np.linalg.inv(self.matrix[:3, :3]).T

    def lps_to_index(self, lps: Any) -> np.ndarray:
        """Continuous voxel indices ``(z, y, x)`` of patient coordinates ``(..., 3)``."""
        p = np.asarray(lps, dtype=float)
        return (p - self.matrix[:3, 3]) @ self._inverse

    def sop_instance_uid(self, slice_index: int | None) -> str | None:
        """SOP Instance UID of a slice, or None when unknown or out of range."""
        if slice_index is None or not 0 <= slice_index < len(self.sop_instance_uids):
            return None
        return self.sop_instance_uids[slice_index]

    @property
    def is_axial(self) -> bool:
        """True when the direction matrix is the identity (a plain scale/translate)."""
        return bool(np.allclose(np.reshape(self.direction, (3, 3)), np.eye(3), atol=1e-6))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "series_uid": self.series_uid,
            "origin_lps": list(self.origin_lps),
            "spacing_zyx": list(self.spacing_zyx),
            "direction": list(self.direction),
            "sop_instance_uids": list(self.sop_instance_uids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesGeometry:
        """Inverse of :meth:`to_dict` (``sop_instance_uids`` optional)."""
        return cls(
            series_uid=str(data["series_uid"]),
            origin_lps=_point(data["origin_lps"]),
            spacing_zyx=_point(data["spacing_zyx"]),
            direction=tuple(float(v) for v in data.get("direction", np.eye(3).ravel())),
            sop_instance_uids=tuple(str(u) for u in data.get("sop_instance_uids", ())),
        )

    @classmethod
    def from_volume(cls, volume: Any, series_uid: str | None = None) -> SeriesGeometry:
        """Geometry of a loaded :class:`recist_tool.dicom.Volume` (read by attribute)."""
        uid = series_uid or _first_attr(volume, ("series_uid", "series_instance_uid"), "")
        sops = _first_attr(volume, ("sop_instance_uids", "sop_uids"), ())
        return cls(
            series_uid=str(uid),
            origin_lps=_point(volume.origin_lps),
            spacing_zyx=_point(volume.spacing_zyx),
            direction=tuple(float(v) for v in np.ravel(volume.direction)),
            sop_instance_uids=tuple(str(u) for u in sops),
        )


def _first_attr(obj: Any, names: Sequence[str], default: Any) -> Any:
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v
    return default


def _point(values: Iterable[float]) -> Point3:
    vals = tuple(float(v) for v in values)
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise ReadingError(f"expected 3 finite coordinates, got {list(vals)}")
    return vals  # type: ignore[return-value]


# --------------------------------------------------------------------------- marks


@dataclass(frozen=True)
class Line:
    """A measurement line: two end points in patient LPS millimetres.

    ``slice_index`` is the index of the slice it was drawn on in ``series_uid`` and
    ``sop_instance_uid`` that slice's SOP Instance UID (None when not known).
    """

    p1_lps: Point3
    p2_lps: Point3
    series_uid: str = ""
    sop_instance_uid: str | None = None
    slice_index: int | None = None

    @functools.cached_property
    def length_mm(self) -> float:
        """Euclidean length in mm (unrounded)."""
        return math.dist(self.p1_lps, self.p2_lps)

    @property
    def midpoint_lps(self) -> Point3:
        """Centre of the line in patient coordinates."""
        return _point((np.add(self.p1_lps, self.p2_lps)) / 2.0)

    @classmethod
    def from_indices(cls, geometry: SeriesGeometry, p1_zyx: Any, p2_zyx: Any) -> Line:
        """A line from two continuous voxel indices ``(z, y, x)`` of ``geometry``."""
        pts = geometry.index_to_lps(np.array([p1_zyx, p2_zyx], dtype=float))
        z = (float(np.asarray(p1_zyx)[0]) + float(np.asarray(p2_zyx)[0])) / 2.0
        k = round(z)
        return cls(
            p1_lps=_point(pts[0]),
            p2_lps=_point(pts[1]),
            series_uid=geometry.series_uid,
            sop_instance_uid=geometry.sop_instance_uid(k),
            slice_index=k,
        )

    def indices(self, geometry: SeriesGeometry) -> np.ndarray:
        """End points as continuous voxel indices ``(2, 3)`` of ``geometry``."""
        return geometry.lps_to_index(np.array([self.p1_lps, self.p2_lps]))

    def to_dict(self, geometry: SeriesGeometry | None = None) -> dict[str, Any]:
        """Plain dict for the sidecar (voxel indices added when the geometry is known)."""
        out: dict[str, Any] = {
            "p1_lps": list(self.p1_lps),
            "p2_lps": list(self.p2_lps),
            "series_uid": self.series_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "slice_index": self.slice_index,
            "length_mm": round(self.length_mm, 4),
        }
        if geometry is not None:
            out["p1_index_zyx"], out["p2_index_zyx"] = (
                [round(float(v), 4) for v in row] for row in self.indices(geometry)
            )
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Line:
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        return cls(
            p1_lps=_point(data["p1_lps"]),
            p2_lps=_point(data["p2_lps"]),
            series_uid=str(data.get("series_uid") or ""),
            sop_instance_uid=data.get("sop_instance_uid") or None,
            slice_index=None if data.get("slice_index") is None else int(data["slice_index"]),
        )


@dataclass(frozen=True)
class Marker:
    """A point marking a non-target or new lesion, in patient LPS millimetres."""

    position_lps: Point3
    series_uid: str = ""
    sop_instance_uid: str | None = None
    slice_index: int | None = None

    @classmethod
    def from_index(cls, geometry: SeriesGeometry, index_zyx: Any) -> Marker:
        """A marker at a continuous voxel index ``(z, y, x)`` of ``geometry``."""
        k = round(float(np.asarray(index_zyx)[0]))
        return cls(
            position_lps=_point(geometry.index_to_lps(index_zyx)),
            series_uid=geometry.series_uid,
            sop_instance_uid=geometry.sop_instance_uid(k),
            slice_index=k,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the sidecar."""
        return {
            "position_lps": list(self.position_lps),
            "series_uid": self.series_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "slice_index": self.slice_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Marker:
        """Inverse of :meth:`to_dict`."""
        return cls(
            position_lps=_point(data["position_lps"]),
            series_uid=str(data.get("series_uid") or ""),
            sop_instance_uid=data.get("sop_instance_uid") or None,
            slice_index=None if data.get("slice_index") is None else int(data["slice_index"]),
        )


# --------------------------------------------------------------------------- findings


@dataclass
class Finding:
    """One lesion at one time point: a status and its lines or marker.

    ``long_axis_mm``/``short_axis_mm`` hold a size that has no line (imported from a
    CSV without sidecar); a drawn line always takes precedence.
    """

    status: str | None = None
    long_axis: Line | None = None
    short_axis: Line | None = None
    marker: Marker | None = None
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None

    @property
    def long_mm(self) -> float | None:
        """Long axis in mm, rounded to :data:`LENGTH_DECIMALS`, or None."""
        v = self.long_axis.length_mm if self.long_axis else self.long_axis_mm
        return None if v is None else round(v, LENGTH_DECIMALS)

    @property
    def short_mm(self) -> float | None:
        """Short axis in mm, rounded to :data:`LENGTH_DECIMALS`, or None."""
        v = self.short_axis.length_mm if self.short_axis else self.short_axis_mm
        return None if v is None else round(v, LENGTH_DECIMALS)

    @property
    def position_lps(self) -> Point3 | None:
        """Where the lesion is: long axis centre, else short axis centre, else marker."""
        for line in (self.long_axis, self.short_axis):
            if line is not None:
                return line.midpoint_lps
        return self.marker.position_lps if self.marker else None

    @property
    def series_uid(self) -> str:
        """Series the marks were made on ("" when none)."""
        for mark in (self.long_axis, self.short_axis, self.marker):
            if mark is not None and mark.series_uid:
                return mark.series_uid
        return ""

    def to_dict(self, geometries: dict[str, SeriesGeometry] | None = None) -> dict[str, Any]:
        """Plain dict for the sidecar."""
        geos = geometries or {}

        def line(x: Line | None) -> dict[str, Any] | None:
            return None if x is None else x.to_dict(geos.get(x.series_uid))

        return {
            "status": self.status,
            "long_axis": line(self.long_axis),
            "short_axis": line(self.short_axis),
            "marker": None if self.marker is None else self.marker.to_dict(),
            "long_axis_mm": self.long_mm,
            "short_axis_mm": self.short_mm,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        la = Line.from_dict(data["long_axis"]) if data.get("long_axis") else None
        sa = Line.from_dict(data["short_axis"]) if data.get("short_axis") else None
        mk = Marker.from_dict(data["marker"]) if data.get("marker") else None
        return cls(
            status=data.get("status"),
            long_axis=la,
            short_axis=sa,
            marker=mk,
            long_axis_mm=None if la else _opt_float(data.get("long_axis_mm")),
            short_axis_mm=None if sa else _opt_float(data.get("short_axis_mm")),
        )


def _opt_float(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    return float(v)


@dataclass
class Lesion:
    """A lesion with one identity across time points."""

    lesion_id: str
    kind: str = "target"
    organ: str = ""
    nodal: bool = False
    findings: dict[str, Finding] = field(default_factory=dict)

    def finding(self, timepoint: str) -> Finding | None:
        """The finding at ``timepoint`` (None when not yet assessed)."""
        return self.findings.get(timepoint)


@dataclass
class SeriesInfo:
    """A series of the study and the time point it is assigned to (None: unused)."""

    series_uid: str
    description: str = ""
    modality: str = ""
    study_date: str = ""  # YYYY-MM-DD ("" when unknown)
    series_number: int | None = None
    slice_thickness_mm: float | None = None
    image_count: int | None = None
    timepoint: str | None = None
    geometry: SeriesGeometry | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the sidecar."""
        return {
            "series_uid": self.series_uid,
            "description": self.description,
            "modality": self.modality,
            "study_date": self.study_date,
            "series_number": self.series_number,
            "slice_thickness_mm": self.slice_thickness_mm,
            "image_count": self.image_count,
            "timepoint": self.timepoint,
            "geometry": None if self.geometry is None else self.geometry.to_dict(),
        }

    @classmethod
    def from_volume(cls, volume: Any) -> SeriesInfo:
        """Describe a loaded :class:`recist_tool.dicom.Volume` (metadata and geometry)."""
        meta = dict(getattr(volume, "metadata", {}) or {})
        uid = str(meta.get("series_instance_uid") or "")
        number = meta.get("series_number")
        return cls(
            series_uid=uid,
            description=str(meta.get("series_description") or ""),
            modality=str(meta.get("modality") or ""),
            study_date=dicom_date(meta.get("study_date")),
            series_number=None if number in (None, "") else int(number),
            slice_thickness_mm=_opt_float(getattr(volume, "slice_thickness", None)),
            image_count=int(np.shape(volume.array)[0]),
            geometry=SeriesGeometry.from_volume(volume, uid),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesInfo:
        """Inverse of :meth:`to_dict`."""
        geo = data.get("geometry")
        return cls(
            series_uid=str(data["series_uid"]),
            description=str(data.get("description") or ""),
            modality=str(data.get("modality") or ""),
            study_date=str(data.get("study_date") or ""),
            series_number=data.get("series_number"),
            slice_thickness_mm=_opt_float(data.get("slice_thickness_mm")),
            image_count=data.get("image_count"),
            timepoint=data.get("timepoint"),
            geometry=SeriesGeometry.from_dict(geo) if geo else None,
        )


@dataclass
class TimePoint:
    """A time point: its label (the annotation ``timepoint`` column) and date."""

    label: str
    date: str  # YYYY-MM-DD


@dataclass(frozen=True)
class Note:
    """A check made by the model itself (geometry, completeness), not by the engine."""

    lesion_id: str
    timepoint: str
    severity: str  # "warning" | "error"
    message: str


# --------------------------------------------------------------------------- reading


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def dicom_date(value: Any) -> str:
    """``YYYYMMDD`` (DICOM DA) or ``YYYY-MM-DD`` as ``YYYY-MM-DD``; "" when unusable."""
    text = "" if value is None else str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return _check_date(text)
    except ReadingError:
        return ""


def _check_date(date: str) -> str:
    date = str(date).strip()
    if not _DATE_RE.match(date):
        raise ReadingError(f"date {date!r} is not in the form YYYY-MM-DD")
    try:
        pd.Timestamp(date)
    except ValueError as exc:
        raise ReadingError(f"date {date!r} is not a calendar date") from exc
    return date


@dataclass
class Reading:
    """Everything a reader did on one patient's study.

    Time points are kept sorted by date; the earliest is the baseline. Findings are
    keyed by time point label.
    """

    patient_id: str = ""
    reader: str = ""
    study_path: str = ""
    series: dict[str, SeriesInfo] = field(default_factory=dict)
    timepoints: list[TimePoint] = field(default_factory=list)
    lesions: list[Lesion] = field(default_factory=list)
    #: What :meth:`load` had to reconcile (empty when everything came back exactly).
    load_notes: list[str] = field(default_factory=list, compare=False, repr=False)

    # ----------------------------------------------------------- time points / series

    @property
    def baseline(self) -> TimePoint | None:
        """The earliest time point (None while none is defined)."""
        return self.timepoints[0] if self.timepoints else None

    def timepoint(self, label: str) -> TimePoint:
        """The time point labelled ``label``."""
        for tp in self.timepoints:
            if tp.label == label:
                return tp
        raise ReadingError(f"no time point labelled {label!r}")

    def set_timepoint(self, label: str, date: str) -> TimePoint:
        """Add a time point, or change the date of an existing one."""
        label = str(label).strip()
        if not label:
            raise ReadingError("a time point needs a label")
        date = _check_date(date)
        for tp in self.timepoints:
            if tp.label == label:
                tp.date = date
                break
        else:
            self.timepoints.append(TimePoint(label, date))
        self._sort_timepoints()
        return self.timepoint(label)

    def remove_timepoint(self, label: str) -> None:
        """Remove a time point, its series assignment and every finding made at it."""
        self.timepoints = [tp for tp in self.timepoints if tp.label != label]
        for s in self.series.values():
            if s.timepoint == label:
                s.timepoint = None
        for lesion in self.lesions:
            lesion.findings.pop(label, None)

    def rename_timepoint(self, old: str, new: str) -> None:
        """Change a time point's label, keeping its findings and series."""
        new = str(new).strip()
        if not new:
            raise ReadingError("a time point needs a label")
        if new == old:
            return
        if any(tp.label == new for tp in self.timepoints):
            raise ReadingError(f"a time point labelled {new!r} exists already")
        self.timepoint(old).label = new
        for s in self.series.values():
            if s.timepoint == old:
                s.timepoint = new
        for lesion in self.lesions:
            if old in lesion.findings:
                lesion.findings[new] = lesion.findings.pop(old)

    def _sort_timepoints(self) -> None:
        self.timepoints.sort(key=lambda tp: (tp.date, tp.label != BASELINE_LABEL, tp.label))

    def add_series(self, info: SeriesInfo) -> SeriesInfo:
        """Register a series (an existing record with that UID keeps its assignment)."""
        old = self.series.get(info.series_uid)
        if old is not None:
            info.timepoint = old.timepoint if info.timepoint is None else info.timepoint
            if info.geometry is None:
                info.geometry = old.geometry
        self.series[info.series_uid] = info
        return info

    def assign_series(self, series_uid: str, label: str | None, date: str | None = None) -> None:
        """Assign a series to a time point (created when new; date defaults to StudyDate).

        ``label=None`` unassigns the series. A time point left without series and
        without findings is removed.
        """
        if series_uid not in self.series:
            raise ReadingError(f"unknown series {series_uid}")
        info = self.series[series_uid]
        old = info.timepoint
        if label is not None:
            label = str(label).strip()
            exists = any(tp.label == label for tp in self.timepoints)
            if date is None and not exists:
                if not info.study_date:
                    raise ReadingError(
                        f"series {info.description or series_uid} has no StudyDate: "
                        "give the time point a date"
                    )
                date = info.study_date
            if date is not None:
                self.set_timepoint(label, date)
        info.timepoint = label
        if old and old != label:
            self._drop_if_unused(old)

    def _drop_if_unused(self, label: str) -> None:
        used = any(s.timepoint == label for s in self.series.values()) or any(
            label in lesion.findings for lesion in self.lesions
        )
        if not used:
            self.timepoints = [tp for tp in self.timepoints if tp.label != label]

    def series_of(self, label: str) -> list[SeriesInfo]:
        """Series assigned to a time point, by series number then UID."""
        out = [s for s in self.series.values() if s.timepoint == label]
        return sorted(out, key=lambda s: (s.series_number or 0, s.series_uid))

    def geometries(self) -> dict[str, SeriesGeometry]:
        """Known series geometries by series UID."""
        return {uid: s.geometry for uid, s in self.series.items() if s.geometry is not None}

    # ----------------------------------------------------------------------- lesions

    def lesion(self, lesion_id: str) -> Lesion:
        """The lesion with this id."""
        for lesion in self.lesions:
            if lesion.lesion_id == lesion_id:
                return lesion
        raise ReadingError(f"no lesion {lesion_id!r}")

    def next_lesion_id(self, kind: str) -> str:
        """First free id of the form T1, NT1, N1 (by kind)."""
        prefix = _ID_PREFIX[_check_kind(kind)]
        used = {lesion.lesion_id for lesion in self.lesions}
        n = 1
        while f"{prefix}{n}" in used:
            n += 1
        return f"{prefix}{n}"

    def add_lesion(
        self,
        kind: str = "target",
        organ: str = "",
        nodal: bool = False,
        lesion_id: str | None = None,
    ) -> Lesion:
        """Add a lesion; its id defaults to :meth:`next_lesion_id`."""
        kind = _check_kind(kind)
        lesion_id = (lesion_id or self.next_lesion_id(kind)).strip()
        if any(lesion.lesion_id == lesion_id for lesion in self.lesions):
            raise ReadingError(f"lesion id {lesion_id!r} is used already")
        lesion = Lesion(lesion_id=lesion_id, kind=kind, organ=organ.strip(), nodal=bool(nodal))
        self.lesions.append(lesion)
        return lesion

    def remove_lesion(self, lesion_id: str) -> None:
        """Remove a lesion at every time point."""
        self.lesions = [lesion for lesion in self.lesions if lesion.lesion_id != lesion_id]

    def update_lesion(
        self,
        lesion_id: str,
        *,
        kind: str | None = None,
        organ: str | None = None,
        nodal: bool | None = None,
    ) -> Lesion:
        """Change a lesion's kind, organ or nodal flag (statuses invalid for a new kind
        are reset to the kind's default)."""
        lesion = self.lesion(lesion_id)
        if kind is not None and kind != lesion.kind:
            lesion.kind = _check_kind(kind)
            for f in lesion.findings.values():
                if f.status is not None and f.status not in ann.STATUSES[lesion.kind]:
                    f.status = _DEFAULT_STATUS[lesion.kind]
        if organ is not None:
            lesion.organ = organ.strip()
        if nodal is not None:
            lesion.nodal = bool(nodal)
        return lesion

    def _finding(self, lesion_id: str, timepoint: str) -> tuple[Lesion, Finding]:
        self.timepoint(timepoint)
        lesion = self.lesion(lesion_id)
        return lesion, lesion.findings.setdefault(timepoint, Finding())

    def set_line(self, lesion_id: str, timepoint: str, axis: str, line: Line | None) -> Finding:
        """Set (or with None clear) the ``"long"`` or ``"short"`` axis of a finding.

        Drawing a line on a target marks it ``measured``; on a non-target or new
        lesion it keeps the status (``present`` when none was set).
        """
        if axis not in ("long", "short"):
            raise ReadingError(f"axis must be 'long' or 'short', not {axis!r}")
        lesion, f = self._finding(lesion_id, timepoint)
        if axis == "long":
            f.long_axis, f.long_axis_mm = line, None
        else:
            f.short_axis, f.short_axis_mm = line, None
        if line is not None:
            if lesion.kind == "target":
                f.status = "measured"
            elif f.status is None:
                f.status = _DEFAULT_STATUS[lesion.kind]
        self._prune(lesion, timepoint)
        return f

    def set_marker(self, lesion_id: str, timepoint: str, marker: Marker | None) -> Finding:
        """Set (or clear) the point marker of a finding (non-target and new lesions)."""
        lesion, f = self._finding(lesion_id, timepoint)
        f.marker = marker
        if marker is not None and f.status is None:
            f.status = _DEFAULT_STATUS[lesion.kind]
        self._prune(lesion, timepoint)
        return f

    def set_status(self, lesion_id: str, timepoint: str, status: str | None) -> Finding:
        """Set the status of a finding (None: back to not assessed).

        ``too_small``/``disappeared``/``not_evaluated`` drop the long axis line of a
        target (the size is then implied); a node keeps its short axis.
        """
        lesion, f = self._finding(lesion_id, timepoint)
        if status is not None and status not in ann.STATUSES[lesion.kind]:
            allowed = ", ".join(ann.STATUSES[lesion.kind])
            raise ReadingError(
                f"lesion {lesion_id}: {status!r} is not a status of a {lesion.kind} lesion "
                f"(expected one of {allowed})"
            )
        f.status = status
        if lesion.kind == "target" and status in _SIZELESS_TARGET:
            f.long_axis, f.long_axis_mm = None, None
            if not lesion.nodal or status != "disappeared":
                f.short_axis, f.short_axis_mm = None, None
        self._prune(lesion, timepoint)
        return f

    def _prune(self, lesion: Lesion, timepoint: str) -> None:
        f = lesion.findings.get(timepoint)
        if f is not None and f == Finding():
            del lesion.findings[timepoint]

    def lesions_for(self, timepoint: str) -> list[Lesion]:
        """Lesions to assess at a time point: baseline ones everywhere, new ones where
        first seen and later."""
        labels = [tp.label for tp in self.timepoints]
        pos = labels.index(timepoint) if timepoint in labels else len(labels)
        out = []
        for lesion in self.lesions:
            if lesion.kind != "new":
                out.append(lesion)
                continue
            seen = [labels.index(t) for t in lesion.findings if t in labels]
            if not seen or min(seen) <= pos:
                out.append(lesion)
        return out

    # ----------------------------------------------------------------------- checks

    def notes(self) -> list[Note]:
        """Checks of the drawing itself: node axes, incomplete findings, dates."""
        out: list[Note] = []
        labels = {tp.label for tp in self.timepoints}
        for lesion in self.lesions:
            for label, f in lesion.findings.items():
                if label not in labels:
                    continue
                out.extend(Note(lesion.lesion_id, label, sev, msg) for sev, msg in axis_checks(f))
                if lesion.kind == "target" and f.status == "measured":
                    need = f.short_mm if lesion.nodal else f.long_mm
                    if need is None:
                        what = "short axis" if lesion.nodal else "long axis"
                        out.append(
                            Note(lesion.lesion_id, label, "warning", f"{what} not drawn yet")
                        )
                if lesion.kind == "new" and self.baseline and label == self.baseline.label:
                    out.append(
                        Note(
                            lesion.lesion_id,
                            label,
                            "error",
                            "a new lesion cannot be at baseline: make it a target or non-target",
                        )
                    )
        return out

    # ------------------------------------------------------------------ annotations

    def to_measurements(self) -> list[ann.Measurement]:
        """Rows of the annotation table for every assessed, complete finding.

        A target marked ``measured`` whose relevant axis is not drawn yet is left out
        (:meth:`notes` reports it).
        """
        rows: list[ann.Measurement] = []
        for tp in self.timepoints:
            tp_series = self.series_of(tp.label)
            for lesion in self.lesions:
                f = lesion.findings.get(tp.label)
                if f is None or f.status is None:
                    continue
                size = f.short_mm if lesion.nodal else f.long_mm
                if lesion.kind == "target" and f.status == "measured" and size is None:
                    continue
                uid = f.series_uid or (tp_series[0].series_uid if tp_series else "")
                info = self.series.get(uid)
                extra = {
                    "slice_thickness_mm": ""
                    if info is None or info.slice_thickness_mm is None
                    else f"{info.slice_thickness_mm:g}",
                    "modality": "" if info is None else info.modality,
                    "reader": self.reader,
                    "series_uid": uid,
                }
                rows.append(
                    ann.Measurement(
                        patient_id=self.patient_id,
                        timepoint=tp.label,
                        date=tp.date,
                        lesion_id=lesion.lesion_id,
                        kind=lesion.kind,
                        organ=lesion.organ,
                        nodal=lesion.nodal,
                        long_axis_mm=f.long_mm,
                        short_axis_mm=f.short_mm,
                        status=f.status,
                        extra=extra,
                    )
                )
        return rows

    def to_frame(self) -> pd.DataFrame:
        """The annotation table (columns of :data:`recist_tool.annotations.COLUMNS`
        plus ``slice_thickness_mm``, ``modality``, ``reader``, ``series_uid``)."""
        rows = self.to_measurements()
        frame = ann.to_frame(rows)
        for col in ann.OPTIONAL_COLUMNS:
            if col not in frame.columns:
                frame[col] = pd.Series(dtype=object)
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Reading:
        """A reading from an annotation table of one patient (sizes without lines).

        Raises
        ------
        ReadingError
            When the table holds several patients or one lesion with two kinds.
        """
        records = ann.from_frame(frame)
        patients = sorted({m.patient_id for m in records})
        if len(patients) > 1:
            raise ReadingError(
                f"a reading holds one patient; the table has {len(patients)}: "
                + ", ".join(patients[:5])
            )
        reading = cls(patient_id=patients[0] if patients else "")
        for m in records:
            reading.reader = reading.reader or m.extra.get("reader", "")
            if not any(tp.label == m.timepoint for tp in reading.timepoints):
                reading.set_timepoint(m.timepoint, m.date)
            uid = m.extra.get("series_uid", "")
            if uid and uid not in reading.series:
                thick = m.extra.get("slice_thickness_mm", "")
                reading.add_series(
                    SeriesInfo(
                        series_uid=uid,
                        modality=m.extra.get("modality", ""),
                        study_date=m.date,
                        slice_thickness_mm=float(thick) if thick else None,
                        timepoint=m.timepoint,
                    )
                )
            try:
                lesion = reading.lesion(m.lesion_id)
            except ReadingError:
                lesion = reading.add_lesion(m.kind, m.organ, m.nodal, m.lesion_id)
            if lesion.kind != m.kind:
                raise ReadingError(
                    f"lesion {m.lesion_id} is {lesion.kind} at one time point and "
                    f"{m.kind} at {m.timepoint}"
                )
            lesion.findings[m.timepoint] = Finding(
                status=m.status, long_axis_mm=m.long_axis_mm, short_axis_mm=m.short_axis_mm
            )
        return reading

    # ------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        """The sidecar document (see ``docs/annotation_format.md``, "JSON sidecar")."""
        geos = self.geometries()
        labels = [tp.label for tp in self.timepoints]
        return {
            "format": SIDECAR_FORMAT,
            "version": SIDECAR_VERSION,
            "patient_id": self.patient_id,
            "reader": self.reader,
            "study_path": self.study_path,
            "timepoints": [
                {
                    "label": tp.label,
                    "date": tp.date,
                    "baseline": i == 0,
                    "series_uids": [s.series_uid for s in self.series_of(tp.label)],
                }
                for i, tp in enumerate(self.timepoints)
            ],
            "series": [s.to_dict() for s in self.series.values()],
            "lesions": [
                {
                    "lesion_id": lesion.lesion_id,
                    "kind": lesion.kind,
                    "organ": lesion.organ,
                    "nodal": lesion.nodal,
                    "findings": [
                        {"timepoint": label, **lesion.findings[label].to_dict(geos)}
                        for label in sorted(
                            lesion.findings,
                            key=lambda t: labels.index(t) if t in labels else len(labels),
                        )
                    ],
                }
                for lesion in self.lesions
            ],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], source: str = "<sidecar>") -> Reading:
        """A reading from a sidecar document.

        Raises
        ------
        ReadingError
            Naming ``source`` and the key that is wrong.
        """
        if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
            raise ReadingError(f"{source}: not a recist-tool reading sidecar (no format key)")
        if int(doc.get("version", 0)) > SIDECAR_VERSION:
            raise ReadingError(
                f"{source}: sidecar version {doc.get('version')} is newer than this "
                f"recist-tool understands ({SIDECAR_VERSION})"
            )
        where = "header"
        try:
            reading = cls(
                patient_id=str(doc.get("patient_id", "")),
                reader=str(doc.get("reader", "")),
                study_path=str(doc.get("study_path", "")),
            )
            for i, tp in enumerate(doc.get("timepoints", [])):
                where = f"timepoints[{i}]"
                reading.timepoints.append(TimePoint(str(tp["label"]), _check_date(tp["date"])))
            reading._sort_timepoints()
            for i, s in enumerate(doc.get("series", [])):
                where = f"series[{i}]"
                info = SeriesInfo.from_dict(s)
                reading.series[info.series_uid] = info
            for i, le in enumerate(doc.get("lesions", [])):
                where = f"lesions[{i}]"
                lesion = reading.add_lesion(
                    le["kind"], le.get("organ", ""), bool(le.get("nodal")), le["lesion_id"]
                )
                for j, f in enumerate(le.get("findings", [])):
                    where = f"lesions[{i}].findings[{j}]"
                    finding = Finding.from_dict(f)
                    if (
                        finding.status is not None
                        and finding.status not in ann.STATUSES[lesion.kind]
                    ):
                        raise ReadingError(f"unknown status {finding.status!r}")
                    lesion.findings[str(f["timepoint"])] = finding
        except ReadingError as exc:
            raise ReadingError(f"{source}: {where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ReadingError(f"{source}: {where}: missing or bad value ({exc})") from None
        return reading

    # ------------------------------------------------------------------------ files

    def save(
        self, csv_path: str | os.PathLike, frame: pd.DataFrame | None = None
    ) -> tuple[Path, Path]:
        """Write the annotation CSV and its JSON sidecar, each atomically.

        The CSV is written first; the sidecar records the CSV's SHA-256 so that
        :meth:`load` can tell whether the CSV was edited afterwards. ``frame`` is
        :meth:`to_frame` when the caller has it already.

        Returns
        -------
        (Path, Path)
            The CSV and sidecar paths.
        """
        return write_snapshot(self.snapshot(frame), csv_path)

    def snapshot(self, frame: pd.DataFrame | None = None) -> Snapshot:
        """An independent copy of what :meth:`save` writes (for saving elsewhere, e.g.
        in a background thread while the reading keeps changing), stamped with a
        revision (nanoseconds since the epoch) that orders saves and recovery files."""
        doc = self.to_json()
        doc["revision"] = time.time_ns()
        return Snapshot(self.to_frame() if frame is None else frame.copy(), doc)

    @classmethod
    def load(cls, csv_path: str | os.PathLike) -> Reading:
        """Restore a reading saved by :meth:`save` (or any one-patient annotation CSV).

        With an intact sidecar, everything comes back exactly; a recovery file
        (:func:`write_recovery`) newer than the sidecar wins over both, since it holds
        changes whose save a crash interrupted. When the CSV was
        edited after the sidecar was written, the CSV's statuses and sizes win and
        a line is kept only where its length still matches the CSV (0.05 mm);
        :attr:`load_notes` says what was dropped. Without a sidecar, sizes come
        without lines.
        """
        csv_path = Path(csv_path)
        side = sidecar_path(csv_path)
        recovered = _newer_recovery(csv_path)
        if recovered is not None:
            return recovered
        if not side.exists():
            reading = cls.from_frame(ann.read_annotations(csv_path))
            reading.load_notes = [f"{side.name} not found: sizes restored without lines"]
            return reading
        saved, doc_sha = _read_sidecar(side)
        if not csv_path.exists() or doc_sha == _sha256(csv_path):
            return saved
        edited = cls.from_frame(ann.read_annotations(csv_path))
        return _merge_edited(saved, edited, csv_path.name)


def _merge_edited(saved: Reading, edited: Reading, name: str) -> Reading:
    """CSV values with the sidecar's time points, series and the lines that still fit."""
    notes = [f"{name} was changed after its sidecar was written: using the CSV's values"]
    out = Reading(
        patient_id=edited.patient_id or saved.patient_id,
        reader=edited.reader or saved.reader,
        study_path=saved.study_path,
        series=dict(saved.series),
        timepoints=[TimePoint(tp.label, tp.date) for tp in edited.timepoints],
    )
    for uid, info in edited.series.items():
        out.series.setdefault(uid, info)
    for lesion in edited.lesions:
        try:
            old = saved.lesion(lesion.lesion_id)
        except ReadingError:
            old = None
        for label, f in lesion.findings.items():
            prev = old.findings.get(label) if old else None
            if prev is None:
                continue
            for axis in ("long", "short"):
                line = getattr(prev, f"{axis}_axis")
                want = getattr(f, f"{axis}_axis_mm")
                if line is None:
                    continue
                if want is not None and abs(round(line.length_mm, LENGTH_DECIMALS) - want) < 0.05:
                    setattr(f, f"{axis}_axis", line)
                    setattr(f, f"{axis}_axis_mm", None)
                else:
                    notes.append(f"{lesion.lesion_id} at {label}: {axis} axis line dropped")
            f.marker = prev.marker
        out.lesions.append(lesion)
    out.load_notes = notes
    return out


@dataclass(frozen=True)
class Snapshot:
    """What a save writes: the annotation table and the sidecar document."""

    frame: pd.DataFrame
    doc: dict[str, Any]


def write_snapshot(snapshot: Snapshot, csv_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write a :class:`Snapshot` as annotation CSV + JSON sidecar (each atomically)."""
    csv_path = Path(csv_path)
    ann.write_annotations(snapshot.frame, csv_path)
    doc = dict(snapshot.doc)
    doc["csv_file"] = csv_path.name
    doc["csv_sha256"] = _sha256(csv_path)
    side = sidecar_path(csv_path)
    # Compact JSON: the C encoder is ~10x faster than an indented dump, and the
    # sidecar is rewritten after every change.
    atomic_write_text(side, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    return csv_path, side


def recovery_path(csv_path: str | os.PathLike) -> Path:
    """The recovery file of an annotation CSV: ``<name>.recovery.json``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".recovery.json")


def write_recovery(snapshot: Snapshot, csv_path: str | os.PathLike) -> Path:
    """Write the snapshot's sidecar document as the recovery file (atomically).

    Cheaper than a full save (no CSV); an application writes it at once after each
    change and the full save afterwards, so a crash in between loses nothing:
    :meth:`Reading.load` prefers a recovery file newer than the sidecar.
    """
    path = recovery_path(csv_path)
    atomic_write_text(path, json.dumps(snapshot.doc, ensure_ascii=False, separators=(",", ":")))
    return path


def drop_recovery(csv_path: str | os.PathLike, saved_revision: int) -> None:
    """Remove the recovery file once a save of ``saved_revision`` or later is done."""
    path = recovery_path(csv_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if int(doc.get("revision", 0)) <= saved_revision:
            path.unlink()
    except (OSError, ValueError):
        pass


def _revision(path: Path) -> int:
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("revision", 0))
    except (OSError, ValueError, AttributeError):
        return -1


def _newer_recovery(csv_path: Path) -> Reading | None:
    rec = recovery_path(csv_path)
    if not rec.exists() or _revision(rec) <= _revision(sidecar_path(csv_path)):
        return None
    try:
        reading = _read_sidecar(rec)[0]
    except ReadingError:
        return None  # a torn recovery file: the sidecar stands
    reading.load_notes = [f"restored changes not saved before a crash from {rec.name}"]
    return reading


def sidecar_path(csv_path: str | os.PathLike) -> Path:
    """The sidecar of an annotation CSV: same folder and name, ``.json`` suffix."""
    return Path(csv_path).with_suffix(".json")


def load_sidecar(path: str | os.PathLike) -> Reading:
    """Read a JSON sidecar (the full reading, with every line and marker).

    Raises
    ------
    ReadingError
        When the file cannot be read, is not JSON, or not a reading sidecar.
    """
    return _read_sidecar(Path(path))[0]


def _read_sidecar(path: Path) -> tuple[Reading, str | None]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReadingError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ReadingError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    return Reading.from_json(doc, source=str(path)), doc.get("csv_sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_kind(kind: str) -> str:
    kind = str(kind).strip().lower()
    if kind not in ann.KINDS:
        raise ReadingError(f"unknown lesion kind {kind!r} (expected one of {', '.join(ann.KINDS)})")
    return kind


# --------------------------------------------------------------------------- checks


def axis_angle_deg(a: Line, b: Line) -> float:
    """Angle between two lines in degrees, 0–90."""
    u = np.subtract(a.p2_lps, a.p1_lps)
    v = np.subtract(b.p2_lps, b.p1_lps)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        return 90.0
    c = abs(float(np.dot(u, v)) / (nu * nv))
    return math.degrees(math.acos(min(1.0, c)))


def axis_checks(finding: Finding) -> list[tuple[str, str]]:
    """Warnings about a node's axes: not perpendicular, short longer than long.

    Returns
    -------
    list of (severity, message)
    """
    out: list[tuple[str, str]] = []
    la, sa = finding.long_axis, finding.short_axis
    lm, sm = finding.long_mm, finding.short_mm
    if la is not None and sa is not None:
        angle = axis_angle_deg(la, sa)
        if angle < 90.0 - PERPENDICULAR_TOLERANCE_DEG:
            out.append(
                (
                    "warning",
                    f"short axis is {angle:.0f}° from the long axis "
                    f"(should be perpendicular within {PERPENDICULAR_TOLERANCE_DEG:.0f}°)",
                )
            )
        known = None not in (la.slice_index, sa.slice_index)
        if known and la.series_uid == sa.series_uid and la.slice_index != sa.slice_index:
            out.append(("warning", "long and short axis are on different slices"))
    if lm is not None and sm is not None and sm > lm:
        out.append(("warning", f"short axis {sm:g} mm is longer than the long axis {lm:g} mm"))
    return out


def evaluate_reading(reading: Reading, settings: Any = None) -> Any:
    """Run the RECIST engine on a reading.

    Parameters
    ----------
    reading : Reading
    settings : recist_tool.response.ResponseSettings, optional

    Returns
    -------
    recist_tool.response.Evaluation
    """
    from recist_tool.response import ResponseSettings, evaluate

    # Records go straight to the engine's checks (no DataFrame round trip): this runs
    # after every edit in the plugin.
    return evaluate(reading.to_measurements(), settings or ResponseSettings())
