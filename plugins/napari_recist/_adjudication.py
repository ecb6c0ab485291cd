"""The adjudicator's view: both readers' readings of a discordant patient, one decision.

A thin layer over the core (:mod:`recist_tool.readers`); no Qt here (napari layers
and psygnal only), so it runs on a bare ``ViewerModel``:

* **the patient list** is the cohort's ``adjudication.csv``
  (:func:`recist_tool.readers.discordance.adjudication_table`, which runs the core's
  discordance when the file is missing): each reader's values and the reasons, as
  the core wrote them; *done* when ``readings/adjudicated/<patient>.csv`` exists;
  pending patients first;
* **opening a patient** loads the study's images once and every reader's reading of
  it (each file passed through the blinding policy,
  :class:`recist_tool.readers.blinding.Access` in the role ``adjudicator``): one
  image layer per time point shown, one read-only Shapes layer of lines and one
  Points layer of marks per reader, in the reader's colour, labelled
  ``<reader> <lesion> <size>``. Nothing the adjudicator does to these layers is
  written anywhere;
* **each reader's response** is the engine's (``load_cohort(...).evaluations[reader]
  .display_timepoints()``: display texts and the reason); cells where the readers'
  texts differ are named (a comparison of texts, no arithmetic);
* **the decision**: one reader for the patient, or one per time point, with a reason
  (required), written by :func:`recist_tool.readers.adjudication.write_adjudications`
  to ``readings/adjudicated/<patient>.csv`` with its provenance (``reader``,
  ``adjudicator``, ``adjudication_reason``) and audit trail; then the next pending
  patient opens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from napari.layers import Image, Points, Shapes
from psygnal import Signal

from napari_recist._labels import PX_PER_PT, stacked_labels
from napari_recist._layers import AXIS_LABELS, SERIES_KEY, UNITS, set_points_data
from napari_recist._loading import load_study
from napari_recist._navigation import WheelSteps, step_z, zoom_about
from napari_recist._pacs import wheel_action
from napari_recist._panes import slice_positions
from napari_recist._settings import ViewSettings
from recist_tool.errors import RecistError
from recist_tool.readers.adjudication import (
    Decision,
    adjudicated_path,
    build_adjudicated,
    write_adjudications,
)
from recist_tool.readers.blinding import Access
from recist_tool.readers.cohort import CohortReadings, ReadersError, load_cohort
from recist_tool.readers.discordance import adjudication_table
from recist_tool.reading import Reading, SeriesInfo
from recist_tool.reading.history import finding_mm
from recist_tool.worklist.layout import COHORT_FILE, check_reader

#: One colour per reader, in reader order (blue, orange, green, red: tell apart
#: also for the commonest colour-vision deficiencies; none is a lesion-kind colour).
READER_COLORS = ("#1b6ca8", "#e08a00", "#2ca02c", "#d62728")
#: Font size of the readers' labels (screen pixels) and ring size of a marker (mm).
LABEL_PX, MARKER_MM = 10, 8
#: Width of the readers' lines (mm): the labels keep off the lines' ends by this much.
LINE_MM = 1.5
#: The reader values of ``adjudication.csv`` shown per reader (column prefix, title).
VALUE_COLUMNS = (
    ("bor", "BOR"),
    ("first_followup", "1st follow-up"),
    ("progression_date", "progression"),
    ("baseline_sum_mm", "baseline SOD mm"),
    ("n_targets", "targets"),
)
#: The response columns compared between readers (``display_timepoints``).
COMPARED = (
    "sum",
    "target_response",
    "non_target_response",
    "new_lesions",
    "overall_response",
)
#: Image layer metadata key of the series shown (not the reading session's key, so
#: a reading session in the same viewer does not take these images over).
ADJ_SERIES_KEY = "recist_adjudication_series"


@dataclass
class PatientRow:
    """A discordant patient as ``adjudication.csv`` lists it."""

    patient_id: str
    reasons: str
    readers: list[str]
    values: dict[str, dict[str, str]]  # reader -> VALUE_COLUMNS prefix -> text
    done: bool


@dataclass
class ShownPatient:
    """The patient open in the view."""

    patient_id: str
    readings: dict[str, Reading]
    timepoints: list[str]
    images: dict[str, tuple[Any, dict[str, Any], SeriesInfo]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Adjudication:
    """The adjudicator's controller (see the module).

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
    adjudicator : str
        Who decides (a reader-name-like identifier: the ``adjudicator`` column and
        the audit trail).
    """

    #: After the cohort, the patient, the time point shown or a decision changed.
    changed = Signal()
    #: ``(severity, text)`` for the adjudicator.
    notice = Signal(str, str)

    def __init__(self, viewer: Any, adjudicator: str = "") -> None:
        self.viewer = viewer
        self.adjudicator = adjudicator
        self.cohort_dir: Path | None = None
        self.access: Access | None = None
        self.cohort: CohortReadings | None = None
        self.table = pd.DataFrame()
        self.rows: list[PatientRow] = []
        self.shown: ShownPatient | None = None
        self.timepoint: str | None = None
        self.notices: list[tuple[str, str]] = []
        self.layers: list[Any] = []
        self._hidden: list[Any] = []
        self._label_marks: dict[str, dict] = {}
        self._label_layers: dict[str, Any] = {}
        viewer.scene.camera.events.zoom.connect(self._place_labels)
        #: World z (mm) of the shown series' slices: the wheel pages by them.
        self._slice_z = np.zeros(0)
        self._wheel = WheelSteps()
        self._wheel_setting = ViewSettings.from_env().wheel
        self._mouse_zoom: bool | None = None  # the camera's own wheel zoom, while shown
        self._refusal: str | None = None
        #: Files this view opened for reading (the blinding tests look here too).
        self.opened: list[Path] = []

    # ------------------------------------------------------------------ plumbing

    def _notify(self, severity: str, text: str) -> None:
        self.notices.append((severity, text))
        del self.notices[:-50]
        self.notice.emit(severity, text)

    def colour(self, reader: str) -> str:
        """The reader's colour (by the reader's place in the cohort)."""
        readers = self.cohort.readers if self.cohort is not None else [reader]
        i = readers.index(reader) if reader in readers else len(readers)
        return READER_COLORS[i % len(READER_COLORS)]

    # ------------------------------------------------------------------ the cohort

    def open_cohort(self, cohort_dir: str | os.PathLike) -> bool:
        """Open ``cohort_dir`` as adjudicator: load the readings, list the discordant
        patients (running the core's discordance when ``adjudication.csv`` is
        missing). False (and a notice) when it cannot be opened."""
        root = Path(cohort_dir)
        try:
            who = check_reader(self.adjudicator, "adjudicator")
            cohort = load_cohort(root)
            table, written = adjudication_table(root, cohort=cohort)
        except RecistError as exc:
            self._notify("error", str(exc))
            return False
        self.adjudicator = who
        self.cohort_dir, self.cohort, self.table = root, cohort, table
        self.access = Access(root.resolve(), who, "adjudicator")
        self.close_patient()
        if written:
            self._notify(
                "info",
                f"{root / 'adjudication.csv'} written ({len(table)} discordant patient(s))",
            )
        for note in cohort.notes:
            self._notify("warning", note)
        self.refresh_rows()
        return True

    def refresh_rows(self) -> None:
        """Re-read which patients are done; pending patients first."""
        rows = []
        t = self.table
        slots = sorted(
            int(c.split("_")[1]) for c in t.columns if c.startswith("reader_") and c[7:].isdigit()
        )
        for rec in t.to_dict("records"):
            pid = str(rec["patient_id"])
            readers, values = [], {}
            for k in slots:
                r = str(rec.get(f"reader_{k}", "") or "")
                if not r:
                    continue
                readers.append(r)
                values[r] = {p: str(rec.get(f"{p}_{k}", "") or "") for p, _ in VALUE_COLUMNS}
            done = self.cohort_dir is not None and adjudicated_path(self.cohort_dir, pid).is_file()
            rows.append(PatientRow(pid, str(rec.get("reasons", "")), readers, values, done))
        self.rows = sorted(rows, key=lambda r: r.done)
        self.changed.emit()

    def row(self, patient_id: str) -> PatientRow:
        """The list's row of a patient."""
        for r in self.rows:
            if r.patient_id == patient_id:
                return r
        raise ReadersError(f"patient {patient_id!r} is not in adjudication.csv")

    def next_pending(self, after: str | None = None) -> str | None:
        """The next patient without an adjudicated reading (after ``after``, wrapping)."""
        ids = [r.patient_id for r in self.rows]
        start = ids.index(after) + 1 if after in ids else 0
        for r in self.rows[start:] + self.rows[:start]:
            if not r.done and r.patient_id != after:
                return r.patient_id
        return None

    # ------------------------------------------------------------------ a patient

    def open_patient(self, patient_id: str) -> bool:
        """Load both readers' readings of a discordant patient and its images."""
        if self.cohort is None or self.access is None or self.cohort_dir is None:
            self._notify("error", "open a cohort first")
            return False
        try:
            row = self.row(patient_id)
            readings = {}
            for reader in row.readers:
                path = self.cohort.path_of(patient_id, reader)
                self.access.check(path)
                self.opened.append(path)
                readings[reader] = Reading.load(path)
        except RecistError as exc:
            self._notify("error", str(exc))
            return False
        labels: list[tuple[str, str]] = []
        for reading in readings.values():
            labels += [(tp.date, tp.label) for tp in reading.timepoints]
        order = list(dict.fromkeys(label for _, label in sorted(labels)))
        shown = ShownPatient(patient_id, readings, order)
        self._load_images(shown)
        self.close_patient()
        self.shown = shown
        self._refusal = None
        self.timepoint = order[0] if order else None
        self._show()
        return True

    def _folders(self, shown: ShownPatient) -> list[Path]:
        """Where the patient's images are: the worklist's plan, else the readings'
        study folders."""
        folders: list[Path] = []
        if self.cohort_dir is not None and (self.cohort_dir / COHORT_FILE).is_file():
            from recist_tool.worklist import Worklist

            try:
                for tp in Worklist.open(self.cohort_dir).plan(shown.patient_id):
                    folders += list(tp.folders)
            except RecistError as exc:
                shown.problems.append(str(exc))
        for reading in shown.readings.values():
            if reading.study_path:
                folders.append(Path(reading.study_path))
        return [f for f in dict.fromkeys(folders) if f.exists()]

    def _load_images(self, shown: ShownPatient) -> None:
        """Each time point's series (the readers' own series, else one of that date)."""
        sources: list[tuple[Any, dict[str, Any], SeriesInfo]] = []
        for folder in self._folders(shown):
            loaded = load_study(folder)
            shown.problems += [p.text() for p in loaded.problems] + loaded.notes
            for data, kwargs, _ in loaded.layers:
                info = SeriesInfo.from_dict(kwargs["metadata"][SERIES_KEY])
                sources.append((data, kwargs, info))
        by_uid = {info.series_uid: (d, k, info) for d, k, info in sources}
        for label in shown.timepoints:
            uids, dates = [], []
            for reading in shown.readings.values():
                uids += [i.series_uid for i in reading.series_of(label)]
                if label in {tp.label for tp in reading.timepoints}:
                    dates.append(reading.timepoint(label).date)
            hit = next((by_uid[u] for u in uids if u in by_uid), None)
            if hit is None:
                hit = next((s for s in sources if s[2].study_date in dates), None)
            if hit is None:
                shown.problems.append(f"{label}: no image series found for this time point")
                continue
            shown.images[label] = hit

    def show_timepoint(self, label: str) -> None:
        """Show another time point of the open patient."""
        if self.shown is None or label not in self.shown.timepoints:
            self._notify("error", f"no time point {label!r}")
            return
        self.timepoint = label
        self._show()

    # ------------------------------------------------------------------ the wheel

    def step_slice(self, n: int) -> None:
        """Move ``n`` slices of the shown series (clamped to it)."""
        if len(self._slice_z) and n:
            z = float(self.viewer.dims.point[0])
            self.viewer.dims.set_point(0, step_z(self._slice_z, z, n))

    def on_wheel(self, viewer: Any, event: Any) -> None:
        """While a patient is shown: the wheel pages its slices, Ctrl+wheel zooms about
        the cursor (the other way round with ``RECIST_VIEW=wheel=zoom``), as in the
        reading view (napari's own wheel zoom is off meanwhile)."""
        if self.shown is None or not len(self._slice_z) or getattr(event, "handled", False):
            return
        zoom, dy, inverted = wheel_action(event, self._wheel_setting)
        if zoom is None:
            self.step_slice(self._wheel.steps(0, dy, inverted))
        elif dy:
            zoom_about(viewer.scene.camera, zoom, event.position)
        event.handled = True

    def _take_wheel(self) -> None:
        cbs = self.viewer.mouse_wheel_callbacks
        if self.on_wheel not in cbs:
            cbs.insert(0, self.on_wheel)  # before the reading view's: it sees "handled"
        cam = self.viewer.scene.camera
        if self._mouse_zoom is None:
            self._mouse_zoom = bool(cam.mouse_zoom)
            cam.events.mouse_zoom.connect(self._keep_wheel)
        self._keep_wheel()

    def _keep_wheel(self, event: Any = None) -> None:
        """napari turns the camera's wheel zoom back on with each active layer."""
        cam = self.viewer.scene.camera
        if self.shown is not None and cam.mouse_zoom:
            cam.mouse_zoom = False

    def _give_wheel_back(self) -> None:
        cbs = self.viewer.mouse_wheel_callbacks
        if self.on_wheel in cbs:
            cbs.remove(self.on_wheel)
        if self._mouse_zoom is not None:
            cam = self.viewer.scene.camera
            cam.events.mouse_zoom.disconnect(self._keep_wheel)
            cam.mouse_zoom = self._mouse_zoom
            self._mouse_zoom = None
        self._slice_z = np.zeros(0)

    def close_patient(self) -> None:
        """Remove the view's layers (the viewer's other layers come back)."""
        self._give_wheel_back()
        for layer in self.layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.layers = []
        self._label_layers = {}
        self._label_marks = {}
        for layer in self._hidden:
            if layer in self.viewer.layers:
                layer.visible = True
        self._hidden = []
        self.shown = None
        self.timepoint = None

    def _show(self) -> None:
        for layer in self.layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.layers = []
        self._label_layers = {}
        self._label_marks = {}
        self._slice_z = np.zeros(0)
        shown, label = self.shown, self.timepoint
        if shown is None or label is None:
            self.changed.emit()
            return
        for layer in list(self.viewer.layers):  # a reading session's layers step aside
            if layer.visible and layer not in self._hidden:
                layer.visible = False
                self._hidden.append(layer)
        image = shown.images.get(label)
        if image is None:
            for p in shown.problems:
                self._notify("warning", p)
            self.changed.emit()
            return
        data, kwargs, info = image
        meta = {k: v for k, v in kwargs["metadata"].items() if k != SERIES_KEY}
        meta[ADJ_SERIES_KEY] = info.to_dict()
        img = Image(
            data,
            **{
                **kwargs,
                "name": f"{shown.patient_id} · {label} · {info.description}",
                "metadata": meta,
            },
        )
        tf = {
            "scale": img.scale,
            "translate": img.translate,
            "affine": img.affine.affine_matrix,
            "units": UNITS,
            "axis_labels": AXIS_LABELS,
        }
        self.viewer.layers.append(img)
        self.layers.append(img)
        geo = info.geometry
        self._slice_z = slice_positions(geo, img.data.shape)
        self._take_wheel()
        first_z: float | None = None
        ends: list[np.ndarray] = []  # world (z, y, x) of every line end
        # one label per reader and lesion, stacked above the lesion (see _place_labels)
        self._label_marks = {}
        for reader, reading in shown.readings.items():
            color = self.colour(reader)
            lines, pts = [], []
            for lesion in reading.lesions:
                f = lesion.findings.get(label)
                if f is None:
                    continue
                size = finding_mm(f, lesion.nodal)
                for axis, line in (("long", f.long_axis), ("short", f.short_axis)):
                    if line is None:
                        continue
                    lines.append(line.indices(geo))
                    yx = [np.asarray(line.p1_lps)[::-1], np.asarray(line.p2_lps)[::-1]]
                    ends += yx
                    main = axis == ("short" if lesion.nodal else "long")
                    self._add_label(lesion.lesion_id, reader, size if main else None, yx)
                    if first_z is None and lesion.kind == "target":
                        first_z = float(line.p1_lps[2])
                if f.marker is not None:
                    pts.append(geo.lps_to_index(f.marker.position_lps))
                    c = np.asarray(f.marker.position_lps, float)[::-1]
                    ring = np.array([0.0, MARKER_MM / 2, MARKER_MM / 2])
                    self._add_label(lesion.lesion_id, reader, f.status or "", [c - ring, c + ring])
            shapes = Shapes(
                [np.asarray(x) for x in lines],
                ndim=3,
                shape_type="line",
                name=f"{reader} lines · {label}",
                edge_color=color,
                edge_width=LINE_MM,
                metadata={"adjudication_reader": reader},
                **tf,
            )
            points = Points(
                np.asarray(pts, float).reshape(-1, 3),
                ndim=3,
                name=f"{reader} marks · {label}",
                symbol="ring",
                size=MARKER_MM,
                face_color=color,
                border_width=0,
                metadata={"adjudication_reader": reader},
                **tf,
            )
            for layer in (shapes, points):
                self.viewer.layers.append(layer)
                layer.mode = "pan_zoom"
                layer.editable = False  # read-only: nothing here is ever saved
                self.layers.append(layer)
        for reader in shown.readings:
            labels = Points(
                ndim=3,
                name=f"{reader} labels · {label}",
                features=pd.DataFrame({"label": pd.Series(dtype=object)}),
                text={"string": "{label}", "color": self.colour(reader), "size": LABEL_PX,
                      "anchor": "center"},
                size=0.01,
                face_color="transparent",
                border_width=0,
                metadata={"adjudication_reader": reader},
                **tf,
            )  # fmt: skip
            self.viewer.layers.append(labels)
            labels.mode = "pan_zoom"
            labels.editable = False
            self.layers.append(labels)
            self._label_layers[reader] = labels
        if first_z is not None:
            self.viewer.dims.set_point(0, first_z)
        self.viewer.reset_view()
        self._frame_lines(img, ends)
        self._place_labels()
        self.changed.emit()

    def _add_label(self, lesion_id: str, reader: str, what: Any, points: list) -> None:
        """Note the world (z, y, x) points of a lesion its labels must stay off, and
        (unless ``what`` is None) the reader's label of it."""
        mark = self._label_marks.setdefault(lesion_id, {"points": [], "texts": {}, "z": {}})
        mark["points"] += [np.asarray(p, float) for p in points]
        if what is not None:
            mark["texts"].setdefault(reader, f"{reader} {lesion_id} {what}".strip())
            mark["z"].setdefault(reader, float(points[0][0]))  # the reader's own slice

    def _place_labels(self, event: Any = None) -> None:
        """Each lesion's labels (one per reader, in the reader's colour) stacked
        above the lesion as drawn by all readers, for the current zoom: they never
        cover one another however close the readers' lines are."""
        if not self._label_layers:
            return
        zoom = float(self.viewer.scene.camera.zoom)
        placed: dict[str, tuple[list, list]] = {r: ([], []) for r in self._label_layers}
        for mark in self._label_marks.values():
            pts = np.asarray(mark["points"])
            box = (*(pts[:, 1:].min(axis=0) - LINE_MM), *(pts[:, 1:].max(axis=0) + LINE_MM))
            readers = [r for r in self._label_layers if r in mark["texts"]]
            texts = [mark["texts"][r] for r in readers]
            for r, t, (y, x) in zip(
                readers, texts, stacked_labels(box, texts, zoom, LABEL_PX * PX_PER_PT), strict=True
            ):
                placed[r][0].append((mark["z"][r], y, x))
                placed[r][1].append(t)
        for reader, layer in self._label_layers.items():
            world, texts = placed[reader]
            data = np.asarray([layer.world_to_data(w) for w in world], float).reshape(-1, 3)
            set_points_data(layer, data)
            layer.features = pd.DataFrame({"label": pd.Series(texts, dtype=object)})
            layer.refresh_text()
            layer.editable = False  # setting data makes a layer editable again

    def _frame_lines(self, image: Any, ends: list[np.ndarray]) -> None:
        """Centre on the lines drawn and zoom in (at most 3x) so that they and 40 mm
        around them fill the view."""
        if not ends:
            return
        yx = np.asarray(ends)[:, 1:]
        lo, hi = yx.min(axis=0) - 40, yx.max(axis=0) + 40
        ext = np.asarray(image.extent.world)[:, 1:]
        span = np.maximum(ext[1] - ext[0], 1e-6)
        factor = float(np.clip(np.min(span / np.maximum(hi - lo, 1e-6)), 1.0, 3.0))
        cam = self.viewer.scene.camera
        cam.center = (*cam.center[:-2], *((lo + hi) / 2))
        cam.zoom = cam.zoom * factor

    # ------------------------------------------------------------------ the readers' responses

    def response(self, reader: str) -> tuple[list[dict[str, str]], str]:
        """The engine's display rows of the open patient by ``reader`` and the best
        overall response (texts as the engine gives them)."""
        if self.shown is None or self.cohort is None or reader not in self.cohort.evaluations:
            return [], ""
        ev = self.cohort.evaluations[reader]
        pid = self.shown.patient_id
        table = ev.display_timepoints()
        table = table[table["patient_id"].astype(str) == pid]
        rows = [{c: _text(v) for c, v in rec.items()} for rec in table.to_dict("records")]
        p = ev.patients
        best = p.loc[p["patient_id"].astype(str) == pid, "best_overall_response"]
        return rows, _text(best.iloc[0]) if len(best) else ""

    def differences(self) -> set[tuple[str, str]]:
        """``(time point, column)`` where the open patient's readers' texts differ."""
        if self.shown is None:
            return set()
        per = {}
        for r in self.shown.readings:
            per[r] = {row["timepoint"]: row for row in self.response(r)[0]}
        out = set()
        for label in self.shown.timepoints:
            for col in COMPARED:
                texts = {per[r].get(label, {}).get(col, "") for r in per}
                if len(texts) > 1:
                    out.add((label, col))
        return out

    def per_timepoint_refusal(self) -> str:
        """Why the readers cannot be chosen per time point ("" when they can): the
        core refuses when their baseline lesions differ."""
        if self.shown is None or self.cohort is None or len(self.shown.readings) < 2:
            return "one reader only"
        if self._refusal is None:
            self._refusal = self._try_per_timepoint()
        return self._refusal

    def _try_per_timepoint(self) -> str:
        assert self.shown is not None and self.cohort is not None
        readers = list(self.shown.readings)
        labels = self.shown.timepoints
        trial = [Decision(self.shown.patient_id, readers[0], "check", "check", labels[0])]
        trial += [
            Decision(self.shown.patient_id, readers[1], "check", "check", tp) for tp in labels[1:]
        ]
        try:
            build_adjudicated(self.cohort, self.shown.patient_id, trial)
        except RecistError as exc:
            return str(exc)
        return ""

    # ------------------------------------------------------------------ the decision

    def decide(
        self,
        reader: str | None,
        reason: str,
        per_timepoint: dict[str, str] | None = None,
    ) -> list[Path]:
        """Write the open patient's adjudicated reading: ``reader`` for the whole
        patient, or ``per_timepoint`` (label -> reader) — with the reason (required).

        Returns the files written ([] and a notice when refused); the next pending
        patient opens."""
        if self.shown is None or self.cohort_dir is None:
            self._notify("error", "open a patient first")
            return []
        pid = self.shown.patient_id
        reason = (reason or "").strip()
        if not reason:
            self._notify("error", f"{pid}: give the reason for the decision (required)")
            return []
        if per_timepoint:
            decisions = [
                Decision(pid, r, reason, self.adjudicator, tp) for tp, r in per_timepoint.items()
            ]
        elif reader:
            decisions = [Decision(pid, reader, reason, self.adjudicator)]
        else:
            self._notify("error", f"{pid}: choose a reader")
            return []
        try:
            written = write_adjudications(self.cohort_dir, decisions, self.cohort)
        except (RecistError, OSError) as exc:
            self._notify("error", str(exc))
            return []
        choice = ", ".join(
            f"{d.timepoint}={d.reader}" if d.timepoint else d.reader for d in decisions
        )
        self._notify("info", f"{pid}: {choice} ({reason}) → {written[0]}")
        self.refresh_rows()
        nxt = self.next_pending(pid)
        if nxt is not None:
            self.open_patient(nxt)
        else:
            self.close_patient()
            self._notify("info", "every discordant patient is adjudicated")
            self.changed.emit()
        return written


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    text = str(v)
    return "" if text in ("nan", "NaT", "<NA>", "None") else text
