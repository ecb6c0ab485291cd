"""The reading session: binds a :class:`recist_tool.reading.Reading` to viewer layers.

No Qt here (napari layers and psygnal only), so it runs on a bare ``ViewerModel``.
The session

* picks up the CT image layers this plugin's reader makes and assigns each series
  to a time point (by StudyDate until the reader changes it),
* keeps one Shapes layer (measurement lines) and one Points layer (markers) per
  time point, in the same world coordinates as that time point's CT (patient mm),
* commits the reader's drawing to the model on ``added``/``changed``/``removed``
  (``set_data`` only feeds the live read-out),
* after every change runs the core's RECIST engine and saves the reading
  (annotation CSV + JSON sidecar, both atomic), then emits :attr:`changed`.

Every number shown is computed by the core; this module only moves data.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from napari.layers import Image, Points, Shapes
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from napari_recist._autosave import AutoSaver, flush_all
from napari_recist._layers import (
    AXIS_LABELS,
    FOLDER_KEY,
    UNITS,
    WINDOWS,
    series_of_layer,
    window_limits,
)
from recist_tool.errors import RecistError
from recist_tool.reading import (
    BASELINE_LABEL,
    LENGTH_DECIMALS,
    Line,
    Marker,
    Reading,
    SeriesGeometry,
    Snapshot,
    evaluate_reading,
    recovery_path,
    sidecar_path,
)

#: npe2 plugin name (the distribution's name).
PLUGIN = "recist-tool"
#: Environment variable naming the folder where readings are saved by default.
READINGS_ENV = "RECIST_READINGS_DIR"
LINE_COLORS = {"long": "yellow", "short": "orange"}
KIND_COLORS = {"target": "yellow", "non_target": "cyan", "new": "magenta"}
DEFAULT_ORGANS = (
    "liver",
    "lung",
    "lymph node",
    "adrenal gland",
    "kidney",
    "pancreas",
    "spleen",
    "bone",
    "peritoneum",
    "pleura",
    "soft tissue",
    "brain",
)
_FEATURES_LINES = ("lesion_id", "axis", "label")
_FEATURES_POINTS = ("lesion_id", "label")


def default_readings_dir() -> Path:
    """``$RECIST_READINGS_DIR``, else ``~/recist-tool/readings``."""
    env = os.environ.get(READINGS_ENV)
    return Path(env) if env else Path.home() / "recist-tool" / "readings"


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "patient"


@dataclass
class TimePointLayers:
    """The layers of one time point: its CT image, lines and markers."""

    image: Image
    lines: Shapes
    points: Points
    geometry: SeriesGeometry

    @property
    def all(self) -> tuple[Any, Any, Any]:
        """Image, lines, points (grid order: image at the bottom)."""
        return (self.image, self.lines, self.points)


class ReadingSession:
    """A reader's session on one patient in one napari viewer.

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
    readings_dir : path-like, optional
        Where a reading is saved when no file was chosen
        (``<readings_dir>/<patient_id>.csv``); default :func:`default_readings_dir`.
    settings : recist_tool.response.ResponseSettings, optional
    """

    #: Emitted after every change of the reading (evaluated and saved).
    changed = Signal()
    #: Emitted with a text while a line is being drawn or dragged.
    live = Signal(str)

    def __init__(
        self,
        viewer: Any,
        readings_dir: str | os.PathLike | None = None,
        settings: Any = None,
    ) -> None:
        self.viewer = viewer
        self.reading = Reading()
        self.readings_dir = Path(readings_dir) if readings_dir else default_readings_dir()
        self.settings = settings
        self.csv_path: Path | None = None
        self.evaluation: Any = None
        self.engine_error = ""
        self.current_tp: str | None = None
        self.active_lesion: str | None = None
        self.active_axis = "long"
        self.form = {"kind": "target", "organ": DEFAULT_ORGANS[0], "nodal": False}
        self.grid = False
        self.last_update_s = 0.0
        self.autosave = True
        #: Write autosaves in a background thread (see ``_autosave``); False: in line.
        self.background_save = True
        self._saver = AutoSaver()
        self._series_layers: dict[str, Image] = {}
        self._tp: dict[str, TimePointLayers] = {}
        self._auto_assigned: set[str] = set()
        self._shown_series: dict[str, str] = {}  # time point -> series UID shown
        self._busy = 0
        self._messages: dict[str, list[tuple[str, str, str]]] | None = None
        self._edge_colors: dict[str, list[str]] = {}
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        for layer in list(viewer.layers):
            self._adopt(layer)
        if self._series_layers:
            self._study_changed()

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Programmatic layer edits: their events are not the reader's drawing."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    def close(self) -> None:
        """Finish saving and disconnect from the viewer (the layers stay)."""
        self.flush()
        self.viewer.layers.events.inserted.disconnect(self._on_inserted)
        self.viewer.layers.events.removed.disconnect(self._on_removed)
        for tpl in self._tp.values():
            self._disconnect(tpl)

    @property
    def save_path(self) -> Path | None:
        """Where the reading is saved (None until a patient is known)."""
        if self.csv_path is not None:
            return self.csv_path
        if not self.reading.patient_id:
            return None
        return self.readings_dir / f"{_safe_name(self.reading.patient_id)}.csv"

    # ------------------------------------------------------------------ study

    def open_study(self, folder: str | os.PathLike) -> list[Any]:
        """Open a DICOM folder with this plugin's reader; returns the layers added."""
        with self._quiet():  # adopt all series first, then set up once
            layers = self.viewer.open(os.fspath(folder), plugin=PLUGIN)
        for layer in layers:
            self._adopt(layer)
        if layers:
            self._study_changed()
        return layers

    def _on_inserted(self, event: Any) -> None:
        if self._busy:
            return
        if self._adopt(event.value):
            self._study_changed()

    def _on_removed(self, event: Any) -> None:
        layer = event.value
        for uid, lay in list(self._series_layers.items()):
            if lay == layer:  # == not `is`: the viewer may hand out proxies
                del self._series_layers[uid]
                self._sync_tp_layers()
                self.changed.emit()
        for label, tpl in list(self._tp.items()):
            if layer in (tpl.lines, tpl.points):
                self._disconnect(tpl)
                del self._tp[label]

    def _adopt(self, layer: Any) -> bool:
        """Register an image layer made by this plugin's reader; True when new."""
        if not isinstance(layer, Image):
            return False
        info = series_of_layer(layer)
        if info is None or info.series_uid in self._series_layers:
            return False
        patient = str(layer.metadata.get("dicom", {}).get("patient_id") or "")
        if self.reading.patient_id and patient and patient != self.reading.patient_id:
            show_warning(
                f"recist: series {info.description!r} belongs to patient {patient}, "
                f"not {self.reading.patient_id}: not added to this reading"
            )
            return False
        if not self.reading.patient_id and patient:
            self.reading.patient_id = patient
            self._restore_saved()
        if not self.reading.study_path:
            self.reading.study_path = str(layer.metadata.get("recist_folder", ""))
        self._series_layers[info.series_uid] = layer
        self.reading.add_series(info)
        return True

    def _restore_saved(self) -> None:
        """Load this patient's saved reading when it exists (first series seen)."""
        path = self.save_path
        if path is None or self.reading.lesions:
            return
        if any(p.exists() for p in (path, sidecar_path(path), recovery_path(path))):
            self.load(path, refresh=False)

    def load(self, csv_path: str | os.PathLike, refresh: bool = True) -> None:
        """Continue a saved reading (CSV + sidecar); later saves go to that file."""
        flush_all()  # another viewer's session may still be writing this file
        try:
            loaded = Reading.load(csv_path)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return
        for note in loaded.load_notes:
            show_warning(f"recist: {note}")
        for uid, layer in self._series_layers.items():
            info = series_of_layer(layer)
            if info is not None:
                info.timepoint = None
                loaded.add_series(info)
            self._auto_assigned.discard(uid)
        if not loaded.patient_id:
            loaded.patient_id = self.reading.patient_id
        self.reading = loaded
        self.csv_path = Path(csv_path)
        if refresh:
            self._study_changed()

    def _study_changed(self) -> None:
        self._auto_assign()
        self._sync_tp_layers()
        labels = [tp.label for tp in self.reading.timepoints]
        if self.current_tp not in labels:
            self.current_tp = labels[-1] if len(labels) > 1 else (labels[0] if labels else None)
        self._apply_view()
        self._after_change()

    def _auto_assign(self) -> None:
        """Series not assigned yet go to the time point of their StudyDate.

        While nothing is drawn, time points follow the date order (earliest =
        baseline, then FU1, FU2 …); afterwards new dates get the next free FU label.
        """
        r = self.reading
        pristine = not r.lesions and all(
            s.timepoint is None or uid in self._auto_assigned for uid, s in r.series.items()
        )
        if pristine:
            for uid in self._auto_assigned:
                if uid in r.series:
                    r.series[uid].timepoint = None
            r.timepoints.clear()
            self._auto_assigned.clear()
        todo = [s for s in r.series.values() if s.timepoint is None and s.study_date]
        todo.sort(key=lambda s: (s.study_date, s.series_number or 0))
        for s in todo:
            same = [tp for tp in r.timepoints if tp.date == s.study_date]
            if same:
                label = same[0].label
            elif not r.timepoints:
                label = BASELINE_LABEL
            else:
                n = 1
                while any(tp.label == f"FU{n}" for tp in r.timepoints):
                    n += 1
                label = f"FU{n}"
            r.assign_series(s.series_uid, label)
            self._auto_assigned.add(s.series_uid)

    def assign_series(self, series_uid: str, label: str | None, date: str | None = None) -> None:
        """The reader assigns a series to a time point (None: not used).

        A new label for the only series of a time point renames that time point,
        keeping what was drawn there.
        """
        r = self.reading
        old = r.series[series_uid].timepoint if series_uid in r.series else None
        labels = {tp.label for tp in r.timepoints}
        if label and old and label not in labels and len(r.series_of(old)) == 1:
            self._auto_assigned.discard(series_uid)
            self.rename_timepoint(old, label)
            if date:
                self.set_timepoint_date(label, date)
            return
        try:
            self.reading.assign_series(series_uid, label or None, date)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return
        self._auto_assigned.discard(series_uid)
        self._study_changed()

    def set_timepoint_date(self, label: str, date: str) -> None:
        """Change a time point's date (YYYY-MM-DD)."""
        try:
            self.reading.set_timepoint(label, date)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return
        self._auto_assigned.clear()
        self._study_changed()

    def rename_timepoint(self, old: str, new: str) -> None:
        """Change a time point's label (its layers are renamed)."""
        try:
            self.reading.rename_timepoint(old, new)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return
        if old in self._tp:
            tpl = self._tp.pop(old)
            tpl.lines.name = f"RECIST lines · {new}"
            tpl.points.name = f"RECIST points · {new}"
            self._tp[new] = tpl
        if self.current_tp == old:
            self.current_tp = new
        self._study_changed()

    # ------------------------------------------------------------------ layers

    def layers_of(self, label: str) -> TimePointLayers | None:
        """The layers of a time point (None when it has no CT in the viewer)."""
        return self._tp.get(label)

    def show_series(self, series_uid: str) -> None:
        """Show this series for its time point (a time point may hold several, e.g.
        chest and abdomen); the time point's lines are drawn on it from now on."""
        info = self.reading.series.get(series_uid)
        if info is None or info.timepoint is None:
            return
        self._shown_series[info.timepoint] = series_uid
        self.current_tp = info.timepoint
        self._sync_tp_layers()
        self._apply_view()
        self.arm(self.active_axis, activate=False)
        self.changed.emit()

    def displayed_series(self, label: str) -> str | None:
        """UID of the series shown for a time point."""
        shown = self._display_series(label)
        return None if shown is None else shown[1].series_uid

    def _display_series(self, label: str) -> tuple[Image, SeriesGeometry] | None:
        infos = self.reading.series_of(label)
        chosen = self._shown_series.get(label)
        infos.sort(key=lambda i: i.series_uid != chosen)  # the reader's choice first
        for info in infos:
            layer = self._series_layers.get(info.series_uid)
            if layer is not None and info.geometry is not None:
                return layer, info.geometry
        return None

    def _sync_tp_layers(self) -> None:
        labels = {tp.label for tp in self.reading.timepoints}
        for label in list(self._tp):
            shown = self._display_series(label)
            if label not in labels or shown is None or shown[0] != self._tp[label].image:
                tpl = self._tp.pop(label)
                self._disconnect(tpl)
                with self._quiet():
                    for layer in (tpl.lines, tpl.points):
                        if layer in self.viewer.layers:
                            self.viewer.layers.remove(layer)
        for label in sorted(labels - set(self._tp)):
            shown = self._display_series(label)
            if shown is not None:
                self._tp[label] = self._make_tp_layers(label, *shown)
                self._render(label)

    def _make_tp_layers(self, label: str, image: Image, geo: SeriesGeometry) -> TimePointLayers:
        transform = {
            "scale": image.scale,
            "translate": image.translate,
            "affine": image.affine.affine_matrix,
            "units": UNITS,
            "axis_labels": AXIS_LABELS,
        }
        lines = Shapes(
            ndim=3,
            name=f"RECIST lines · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in _FEATURES_LINES}),
            feature_defaults={"lesion_id": "", "axis": "long", "label": ""},
            text={"string": "{label}", "color": "yellow", "size": 10, "anchor": "upper_left"},
            edge_width=1.0,
            edge_color="yellow",
            face_color="transparent",
            **transform,
        )
        points = Points(
            ndim=3,
            name=f"RECIST points · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in _FEATURES_POINTS}),
            feature_defaults={"lesion_id": "", "label": ""},
            text={"string": "{label}", "color": "cyan", "size": 10, "anchor": "upper_left"},
            size=8,
            face_color="cyan",
            border_color="white",
            **transform,
        )
        with self._quiet():
            self.viewer.layers.append(lines)
            self.viewer.layers.append(points)
        tpl = TimePointLayers(image, lines, points, geo)
        lines.events.data.connect(self._on_lines_data)
        lines.events.set_data.connect(self._on_lines_live)
        points.events.data.connect(self._on_points_data)
        return tpl

    def _disconnect(self, tpl: TimePointLayers) -> None:
        with contextlib.suppress(Exception):
            tpl.lines.events.data.disconnect(self._on_lines_data)
            tpl.lines.events.set_data.disconnect(self._on_lines_live)
            tpl.points.events.data.disconnect(self._on_points_data)

    def _label_of(self, layer: Any) -> str | None:
        for label, tpl in self._tp.items():
            if layer == tpl.lines or layer == tpl.points:
                return label
        return None

    def _render(self, label: str) -> None:
        """Draw the model's lines and markers of a time point into its layers."""
        tpl = self._tp.get(label)
        if tpl is None:
            return
        geo = tpl.geometry
        shapes, feats_l, colors = [], [], []
        pts, feats_p, pcolors = [], [], []
        for lesion in self.reading.lesions:
            f = lesion.findings.get(label)
            if f is None:
                continue
            for axis in ("long", "short"):
                line = f.long_axis if axis == "long" else f.short_axis
                if line is not None:
                    shapes.append(line.indices(geo))
                    feats_l.append(
                        {
                            "lesion_id": lesion.lesion_id,
                            "axis": axis,
                            "label": _line_label(lesion.lesion_id, axis, line),
                        }
                    )
                    colors.append(_color(lesion.kind, axis))
            if f.marker is not None:
                pts.append(geo.lps_to_index(f.marker.position_lps))
                feats_p.append({"lesion_id": lesion.lesion_id, "label": lesion.lesion_id})
                pcolors.append(KIND_COLORS[lesion.kind])
        with self._quiet():
            lines = tpl.lines
            if len(lines.data):
                lines.selected_data = set(range(len(lines.data)))
                lines.remove_selected()
            if shapes:
                lines.add(shapes, shape_type="line", edge_color=colors)
            self._edge_colors[label] = colors
            lines.features = _frame(feats_l, _FEATURES_LINES)
            lines.refresh_text()
            points = tpl.points
            points.data = np.asarray(pts, dtype=float).reshape(-1, 3)
            points.features = _frame(feats_p, _FEATURES_POINTS)
            if pts:
                points.face_color = pcolors
            points.refresh_text()

    # ------------------------------------------------------------------ drawing

    def _on_lines_live(self, event: Any) -> None:
        layer = event.source
        label = self._label_of(layer)
        if label is None or not len(layer.data):
            return
        sel = sorted(layer.selected_data)
        i = sel[-1] if sel else len(layer.data) - 1
        verts = layer.data[i]
        if len(verts) != 2:
            return
        line = Line.from_indices(self._tp[label].geometry, verts[0], verts[1])
        self.live.emit(f"{line.length_mm:.1f} mm")

    def _on_lines_data(self, event: Any) -> None:
        if self._busy or getattr(event, "action", None) not in ("added", "changed", "removed"):
            return
        label = self._label_of(event.source)
        if label is not None:
            self._commit_lines(label)

    def _on_points_data(self, event: Any) -> None:
        if self._busy or getattr(event, "action", None) not in ("added", "changed", "removed"):
            return
        label = self._label_of(event.source)
        if label is not None:
            self._commit_points(label)

    def _claim(self) -> str:
        """Lesion that an untagged mark belongs to: the active one, else a new one."""
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        if self.active_lesion in ids:
            return self.active_lesion  # type: ignore[return-value]
        lesion = self.reading.add_lesion(**self.form)
        self.active_lesion = lesion.lesion_id
        return lesion.lesion_id

    def _commit_lines(self, label: str) -> None:
        t0 = time.perf_counter()
        tpl = self._tp[label]
        layer, geo = tpl.lines, tpl.geometry
        feats = layer.features
        data, types = layer.data, layer.shape_type  # each access rebuilds a list
        n = len(data)
        lids = [_text(v) for v in feats["lesion_id"]] if "lesion_id" in feats else [""] * n
        axes = [_text(v) for v in feats["axis"]] if "axis" in feats else [""] * n
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        keep: dict[tuple[str, str], int] = {}
        drop: list[int] = []
        retag = False
        for i in range(n):
            if types[i] != "line" or len(data[i]) != 2:
                drop.append(i)
                continue
            if lids[i] not in ids or axes[i] not in ("long", "short"):
                lids[i] = self._claim()
                axes[i] = "short" if self.active_axis == "short" else "long"
                ids.add(lids[i])
                retag = True
            key = (lids[i], axes[i])
            if key in keep:
                drop.append(keep[key])  # the newer line replaces the older one
            keep[key] = i
        if retag:
            feats = feats.copy()
            feats["lesion_id"], feats["axis"] = lids, axes
        if any(types[i] != "line" for i in drop):
            show_warning("recist: only lines measure lesions; other shapes were removed")
        for lesion in self.reading.lesions:
            f = lesion.findings.get(label)
            for axis in ("long", "short"):
                i = keep.get((lesion.lesion_id, axis))
                old = None if f is None else (f.long_axis if axis == "long" else f.short_axis)
                if i is None:
                    if old is not None:
                        self.reading.set_line(lesion.lesion_id, label, axis, None)
                    continue
                verts = data[i]
                if old is not None and np.allclose(old.indices(geo), verts, atol=1e-5):
                    continue
                line = Line.from_indices(geo, verts[0], verts[1])
                self.reading.set_line(lesion.lesion_id, label, axis, line)
        with self._quiet():
            if drop:
                layer.selected_data = set(drop)
                layer.remove_selected()
                feats = feats.drop(index=feats.index[drop]).reset_index(drop=True)
        self._relabel(label, feats)
        self._after_change(t0)

    def _relabel(self, label: str, feats: pd.DataFrame | None = None) -> None:
        """Refresh the text (id and length) shown next to each line."""
        tpl = self._tp[label]
        layer = tpl.lines
        feats = (layer.features if feats is None else feats).copy()
        texts, colors = [], []
        for i in range(len(layer.data)):
            lid, axis = _text(feats["lesion_id"].iloc[i]), _text(feats["axis"].iloc[i])
            try:
                lesion = self.reading.lesion(lid)
            except RecistError:
                texts.append(lid)
                colors.append("white")
                continue
            f = lesion.findings.get(label)
            line = None if f is None else (f.long_axis if axis == "long" else f.short_axis)
            texts.append(lid if line is None else _line_label(lid, axis, line))
            colors.append(_color(lesion.kind, axis))
        with self._quiet():
            current = layer.features
            same = len(current) == len(feats) and all(
                current[c].astype(str).tolist() == feats[c].astype(str).tolist()
                for c in ("lesion_id", "axis")
            )
            if same:  # in place: resetting the table makes napari redo every shape
                if current["label"].tolist() != texts:
                    current["label"] = texts
                    layer.refresh_text()
            else:
                feats["label"] = texts
                layer.features = feats
                layer.refresh_text()
            if len(layer.data) and self._edge_colors.get(label) != colors:
                layer.edge_color = colors
                self._edge_colors[label] = colors

    def _commit_points(self, label: str) -> None:
        t0 = time.perf_counter()
        tpl = self._tp[label]
        layer, geo = tpl.points, tpl.geometry
        feats = layer.features.copy()
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        keep: dict[str, int] = {}
        drop: list[int] = []
        for i in range(len(layer.data)):
            lid = _text(feats["lesion_id"].iloc[i]) if "lesion_id" in feats else ""
            if lid not in ids:
                lid = self._claim()
                ids.add(lid)
            if lid in keep:
                drop.append(keep[lid])
            keep[lid] = i
            feats.loc[feats.index[i], ["lesion_id", "label"]] = [lid, lid]
        for lesion in self.reading.lesions:
            f = lesion.findings.get(label)
            i = keep.get(lesion.lesion_id)
            old = None if f is None else f.marker
            if i is None:
                if old is not None:
                    self.reading.set_marker(lesion.lesion_id, label, None)
                continue
            pos = layer.data[i]
            if old is not None and np.allclose(geo.lps_to_index(old.position_lps), pos):
                continue
            self.reading.set_marker(lesion.lesion_id, label, Marker.from_index(geo, pos))
        with self._quiet():
            if drop:
                layer.selected_data = set(drop)
                layer.remove_selected()
                feats = feats.drop(index=feats.index[drop]).reset_index(drop=True)
            layer.features = feats
            layer.refresh_text()
        self._after_change(t0)

    # ------------------------------------------------------------------ reader actions

    def show_timepoint(self, label: str) -> None:
        """Make ``label`` the current time point (shown alone, or beside baseline)."""
        if label not in {tp.label for tp in self.reading.timepoints}:
            show_error(f"recist: no time point {label!r}")
            return
        self.current_tp = label
        self._apply_view()
        self.arm(self.active_axis, activate=False)
        self.changed.emit()

    def set_grid(self, on: bool) -> None:
        """Baseline and the current time point side by side (napari grid) or not."""
        self.grid = bool(on)
        self._apply_view()
        self.viewer.reset_view()  # the viewboxes changed size: fit, then re-centre
        if self.active_lesion is not None:
            self.go_to(self.active_lesion)
        self.changed.emit()

    def shown_timepoints(self) -> list[str]:
        """Time points whose layers are visible."""
        labels = [tp.label for tp in self.reading.timepoints if tp.label in self._tp]
        cur = self.current_tp if self.current_tp in labels else None
        if cur is None:
            return labels[:1]
        if self.grid and len(labels) > 1:
            base = labels[0]
            other = cur if cur != base else labels[-1]
            return [base, other]
        return [cur]

    def _apply_view(self) -> None:
        shown = self.shown_timepoints()
        layers = self.viewer.layers
        order = [tp.label for tp in self.reading.timepoints if tp.label in self._tp]
        mine = [lay for label in order for lay in self._tp[label].all]
        tp_images = [self._tp[label].image for label in order]
        with self._quiet():
            # Grid stride 3: each time point's image, lines and points share a viewbox.
            for pos, lay in enumerate(lay for lay in mine if lay in layers):
                cur = layers.index(lay)
                if cur != pos:  # cur > pos: the first pos places are done
                    layers.move(cur, pos)
            for label in order:
                for lay in self._tp[label].all:
                    _set(lay, "visible", label in shown)
            for lay in self._series_layers.values():
                if lay not in tp_images and lay in layers:
                    _set(lay, "visible", False)
            _set(self.viewer.grid, "stride", 3)
            _set(self.viewer.grid, "enabled", self.grid and len(shown) > 1)

    def add_lesion(
        self, kind: str | None = None, organ: str | None = None, nodal: bool | None = None
    ) -> str | None:
        """Add a lesion (defaults from :attr:`form`), make it active and arm drawing."""
        kind = kind or self.form["kind"]
        organ = self.form["organ"] if organ is None else organ
        nodal = self.form["nodal"] if nodal is None else nodal
        try:
            lesion = self.reading.add_lesion(kind, organ, nodal)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return None
        self.active_lesion = lesion.lesion_id
        self.arm("long")
        self._after_change()
        return lesion.lesion_id

    def update_lesion(self, lesion_id: str, **changes: Any) -> None:
        """Change a lesion's kind, organ or nodal flag."""
        try:
            self.reading.update_lesion(lesion_id, **changes)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return
        for label in self._tp:
            self._relabel(label)
        self._after_change()

    def remove_lesion(self, lesion_id: str) -> None:
        """Delete a lesion at every time point."""
        self.reading.remove_lesion(lesion_id)
        if self.active_lesion == lesion_id:
            self.active_lesion = None
        for label in self._tp:
            self._render(label)
        self._after_change()

    def select_lesion(self, lesion_id: str | None, jump: bool = True) -> None:
        """Make a lesion active; move the view to where it is (here, else at baseline)."""
        self.active_lesion = lesion_id
        if lesion_id is not None and jump:
            self.go_to(lesion_id)
        self.arm(self.active_axis, activate=False)
        self.changed.emit()

    def lesion_position(self, lesion_id: str) -> tuple[float, float, float] | None:
        """Patient position (LPS) of a lesion: at the current time point, else at
        baseline, else anywhere it was marked."""
        lesion = self.reading.lesion(lesion_id)
        order = [self.current_tp] + [tp.label for tp in self.reading.timepoints]
        for label in order:
            f = lesion.findings.get(label) if label else None
            if f is not None and f.position_lps is not None:
                return f.position_lps
        return None

    def go_to(self, lesion_id: str) -> bool:
        """Centre the view on a lesion (world = patient mm). False when not marked."""
        pos = self.lesion_position(lesion_id)
        if pos is None:
            return False
        world = np.asarray(pos, dtype=float)[::-1]
        self.viewer.dims.set_point(0, float(world[0]))
        _camera(self.viewer).center = tuple(float(v) for v in world)
        return True

    def step_lesion(self, step: int = 1) -> str | None:
        """Select the next (or previous) lesion of the current time point."""
        ids = [lesion.lesion_id for lesion in self.reading.lesions_for(self.current_tp or "")]
        if not ids:
            return None
        i = ids.index(self.active_lesion) + step if self.active_lesion in ids else 0
        self.select_lesion(ids[i % len(ids)])
        return self.active_lesion

    def arm(self, axis: str, activate: bool = True) -> None:
        """Prepare drawing ``"long"``/``"short"`` axis lines or a ``"point"`` marker
        for the active lesion on the current time point's layers."""
        self.active_axis = axis
        tpl = self._tp.get(self.current_tp or "")
        if tpl is None:
            return
        lid = self.active_lesion or ""
        tpl.lines.feature_defaults = {"lesion_id": lid, "axis": axis, "label": lid}
        tpl.points.feature_defaults = {"lesion_id": lid, "label": lid}
        if not activate:
            return
        layer = tpl.points if axis == "point" else tpl.lines
        self.viewer.layers.selection.active = layer
        layer.mode = "add" if axis == "point" else "add_line"

    def set_status(self, status: str | None, lesion_id: str | None = None) -> None:
        """Set the status of a lesion (default: the active one) at the current time point."""
        lesion_id = lesion_id or self.active_lesion
        if lesion_id is None or self.current_tp is None:
            show_warning("recist: select a lesion first")
            return
        try:
            self.reading.set_status(lesion_id, self.current_tp, status)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            return
        self._render(self.current_tp)
        self._after_change()

    def set_window(self, preset: str) -> None:
        """Apply a window preset (soft tissue, lung, liver, bone, mediastinum)."""
        limits = window_limits(*WINDOWS[preset])
        for label in self.shown_timepoints():
            self._tp[label].image.contrast_limits = limits

    def save_as(self, csv_path: str | os.PathLike) -> None:
        """Save to another file; autosave continues there."""
        self.csv_path = Path(csv_path)
        self.flush()
        try:
            self.reading.save(self.csv_path)
        except (OSError, RecistError) as exc:
            show_error(f"recist: could not save the reading to {self.csv_path}: {exc}")

    # ------------------------------------------------------------------ exports

    def dicom_folders(self) -> list[Path]:
        """Folders the reading's series were opened from (where the exports find the
        images the lines were drawn on)."""
        found = [lay.metadata.get(FOLDER_KEY, "") for lay in self._series_layers.values()]
        found.append(self.reading.study_path)
        return [Path(f) for f in dict.fromkeys(found) if f]

    def export_sr(self, outdir: str | os.PathLike) -> list[Path]:
        """Write one DICOM SR (TID 1500) per time point of the reading into ``outdir``.

        A call into :func:`recist_tool.export.sr.export_readings` with its defaults
        (no patient name or birth date copied from the images). Shows a notification
        naming the files written, or the error.

        Returns
        -------
        list of pathlib.Path
            The SR files written (empty on error or when nothing is measured).
        """
        from recist_tool.export.sr import export_readings

        return self._export(
            "DICOM SR", outdir, lambda dicom: export_readings([self.reading], dicom, outdir)
        )

    def export_patient_report(self, outdir: str | os.PathLike) -> list[Path]:
        """Write the patient report of the reading (HTML and PDF) into ``outdir``.

        A call into :mod:`recist_tool.export.patient_report`; shows a notification
        naming the files written, or the error.

        Returns
        -------
        list of pathlib.Path
            The files written (empty on error).
        """
        from recist_tool.export.patient_report import build_patient_report, write_patient_report
        from recist_tool.export.sr import ImageIndex

        def run(dicom: list[Path]) -> list[Path]:
            report = build_patient_report(self.reading, ImageIndex(dicom))
            return write_patient_report(report, outdir)

        return self._export("patient report", outdir, run)

    def _export(self, what: str, outdir: str | os.PathLike, run: Any) -> list[Path]:
        if not self.reading.patient_id:
            show_error(f"recist: no {what} written: open a study first")
            return []
        dicom = self.dicom_folders()
        if not dicom:
            show_error(f"recist: no {what} written: the folder of the study's images is not known")
            return []
        try:
            paths = run(dicom)
        except RecistError as exc:
            show_error(f"recist: no {what} written: {exc}")
            return []
        except OSError as exc:
            show_error(f"recist: no {what} written to {Path(outdir)}: {exc}")
            return []
        if not paths:
            show_warning(f"recist: no {what} written: no lesion is assessed yet")
            return []
        names = ", ".join(p.name for p in paths)
        show_info(f"recist: {what} written to {Path(outdir)}: {names}")
        return paths

    # ------------------------------------------------------------------ results

    def _after_change(self, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        self.evaluation, self.engine_error, self._messages = None, "", None
        frame = self.reading.to_frame()
        pending = self._save(frame) if self.autosave else None
        if len(frame):
            try:
                self.evaluation = evaluate_reading(self.reading, self.settings)
            except RecistError as exc:
                self.engine_error = str(exc)
            except Exception as exc:  # an engine bug must not lose the reader's work
                self.engine_error = f"the RECIST engine failed: {type(exc).__name__}: {exc}"
                show_error(f"recist: {self.engine_error}")
        self.changed.emit()
        self.last_update_s = time.perf_counter() - t0
        if pending is not None:
            # Written now that the response is shown: the writer thread would
            # otherwise compete with the engine for the GIL.
            self._saver.submit(*pending)

    def _save(self, frame: pd.DataFrame | None = None) -> tuple[Snapshot, Path] | None:
        """Save in line, or write the recovery file and return the snapshot for the
        background writer."""
        path = self.save_path
        if path is None:
            return None
        for err in self._saver.take_errors():
            show_error(f"recist: {err}")
        try:
            if not self.background_save:
                self.reading.save(path, frame)
                return None
            snapshot = self.reading.snapshot(frame)
            self._saver.write_recovery(snapshot, path)
            return snapshot, path
        except (OSError, RecistError) as exc:
            show_error(f"recist: could not save the reading to {path}: {exc}")
            return None

    def flush(self) -> None:
        """Wait until the last autosave is on disk (run on close and at exit)."""
        self._saver.flush()
        for err in self._saver.take_errors():
            show_error(f"recist: {err}")

    def messages_for(self, lesion_id: str) -> list[tuple[str, str, str]]:
        """(time point, severity, message) about a lesion: the engine's checks and the
        model's own (node axes, lines not drawn yet)."""
        if self._messages is None:
            self._messages = self._collect_messages()
        return self._messages.get(lesion_id, [])

    def _collect_messages(self) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        for lid, tp, sev, msg in self._engine_messages():
            if lid:
                out.setdefault(lid, []).append((tp, sev, msg))
        for n in self.reading.notes():
            out.setdefault(n.lesion_id, []).append((n.timepoint, n.severity, n.message))
        return out

    def _engine_messages(self) -> list[tuple[str, str, str, str]]:
        """(lesion id, time point, severity, message) from the engine."""
        ev = self.evaluation
        if ev is None or not len(ev.messages):
            return []
        m = ev.messages
        # Column lists, not itertuples: pandas row access costs ~0.5 ms a row.
        cols = [[_text(v) for v in m[c].tolist()] for c in ("lesion_id", "timepoint")]
        cols += [[_text(v) for v in m[c].tolist()] for c in ("severity", "message")]
        return list(zip(*cols, strict=True))

    def general_messages(self) -> list[tuple[str, str, str]]:
        """Engine messages not tied to a lesion (e.g. too many targets)."""
        out = [("", "error", self.engine_error)] if self.engine_error else []
        out += [(tp, sev, msg) for lid, tp, sev, msg in self._engine_messages() if not lid]
        return out

    def response_table(self) -> pd.DataFrame:
        """The engine's per time point results (the evaluation holds this patient only)."""
        if self.evaluation is None:
            return pd.DataFrame()
        return self.evaluation.timepoints

    def response_rows(self) -> list[dict[str, Any]]:
        """:meth:`response_table` as plain records (fast: column lists)."""
        table = self.response_table()
        if not len(table):
            return []
        cols = {c: table[c].tolist() for c in table.columns}
        return [{c: cols[c][i] for c in cols} for i in range(len(table))]


def _camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def _set(obj: Any, name: str, value: Any) -> None:
    """Set an attribute only when it changes (napari redraws on every assignment)."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return str(v)


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(object)


def _line_label(lesion_id: str, axis: str, line: Line) -> str:
    tag = "" if axis == "long" else " SA"
    mm = round(line.length_mm, LENGTH_DECIMALS)
    return f"{lesion_id}{tag} {mm:.{LENGTH_DECIMALS}f} mm"


def _color(kind: str, axis: str) -> str:
    return LINE_COLORS["short"] if axis == "short" else KIND_COLORS.get(kind, "yellow")
