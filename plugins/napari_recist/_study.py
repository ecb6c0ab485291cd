"""Series and time points of the reading session (mixed into ``ReadingSession``).

Picks up the CT image layers this plugin's reader makes (one per series), refuses
series of another patient, restores the patient's saved reading when the first series
is seen, and assigns each series to a time point: by StudyDate until the reader
changes it (earliest = baseline, then FU1, FU2 …), or as the reader chooses through
:meth:`StudyMixin.assign_series`, :meth:`~StudyMixin.set_timepoint_date` and
:meth:`~StudyMixin.rename_timepoint`. Every change of the study ends in
``_study_changed``, which rebuilds the time point layers and the view.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from napari.layers import Image
from napari.utils.notifications import show_error, show_warning

from napari_recist._autosave import flush_all
from napari_recist._defaults import PLUGIN
from napari_recist._layers import series_of_layer
from recist_tool.errors import RecistError
from recist_tool.reading import BASELINE_LABEL, Reading, recovery_path, sidecar_path


class StudyMixin:
    """The series and time points part of :class:`napari_recist._session.ReadingSession`."""

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
