"""Geometry of a reading: series voxel grids, measurement lines and point markers.

:class:`SeriesGeometry` maps voxel indices ``(z, y, x)`` of a series to patient LPS
millimetres and back; :class:`Line` (a measurement line) and :class:`Marker` (a point
marking a non-target or new lesion) hold their positions in patient coordinates with
the series, SOP instance and slice they were drawn on; :func:`axis_angle_deg` is the
angle between two lines.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recist_tool.reading.errors import ReadingError

Point3 = tuple[float, float, float]


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


def axis_angle_deg(a: Line, b: Line) -> float:
    """Angle between two lines in degrees, 0–90."""
    u = np.subtract(a.p2_lps, a.p1_lps)
    v = np.subtract(b.p2_lps, b.p1_lps)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        return 90.0
    c = abs(float(np.dot(u, v)) / (nu * nv))
    return math.degrees(math.acos(min(1.0, c)))
