"""The reading session: binds a :class:`recist_tool.reading.Reading` to viewer layers.

No Qt here (napari layers and psygnal only), so it runs on a bare ``ViewerModel``.
The session

* picks up the CT image layers this plugin's reader makes and assigns each series
  to a time point (by StudyDate until the reader changes it) (``_study``),
* keeps one Shapes layer (measurement lines) and one Points layer (markers) per
  time point, in the same world coordinates as that time point's CT (patient mm)
  (``_timepoint_layers``),
* commits the reader's drawing to the model on ``added``/``changed``/``removed``
  (``set_data`` only feeds the live read-out) (``_drawing``),
* after every change runs the core's RECIST engine and saves the reading
  (annotation CSV + JSON sidecar, both atomic), then emits :attr:`changed`
  (``_results``, ``_saving``).

The view and navigation are in ``_navigation``, the exports in ``_exports``; this
module holds the controller class that mixes them, its state and the lesion edits.
Every number shown is computed by the core; this module only moves data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from napari.layers import Image
from napari.utils.notifications import show_error, show_warning
from psygnal import Signal

from napari_recist._autosave import AutoSaver
from napari_recist._defaults import (
    DEFAULT_ORGANS,
    KIND_COLORS,
    LINE_COLORS,
    PLUGIN,
    READINGS_ENV,
    default_readings_dir,
)
from napari_recist._drawing import DrawingMixin
from napari_recist._exports import ExportsMixin
from napari_recist._navigation import NavigationMixin
from napari_recist._results import ResultsMixin
from napari_recist._saving import SavingMixin
from napari_recist._study import StudyMixin
from napari_recist._timepoint_layers import TimePointLayers, TimePointLayersMixin
from recist_tool.errors import RecistError
from recist_tool.reading import Reading

__all__ = [
    "DEFAULT_ORGANS",
    "KIND_COLORS",
    "LINE_COLORS",
    "PLUGIN",
    "READINGS_ENV",
    "ReadingSession",
    "TimePointLayers",
    "default_readings_dir",
]


class ReadingSession(
    StudyMixin,
    TimePointLayersMixin,
    DrawingMixin,
    NavigationMixin,
    SavingMixin,
    ResultsMixin,
    ExportsMixin,
):
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
