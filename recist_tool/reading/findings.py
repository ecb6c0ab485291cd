"""The records a reading is made of: findings, lesions, series, time points, notes.

A :class:`Finding` is one lesion at one time point (a status and its lines or
marker); a :class:`Lesion` keeps one identity across time points; a
:class:`SeriesInfo` describes a series of the study and the time point it is
assigned to; a :class:`TimePoint` is a label and a date; a :class:`Note` is a check
made by the model itself. Each converts to and from the plain dicts of the sidecar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recist_tool.annotations import METHODS
from recist_tool.reading.constants import LENGTH_DECIMALS
from recist_tool.reading.dates import dicom_date
from recist_tool.reading.geometry import Line, Marker, Point3, SeriesGeometry


def _size(line: Line | None, mm: float | None) -> float | None:
    """An axis in mm: the line's length (it takes precedence), else the size recorded
    without a line; rounded to :data:`LENGTH_DECIMALS`; None when neither."""
    v = line.length_mm if line else mm
    return None if v is None else round(v, LENGTH_DECIMALS)


def _line_dict(x: Line | None, geos: dict[str, SeriesGeometry]) -> dict[str, Any] | None:
    return None if x is None else x.to_dict(geos.get(x.series_uid))


def _line_from(data: dict[str, Any], key: str) -> Line | None:
    return Line.from_dict(data[key]) if data.get(key) else None


class _Axes:
    """The axes of a finding or of a part of one: lines (``long_axis``, ``short_axis``)
    or sizes recorded without a line (``long_axis_mm``, ``short_axis_mm``)."""

    long_axis: Line | None
    short_axis: Line | None
    long_axis_mm: float | None
    short_axis_mm: float | None

    @property
    def long_mm(self) -> float | None:
        """Long axis in mm, rounded to :data:`LENGTH_DECIMALS`, or None."""
        return _size(self.long_axis, self.long_axis_mm)

    @property
    def short_mm(self) -> float | None:
        """Short axis in mm, rounded to :data:`LENGTH_DECIMALS`, or None."""
        return _size(self.short_axis, self.short_axis_mm)

    def line(self, axis: str) -> Line | None:
        """The ``"long"`` or ``"short"`` axis line (None when not drawn)."""
        return self.long_axis if axis == "long" else self.short_axis


@dataclass(frozen=True)
class Fragment(_Axes):
    """Another part of a lesion that split (RECIST 1.1: its size is the sum of its
    fragments' diameters): its label, its lines (drawn in the plugin) or its sizes
    (mm, from a CSV; a line takes precedence). The first part is the :class:`Finding`
    itself (its lines, and its label in :attr:`Finding.fragment`).
    """

    label: str
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    long_axis: Line | None = None
    short_axis: Line | None = None

    def to_dict(self, geometries: dict[str, SeriesGeometry] | None = None) -> dict[str, Any]:
        geos = geometries or {}
        return {
            "label": self.label,
            "long_axis": _line_dict(self.long_axis, geos),
            "short_axis": _line_dict(self.short_axis, geos),
            "long_axis_mm": self.long_mm,
            "short_axis_mm": self.short_mm,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fragment:
        label = data.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"fragment label {label!r} is not a non-empty text")
        la, sa = _line_from(data, "long_axis"), _line_from(data, "short_axis")
        return cls(
            label.strip(),
            None if la else _opt_float(data.get("long_axis_mm")),
            None if sa else _opt_float(data.get("short_axis_mm")),
            la,
            sa,
        )


@dataclass
class Finding(_Axes):
    """One lesion at one time point: a status and its lines or marker.

    ``long_axis_mm``/``short_axis_mm`` hold a size that has no line (imported from a
    CSV without sidecar); a drawn line always takes precedence. ``method`` says how
    the lines came about (None: drawn by hand, ``"assisted"``: proposed and accepted,
    ``"assisted_edited"``: proposed, then edited); ``volume_ml`` and ``mean_hu`` are
    what the proposal's segmentation measured. A lesion that split holds its other
    parts in ``fragments`` and this part's label in ``fragment``; the
    annotation table has one row per part (its ``fragment`` column) and the engine
    adds their diameters up. A target that coalesced with another is measured ``0``
    and names that lesion in ``merged_into`` (its whole diameter is recorded there;
    CSV column ``merged_into``).
    """

    status: str | None = None
    long_axis: Line | None = None
    short_axis: Line | None = None
    marker: Marker | None = None
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    method: str | None = None
    volume_ml: float | None = None
    mean_hu: float | None = None
    fragment: str = ""
    fragments: tuple[Fragment, ...] = ()
    merged_into: str = ""

    def added_up(self, axis: str) -> float | None:
        """The ``"long"`` or ``"short"`` axes of every part added up (a split lesion's
        size; this part's alone when it did not split); None when a part has none."""
        own = self.long_mm if axis == "long" else self.short_mm
        other = [fr.long_mm if axis == "long" else fr.short_mm for fr in self.fragments]
        parts = [own, *other]
        if any(v is None for v in parts):
            return None
        return round(sum(v for v in parts if v is not None), LENGTH_DECIMALS)

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

    def part(self, label: str | None) -> Fragment | None:
        """The other part ``label`` of a split lesion (None: not one of them)."""
        return next((fr for fr in self.fragments if label and fr.label == label), None)

    def next_part(self) -> str:
        """The label a new part gets: ``b`` after ``a``, and so on (the first part is
        ``a`` once the lesion splits)."""
        used = {self.fragment or "a", *(fr.label for fr in self.fragments)}
        return next(c for c in "bcdefghijklmnopqrstuvwxyz" if c not in used)

    def to_dict(self, geometries: dict[str, SeriesGeometry] | None = None) -> dict[str, Any]:
        """Plain dict for the sidecar."""
        geos = geometries or {}
        return {
            "status": self.status,
            "long_axis": _line_dict(self.long_axis, geos),
            "short_axis": _line_dict(self.short_axis, geos),
            "marker": None if self.marker is None else self.marker.to_dict(),
            "long_axis_mm": self.long_mm,
            "short_axis_mm": self.short_mm,
            "method": self.method,
            "volume_ml": self.volume_ml,
            "mean_hu": self.mean_hu,
            **(
                {
                    "fragment": self.fragment,
                    "fragments": [fr.to_dict(geometries) for fr in self.fragments],
                }
                if self.fragments
                else {}
            ),
            **({"merged_into": self.merged_into} if self.merged_into else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        la, sa = _line_from(data, "long_axis"), _line_from(data, "short_axis")
        mk = Marker.from_dict(data["marker"]) if data.get("marker") else None
        status, method = data.get("status"), data.get("method") or None
        if status is not None and not isinstance(status, str):
            raise ValueError(f"status {status!r} is not text")
        if method is not None and method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        parts = data.get("fragments") or []
        if not isinstance(parts, list) or not all(isinstance(x, dict) for x in parts):
            raise ValueError("fragments is not a list of objects")
        fragments = tuple(Fragment.from_dict(x) for x in parts)
        label = str(data.get("fragment") or "").strip() if fragments else ""
        labels = {label, *(fr.label for fr in fragments)}
        if fragments and (not label or len(labels) <= len(fragments)):
            raise ValueError("a split lesion's fragments need distinct, non-empty labels")
        return cls(
            status=status,
            long_axis=la,
            short_axis=sa,
            marker=mk,
            long_axis_mm=None if la else _opt_float(data.get("long_axis_mm")),
            short_axis_mm=None if sa else _opt_float(data.get("short_axis_mm")),
            method=method,
            volume_ml=_opt_float(data.get("volume_ml")),
            mean_hu=_opt_float(data.get("mean_hu")),
            fragment=label,
            fragments=fragments,
            merged_into=str(data.get("merged_into") or "").strip(),
        )


def _opt_float(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    if isinstance(v, bool):
        raise ValueError(f"{v!r} is not a number")
    value = float(v)
    if not math.isfinite(value):
        raise ValueError(f"{v!r} is not a finite number")
    return value


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

    def missing_size(self, f: Finding) -> bool:
        """Whether ``f`` (one of this lesion's findings) is a target marked measured
        without the axis that counts (the long axis; a node's short axis)."""
        size = f.short_mm if self.nodal else f.long_mm
        return self.kind == "target" and f.status == "measured" and size is None


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
