"""The reading: everything a reader did on one patient's study.

:class:`Reading` holds the series and their time points, the lesions and their
findings; it edits them (time points, series assignment, lines, markers,
statuses), checks them (:meth:`Reading.notes`), converts to the annotation table and
the JSON sidecar, and saves and loads both (:meth:`Reading.save`,
:meth:`Reading.load`, :func:`load_sidecar`; the file writing itself is in
:mod:`recist_tool.reading.storage`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recist_tool import annotations as ann
from recist_tool.reading.assist import assist_columns, assist_fields
from recist_tool.reading.checks import axis_checks
from recist_tool.reading.constants import (
    _DEFAULT_STATUS,
    _ID_PREFIX,
    _SIZELESS_TARGET,
    BASELINE_LABEL,
    LENGTH_DECIMALS,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
)
from recist_tool.reading.dates import _check_date
from recist_tool.reading.errors import ReadingError
from recist_tool.reading.findings import Finding, Lesion, Note, SeriesInfo, TimePoint
from recist_tool.reading.geometry import Line, Marker, SeriesGeometry
from recist_tool.reading.storage import (
    Snapshot,
    _revision,
    _sha256,
    recovery_path,
    sidecar_path,
    write_snapshot,
)


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
        if f.method == "assisted" and line != (f.long_axis if axis == "long" else f.short_axis):
            f.method = "assisted_edited"  # a proposed line changed by hand
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
                    **assist_columns(f),
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
                status=m.status,
                long_axis_mm=m.long_axis_mm,
                short_axis_mm=m.short_axis_mm,
                **assist_fields(m.extra),
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


def _check_kind(kind: str) -> str:
    kind = str(kind).strip().lower()
    if kind not in ann.KINDS:
        raise ReadingError(f"unknown lesion kind {kind!r} (expected one of {', '.join(ann.KINDS)})")
    return kind
