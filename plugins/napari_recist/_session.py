"""The reading session: a :class:`recist_tool.reading.Reading` shown in two panes.

No Qt here (napari models and psygnal only): it runs on a bare ``ViewerModel``. The
session is the composition root of small objects with explicit dependencies:

* the **series registry** (``sources``): the loaded CT series of the study by series
  UID (:class:`~napari_recist._panes.SeriesSource`, read by
  :func:`napari_recist._loading.load_study`, or taken over from image layers that
  napari's File › Open added with this plugin's reader);
* two :class:`~napari_recist._panes.Pane` objects — *current* in napari's viewer and
  *comparison* in its own :class:`napari.components.ViewerModel` (own camera, own
  layer list) — each holding only the layers of the time point it shows;
* one :class:`~napari_recist._sync.AnnotationSync` per pane (model ↔ layers; an edit
  lands in its pane's time point);
* the :class:`~napari_recist._navigation.Navigator` (slices linked by patient z,
  zoom/pan, window) and :class:`~napari_recist._pacs.PacsMouse` per pane (wheel,
  cursor values);
* :class:`~napari_recist._saving.Persistence` (autosave, audit trail),
  :class:`~napari_recist._results.Results` (the engine's output) and
  :class:`~napari_recist._exports.Exports`.

Where an edit may land is the reading's policy: the current pane's time point is in
focus (:meth:`Reading.focus`); the comparison pane is read-only unless the reader
unlocks it (:meth:`set_compare_unlocked`). Undo and redo are the reading's own.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from napari.components import ViewerModel
from napari.layers import Image
from psygnal import Signal

from napari_recist._assist import Assistant
from napari_recist._autosave import flush_all
from napari_recist._blinding import Blinding
from napari_recist._defaults import (
    DEFAULT_ORGANS,
    KIND_COLORS,
    LINE_COLORS,
    PLUGIN,
    READINGS_ENV,
    default_readings_dir,
)
from napari_recist._exports import Exports
from napari_recist._layers import (
    AXIS_LABELS,
    FOLDER_KEY,
    SERIES_KEY,
    UNITS,
    WINDOWS,
    series_of_layer,
)
from napari_recist._loading import LoadedStudy, load_study
from napari_recist._navigation import Navigator
from napari_recist._pacs import PacsMouse
from napari_recist._panes import Pane, PaneLayers, SeriesSource
from napari_recist._results import Results
from napari_recist._saving import Persistence
from napari_recist._settings import ViewSettings
from napari_recist._signing import SignGuard
from napari_recist._sync import AnnotationSync, axis_tag, parse_tag
from recist_tool.dicom.stream import StreamedArray
from recist_tool.errors import RecistError
from recist_tool.reading import (
    Reading,
    SeriesInfo,
    Step,
    TimePointLockedError,
    recovery_path,
    sidecar_path,
)
from recist_tool.reading.history import finding_mm
from recist_tool.reading.policy import kind_first_seen

__all__ = [
    "DEFAULT_ORGANS",
    "KIND_COLORS",
    "LINE_COLORS",
    "PLUGIN",
    "READINGS_ENV",
    "PaneLayers",
    "ReadingSession",
    "default_reader",
    "default_readings_dir",
]

#: Environment variable naming the reader (skips the question in the widget).
READER_ENV = "RECIST_READER"


def default_reader() -> str:
    """``$RECIST_READER``, else the OS user name."""
    env = os.environ.get(READER_ENV, "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


class ReadingSession:
    """A reader's session on one patient (see the module).

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
        napari's viewer: the *current* pane.
    readings_dir : path-like, optional
        Default folder of readings (``<readings_dir>/<patient_id>.csv``).
    settings : recist_tool.response.ResponseSettings, optional
    view : ViewSettings, optional
        Mouse, keyboard and display conventions (default ``ViewSettings.from_env()``).
    reader : str, optional
        Who reads (audit trail, ``reader`` column); default :func:`default_reader`.
    defer : callable, optional
        ``defer(fn)`` runs ``fn`` soon, outside the current napari event (the Qt widget
        passes a zero-delay timer). Without one, deferred work waits for :meth:`settle`.
    """

    #: After every change of the reading (evaluated and saved) or of the view.
    changed = Signal()
    #: The live length while a line is drawn or dragged.
    live = Signal(str)
    #: ``(severity, text)``: something the reader must read (refused edit, errors).
    notice = Signal(str, str)

    def __init__(
        self,
        viewer: Any,
        readings_dir: str | os.PathLike | None = None,
        settings: Any = None,
        view: ViewSettings | None = None,
        reader: str | None = None,
        defer: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.viewer = viewer
        self.view = view or ViewSettings.from_env()
        self.reading = Reading()
        self.reader = default_reader() if reader is None else reader
        self.sources: dict[str, SeriesSource] = {}
        self.current_tp: str | None = None
        self.compare_tp: str | None = None
        self.compare_on = False
        self.compare_unlocked = False
        self.active_pane = "current"
        self.active_lesion: str | None = None
        self.active_axis = "long"
        self.form: dict[str, Any] = {"kind": "target", "organ": DEFAULT_ORGANS[0], "nodal": False}
        self.last_update_s = 0.0
        self.notices: list[tuple[str, str]] = []
        self._busy = 0
        self._pending: list[Callable[[], None]] = []
        self._defer_fn = defer
        self._shown_series: dict[str, str] = {}
        self._flags: dict[tuple[str, str], str] = {}
        self._contrast_hooks: list[tuple[Any, Callable]] = []
        self._hooks: list[tuple[Any, Callable]] = []
        self.closed = False
        #: ``when_drawn(fn)`` runs ``fn`` once the canvas has drawn what was just put
        #: on it (the Qt widget: after the next paint); here: at once.
        self.when_drawn: Callable[[Callable[[], None]], None] = lambda fn: fn()
        #: ``on_stream_failed(series title, message)`` from the thread that read the
        #: pixels, when a series' pixels could not be read after its headers were
        #: (the Qt widget hands it to the GUI thread); here: nothing.
        self.on_stream_failed: Callable[[str, str], None] | None = None
        self._streaming: weakref.WeakSet[StreamedArray] = weakref.WeakSet()  # started
        self.nav = Navigator(self.view)
        #: Blinded reading in a cohort: only this reader's files (see ``_blinding``).
        self.blinding = Blinding(lambda: self.reader)
        self.persist = Persistence(
            readings_dir if readings_dir else default_readings_dir(),
            self.reader,
            guard=self.blinding.check,
        )
        self.results = Results(settings)
        self.exports = Exports(
            lambda: self.reading, self.dicom_folders, lambda sev, t: self._notify(sev, t)
        )
        #: Sign-off: signed time points locked, changes there need a reason.
        self.signing = SignGuard(lambda: self.reader)
        self.panes: dict[str, Pane] = {}
        self.syncs: dict[str, AnnotationSync] = {}
        self.mice: dict[str, PacsMouse] = {}
        #: Measurement assistance (Alt+click proposals, follow-up registration).
        self.assist = Assistant(self)
        self.changed.connect(self.assist.view_changed)
        self._add_pane(Pane("current", viewer, self.view, self._quiet))
        self.panes["current"].prepare()
        self.compare_viewer: ViewerModel | None = None
        self.persist.bind(self.reading)
        viewer.layers.events.inserted.connect(self._on_inserted, position="last")
        viewer.layers.events.removed.connect(self._on_removed, position="last")
        taken = [layer for layer in list(viewer.layers) if self._take_over(layer)]
        if taken:
            self._drop_layers(taken)
            self._study_changed(opened=True)

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """The session's own layer insertions/removals (not the reader's)."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    def _defer(self, fn: Callable[[], None]) -> None:
        if self.closed or fn in self._pending:
            return
        self._pending.append(fn)
        if self._defer_fn is not None:
            self._defer_fn(self.settle)

    def settle(self) -> None:
        """Run work deferred out of napari's layer events (the widget's timer does this
        by itself; without an event loop, call it after adding layers to the viewer)."""
        while self._pending and not self.closed:
            fn = self._pending.pop(0)
            fn()

    def _notify(self, severity: str, text: str) -> None:
        self.notices.append((severity, text))
        del self.notices[:-50]
        self.notice.emit(severity, text)

    def _add_pane(self, pane: Pane) -> None:
        self.panes[pane.name] = pane
        self.nav.add_pane(pane)
        self.mice[pane.name] = PacsMouse(pane, self.nav, self._activate)
        sync = AnnotationSync(
            pane,
            reading=lambda: self.reading,
            claim=self._claim,
            active_axis=lambda: self.active_axis,
            flags=self._flag,
            changed=self._after_change,
            refused=lambda msg: self._notify("error", msg),
        )
        sync.on_live = self.live.emit
        sync.on_hint = lambda msg: self._notify("info", msg)
        sync.guard = self.signing.run
        sync.after_lines = self._after_lines
        self.syncs[pane.name] = sync
        self.assist.add_pane(pane)
        self._hook(pane.viewer.dims.events.point, lambda e, p=pane: self._on_slice(p))
        self._hook(pane.viewer.scene.camera.events.zoom, lambda e, s=sync: s.place_labels())

    def _hook(self, emitter: Any, callback: Callable) -> None:
        emitter.connect(callback)
        self._hooks.append((emitter, callback))

    def close(self) -> None:
        """Finish saving and disconnect from the viewers (the layers stay)."""
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        self.flush()
        for emitter, callback in self._hooks + self._contrast_hooks + self.nav.hooks:
            with contextlib.suppress(Exception):
                emitter.disconnect(callback)
        with contextlib.suppress(Exception):
            self.viewer.layers.events.inserted.disconnect(self._on_inserted)
            self.viewer.layers.events.removed.disconnect(self._on_removed)
        for mouse in self.mice.values():
            with contextlib.suppress(Exception):
                mouse.close()
        for sync in self.syncs.values():
            with contextlib.suppress(Exception):
                sync.disconnect()
        with contextlib.suppress(Exception):
            self.assist.close()

    # ------------------------------------------------------------------ the comparison pane

    def comparison_viewer(self) -> ViewerModel:
        """The comparison pane's own viewer model (made on first use)."""
        if self.compare_viewer is None:
            self.compare_viewer = ViewerModel(title="RECIST comparison")
            self._add_pane(Pane("comparison", self.compare_viewer, self.view, self._quiet))
            self.panes["comparison"].prepare()
        return self.compare_viewer

    # ------------------------------------------------------------------ series and study

    def open_study(
        self,
        folder: str | os.PathLike,
        options: dict[str, dict[str, Any]] | None = None,
        only: set[str] | None = None,
    ) -> LoadedStudy:
        """Read a DICOM folder (or the series ``only``, loaded with the reader's
        ``options``) and add its series to the reading.

        Returns the :class:`~napari_recist._loading.LoadedStudy`: its ``problems`` are
        the series that were not read, with the loader's choices (the widget shows
        them); nothing is added for a series of another patient.
        """
        loaded = load_study(folder, options=options, only=only)
        for note in loaded.notes:
            self._notify("warning", note)
        self.open_layers(loaded.layers)
        return loaded

    def open_layers(self, layer_data: list[tuple]) -> list[str]:
        """Add image layer data (as this plugin's reader makes it) to the reading;
        returns the series UIDs added."""
        first = not self.reading.patient_id
        added = [uid for data, kwargs, _ in layer_data if (uid := self._adopt(data, kwargs))]
        if added:
            self._study_changed(opened=first, image_first=True)
            self._read_pixels([self.sources[uid] for uid in added])
        return added

    def _read_pixels(self, sources: list[SeriesSource]) -> None:
        """Start reading the pixels of series opened streaming (their headers read,
        any slice shown read from its file: :mod:`recist_tool.dicom.stream`), once the
        canvas has drawn the study — the reading thread would hold up the first draw
        (it shares the GIL)."""
        streams = [
            (s, s.data)
            for s in sources
            if isinstance(s.data, StreamedArray) and s.data not in self._streaming
        ]
        if not streams:
            return
        self._streaming.update(arr for _, arr in streams)
        for source, arr in streams:
            title = source.kwargs.get("name") or source.info.series_uid

            def done(a: StreamedArray, title: str = title) -> None:
                try:
                    a.result()
                except Exception as exc:  # what the loader raised, named as it names it
                    if self.on_stream_failed is not None:
                        self.on_stream_failed(str(title), str(exc))

            arr.add_done_callback(done)
        self._when_drawn(lambda: [arr.start() for _, arr in streams])

    def stream_failed(self, title: str, message: str) -> None:
        """Tell the reader that a series' pixels could not be read after its headers
        were (called in the GUI thread: :attr:`on_stream_failed` hands it there)."""
        self._notify(
            "error",
            f"{title}: its pixels could not be read in full — {message}. The slices "
            "shown are read one at a time from the files; measurement assistance "
            "and exports that need the whole series fail until it is opened again.",
        )

    def _when_drawn(self, fn: Callable[[], None]) -> None:
        """:attr:`when_drawn`, skipped when the session closed meanwhile."""
        self.when_drawn(lambda: None if self.closed else fn())

    def _adopt(self, data: Any, kwargs: dict[str, Any]) -> str | None:
        """Register a series (layer data of this plugin's reader); its UID when new.

        A series of another patient is refused (and said so)."""
        meta = kwargs.get("metadata") or {}
        raw = meta.get(SERIES_KEY)
        info = SeriesInfo.from_dict(raw) if isinstance(raw, dict) else None
        if info is None or info.geometry is None or info.series_uid in self.sources:
            return None
        patient = str((meta.get("dicom") or {}).get("patient_id") or "")
        if self.reading.patient_id and patient and patient != self.reading.patient_id:
            self._notify(
                "error",
                f"Series {info.description!r} ({info.study_date}) was not added: it belongs "
                f"to patient {patient}, and this reading is of patient "
                f"{self.reading.patient_id}. Open it in another napari window.",
            )
            return None
        if not self.reading.patient_id and patient:
            self.reading.patient_id = patient
            self._restore_saved()
        if not self.reading.study_path:
            self.reading.study_path = str(meta.get(FOLDER_KEY, ""))
        self.sources[info.series_uid] = SeriesSource(data, dict(kwargs), info)
        self.reading.add_series(SeriesInfo.from_dict(info.to_dict()))
        return info.series_uid

    def _take_over(self, layer: Any) -> bool:
        """An image layer of this plugin's reader in napari's viewer (File › Open):
        its series joins the reading (the layer itself leaves the viewer: the pane
        shows the series). True when the layer should leave the viewer."""
        if not isinstance(layer, Image) or series_of_layer(layer) is None:
            return False
        kwargs = {
            "name": layer.name,
            "scale": tuple(layer.scale),
            "translate": tuple(layer.translate),
            "affine": layer.affine.affine_matrix,
            "contrast_limits": tuple(layer.contrast_limits),
            "colormap": "gray",
            "units": UNITS,
            "axis_labels": AXIS_LABELS,
            "metadata": dict(layer.metadata),
        }
        self._adopt(layer.data, kwargs)
        return True

    def _on_inserted(self, event: Any) -> None:
        if self._busy:
            return
        layer = event.value
        if self._take_over(layer):
            # out of the viewer (and the study updated) once napari is done inserting
            self._defer(lambda lay=layer: self._drop_layers([lay]))
            self._defer(self._study_changed_later)

    def _drop_layers(self, layers: list[Any]) -> None:
        with self._quiet():
            for layer in layers:
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)

    def _study_changed_later(self) -> None:
        self._study_changed(opened=not any(le.findings for le in self.reading.lesions))
        self._read_pixels(list(self.sources.values()))  # File › Open: this plugin's reader

    def _on_removed(self, event: Any) -> None:
        if self._busy:
            return
        layer = event.value
        pane = self.panes["current"]
        if pane.owns(layer):  # the reader deleted one of the pane's layers: rebuild
            self.syncs["current"].disconnect()
            pane.forget()
            self._defer(self._show_panes)

    def _restore_saved(self) -> None:
        """Continue this patient's saved reading when it exists (first series seen)."""
        path = self.save_path
        if path is None or self.reading.lesions:
            return
        if any(p.exists() for p in (path, sidecar_path(path), recovery_path(path))):
            self.load(path, refresh=False)

    def load(self, csv_path: str | os.PathLike, refresh: bool = True) -> None:
        """Continue a saved reading (CSV + sidecar); later saves go to that file."""
        refused = self.blinding.check(csv_path)
        if refused:
            self._notify("error", refused)
            return
        flush_all()  # another viewer's session may still be writing this file
        try:
            loaded = Reading.load(csv_path)
        except RecistError as exc:
            self.persist.unreadable[Path(csv_path)] = (
                f"{Path(csv_path).name} (or its sidecar) could not be read, so it is not "
                "written over; repair it or use Save as…"
            )
            self._notify("error", str(exc))
            return
        self.persist.unreadable.pop(Path(csv_path), None)
        for note in loaded.load_notes:
            self._notify("warning", note)
        for source in self.sources.values():
            info = SeriesInfo.from_dict(source.info.to_dict())
            info.timepoint = None
            loaded.add_series(info)
        if not loaded.patient_id:
            loaded.patient_id = self.reading.patient_id
        self.reading = loaded
        self.persist.csv_path = Path(csv_path)
        self.persist.bind(loaded)
        self.current_tp = None
        self.active_lesion = None
        if refresh:
            self._study_changed(opened=True)

    def start_patient(
        self,
        reading: Reading,
        csv_path: str | os.PathLike,
        layer_data: list[tuple],
        assign: dict[str, str] | None = None,
    ) -> list[str]:
        """Read another patient in this window: the last reading is saved first, then
        ``reading`` (saved to ``csv_path``) is shown with the series of ``layer_data``,
        each assigned to its time point in ``assign`` (series UID -> label; others by
        date). Returns the series UIDs added."""
        self.flush()
        self.sources = {}
        self._shown_series = {}
        self._flags = {}
        self.current_tp = self.compare_tp = None
        self.active_lesion = None
        self.compare_unlocked = False
        self.active_pane = "current"
        self._show_panes()  # empty panes
        if not reading.reader and self.reader:
            reading.reader = self.reader
        self.reading = reading
        self.persist.csv_path = Path(csv_path)
        self.persist.bind(reading)
        added = [uid for data, kwargs, _ in layer_data if (uid := self._adopt(data, kwargs))]
        labels = {tp.label for tp in reading.timepoints}
        for uid, label in (assign or {}).items():
            info = reading.series.get(uid)
            if info is not None and label in labels and info.timepoint != label:
                with contextlib.suppress(RecistError):
                    reading.assign_series(uid, label)
        self._study_changed(opened=True)
        return added

    def _study_changed(self, opened: bool = False, image_first: bool = False) -> None:
        """Series or time points changed: assign by date, choose what the panes show.

        ``image_first`` (a study opened): the autosave, the engine and the panels
        follow once the canvas has drawn the image (:attr:`when_drawn`), so that the
        reader sees the image a frame earlier; the reading itself is complete now."""
        r = self.reading
        if r.series:
            with contextlib.suppress(RecistError):
                r.assign_by_date()
        if opened:
            if not r.reader and self.reader:
                r.set_reader(self.reader)
            r.clear_history()  # a freshly opened reading has nothing to undo
            self.current_tp = r.opening_timepoint()
        labels = [tp.label for tp in r.timepoints]
        if self.current_tp not in labels:
            self.current_tp = r.opening_timepoint()
        self._choose_compare()
        self._show_panes()
        if image_first:
            self._when_drawn(self._after_change)
        else:
            self._after_change()

    def _choose_compare(self) -> None:
        labels = [tp.label for tp in self.reading.timepoints if self._display(tp.label)]
        if self.compare_tp in labels and self.compare_tp != self.current_tp:
            return
        others = [x for x in labels if x != self.current_tp]
        if not others:
            self.compare_tp = None
            return
        base = labels[0]
        self.compare_tp = base if base != self.current_tp else others[0]

    def _display(self, label: str | None) -> SeriesSource | None:
        """The series shown for a time point (the reader's choice first)."""
        if label is None:
            return None
        infos = self.reading.series_of(label)
        chosen = self._shown_series.get(label)
        infos.sort(key=lambda i: i.series_uid != chosen)
        for info in infos:
            source = self.sources.get(info.series_uid)
            if source is not None:
                return source
        return None

    # ------------------------------------------------------------------ the panes

    def _show_panes(self) -> None:
        """Put each pane's time point on it (rebuilding only what changed)."""
        want = {"current": self.current_tp}
        if self.compare_on and self.compare_tp is not None:
            self.comparison_viewer()
            want["comparison"] = self.compare_tp
        elif "comparison" in self.panes:
            want["comparison"] = None
        for name, label in want.items():
            pane = self.panes[name]
            source = self._display(label)
            pl = pane.layers
            if pl is not None and pl.timepoint == label and pl.source is source:
                continue
            z = self.nav.z(pane) if pl is not None else None
            self._unhook_contrast(pane)
            self.syncs[name].disconnect()
            if label is None or source is None:
                pane.clear()
                continue
            pane.show(label, source, reveal=False)  # shown once on its slice, below
            self.syncs[name].connect()
            self.syncs[name].render()
            self.nav.apply_window(pane)
            self._hook_contrast(pane)
            self.nav.fit(pane)
            with self.nav.unlinked():
                zs = pane.layers.slice_positions()  # type: ignore[union-attr]
                inside = z is not None and zs.min() - 1e-6 <= z <= zs.max() + 1e-6
                pane.viewer.dims.set_point(0, z if inside else float(zs[len(zs) // 2]))
            pane.reveal()
        if "comparison" in want and want["comparison"] is not None:
            cur, cmp_ = self.panes["current"], self.panes["comparison"]
            if cur.layers is not None and cmp_.layers is not None:
                self.nav._on_point(cur)  # the comparison follows the current position
        self.reading.focus(self.current_tp)
        labels = {tp.label for tp in self.reading.timepoints}
        if self.compare_unlocked and self.compare_tp in labels:
            self.reading.unlock(self.compare_tp)
        self._apply_states()
        self.arm(self.active_axis, activate=False)

    def _hook_contrast(self, pane: Pane) -> None:
        pl = pane.layers
        if pl is None:
            return

        def on_contrast(event: Any = None, p: Pane = pane) -> None:
            self.nav.on_contrast(p)

        pl.image.events.contrast_limits.connect(on_contrast)
        self._contrast_hooks.append((pl.image, on_contrast))

    def _unhook_contrast(self, pane: Pane) -> None:
        pl = pane.layers
        if pl is None:
            return
        keep = []
        for image, cb in self._contrast_hooks:
            if image is pl.image:
                image.events.contrast_limits.disconnect(cb)
            else:
                keep.append((image, cb))
        self._contrast_hooks = keep

    def _apply_states(self) -> None:
        for name, pane in self.panes.items():
            if name == "current":
                state = "editing"
            else:
                state = "unlocked" if self.compare_unlocked else "read-only"
            pane.set_state(state, active=self.active_pane == name)
            self._update_title(pane)

    def _update_title(self, pane: Pane) -> None:
        pl = pane.layers
        if pl is None:
            return
        try:
            date = self.reading.timepoint(pl.timepoint).date
        except RecistError:
            date = ""
        k = self.nav.slice_index(pane)
        n = pl.image.data.shape[0]
        state = {
            "editing": "editing",
            "read-only": "read-only",
            "unlocked": "UNLOCKED: edits land here",
        }[pane.state]
        z = self.nav.z(pane)
        text = f"{pl.timepoint} · {date} · {state}\nslice {(k or 0) + 1}/{n} · S {z:.1f} mm"
        if pane.title.text != text:
            pane.title.text = text

    def _on_slice(self, pane: Pane) -> None:
        self._update_title(pane)
        if pane.cursor_text.visible and pane.layers is not None:
            pos = list(pane.viewer.cursor.position)
            if len(pos) >= 3:
                pos[-3] = self.nav.z(pane)
                self.mice[pane.name].show_cursor(pos)

    def _activate(self, pane: Pane) -> None:
        if self.active_pane != pane.name:
            self.active_pane = pane.name
            self._apply_states()
            self.changed.emit()

    def layers_of(self, label: str) -> PaneLayers | None:
        """The layers of a time point (None when no pane shows it)."""
        for pane in self.panes.values():
            if pane.layers is not None and pane.timepoint == label:
                return pane.layers
        return None

    def pane_of(self, label: str) -> Pane | None:
        """The pane showing ``label`` (None when none)."""
        for pane in self.panes.values():
            if pane.layers is not None and pane.timepoint == label:
                return pane
        return None

    def shown_timepoints(self) -> list[str]:
        """Time points on screen: the current one, then the comparison."""
        return [p.timepoint for p in self.panes.values() if p.timepoint is not None]

    # ------------------------------------------------------------------ view changes

    def show_timepoint(self, label: str) -> None:
        """Make ``label`` the current time point: shown in napari's viewer, edits go
        there. When it was the comparison, the two swap."""
        labels = [tp.label for tp in self.reading.timepoints]
        if label not in labels:
            self._notify("error", f"no time point {label!r}")
            return
        if label == self.compare_tp:
            self.compare_tp = self.current_tp
        self.current_tp = label
        self.compare_unlocked = False
        self.active_pane = "current"
        self._choose_compare()
        self._show_panes()
        active = self.active_lesion
        if active is not None and active in {le.lesion_id for le in self.reading.lesions}:
            # the lesion stays selected: show it at this time point too (at follow-up,
            # where the registration puts it when it is not measured there yet)
            self.select_lesion(active)
            return
        self.changed.emit()

    def set_compare(self, on: bool) -> None:
        """Show the comparison pane (another time point, own camera) or not."""
        self.compare_on = bool(on)
        if not on:
            self.compare_unlocked = False
            self.active_pane = "current"
        self._choose_compare()
        self._show_panes()
        self.changed.emit()

    def set_compare_timepoint(self, label: str) -> None:
        """The time point of the comparison pane (not the current one)."""
        if label == self.current_tp or label not in {tp.label for tp in self.reading.timepoints}:
            self._notify("error", f"the comparison pane cannot show {label!r}")
            return
        self.compare_tp = label
        self.compare_unlocked = False
        self._show_panes()
        self.changed.emit()

    def set_compare_unlocked(self, on: bool) -> None:
        """Let edits land in the comparison pane's time point (explicit, audited)."""
        self.compare_unlocked = bool(on) and self.compare_tp is not None
        if self.compare_tp is not None:
            if self.compare_unlocked:
                self.reading.unlock(self.compare_tp)
            else:
                self.reading.relock(self.compare_tp)
        self._apply_states()
        self.arm(self.active_axis, activate=False)
        self.changed.emit()

    def show_series(self, series_uid: str) -> None:
        """Show this series for its time point (a time point may hold several, e.g.
        chest and abdomen); its lines are drawn on it from now on."""
        info = self.reading.series.get(series_uid)
        if info is None or info.timepoint is None:
            return
        self._shown_series[info.timepoint] = series_uid
        if info.timepoint != self.current_tp and info.timepoint != self.compare_tp:
            self.current_tp = info.timepoint
        self._show_panes()
        self.changed.emit()

    def displayed_series(self, label: str) -> str | None:
        """UID of the series shown for a time point."""
        source = self._display(label)
        return None if source is None else source.info.series_uid

    def _edit_pane(self) -> Pane:
        """The pane where the next drawing goes: the active pane when it is editable,
        else the current one."""
        pane = self.panes.get(self.active_pane)
        if pane is None or pane.layers is None or pane.state == "read-only":
            return self.panes["current"]
        return pane

    def arm(self, axis: str, activate: bool = True) -> None:
        """Prepare drawing ``"long"``/``"short"`` axis lines or a ``"point"`` marker for
        the active lesion (in the pane edits go to); ``"long:b"``: the long axis of
        part ``b`` of a lesion that split (:meth:`arm_part`)."""
        self.active_axis = axis
        lid = self.active_lesion or ""
        for pane in self.panes.values():
            pl = pane.layers
            if pl is None:
                continue
            line_axis = axis if parse_tag(axis) is not None else "long"
            pl.lines.feature_defaults = {"lesion_id": lid, "axis": line_axis}
            pl.points.feature_defaults = {"lesion_id": lid}
        pane = self._edit_pane()
        pl = pane.layers
        if pl is not None and axis == "point":
            pane.show_layer(pl.points)  # hidden while a time point has no marker
        if not activate or pl is None:
            return
        layer = pl.points if axis == "point" else pl.lines
        pane.viewer.layers.selection.active = layer
        layer.mode = "add" if axis == "point" else "add_line"

    def arm_part(self) -> str | None:
        """The selected target split: arm drawing another part's axis (the long axis;
        a node's short axis) at the time point edits go to. Its diameter adds up with
        the others' (RECIST 1.1). Returns the part's label (None: refused, and why)."""
        lid, label = self.active_lesion, self._edit_pane().timepoint
        ids = {le.lesion_id for le in self.reading.lesions}
        if lid not in ids or label is None:
            self._notify("warning", "select the target that split first")
            return None
        lesion = self.reading.lesion(lid)
        axis = "short" if lesion.nodal else "long"
        f = lesion.findings.get(label)
        if lesion.kind != "target":
            self._notify("warning", f"{lid} is not a target: only targets are measured")
            return None
        if f is None or (f.short_mm if lesion.nodal else f.long_mm) is None:
            self._notify(
                "warning", f"measure {lid} at {label} first: then add the parts it split into"
            )
            return None
        part = f.next_part()
        self.arm(axis_tag(axis, part))
        self._notify(
            "info",
            f"{lid} split at {label}: draw the {axis} axis of part {part} (the parts' "
            f"diameters add up; Alt+A draws part {f.fragment or 'a'} again)",
        )
        return part

    def _after_lines(self, reading: Reading, pl: PaneLayers, lesion_ids: list[str]) -> None:
        """Inside a drawing's operation: the hand-drawn findings' ``mean_hu``; a part
        just drawn ends the part's drawing (after the gesture, :meth:`_part_drawn`)."""
        self.assist.fill_mean_hu(reading, pl, lesion_ids)
        tag = parse_tag(self.active_axis)
        if tag is not None and tag[1] and self.active_lesion in lesion_ids:
            f = reading.lesion(self.active_lesion).findings.get(pl.timepoint or "")
            if f is not None and tag[1] in {fr.label for fr in f.fragments}:
                self._defer(self._part_drawn)

    def _part_drawn(self) -> None:
        """*Add part* draws one part: once drawn, a drag of an end edits it (direct
        mode, its ends shown as handles), as after Enter. Left armed, the next drag
        (meant to adjust an end, or to pan) drew that part again, over the one drawn."""
        tag = parse_tag(self.active_axis)
        pl = self._edit_pane().layers
        if tag is None or not tag[1] or pl is None:
            return
        lid, part = self.active_lesion, tag[1]
        self.active_axis = tag[0]
        self.arm(self.active_axis, activate=False)
        pl.lines.mode = "direct"
        self.show_handles()
        self._notify(
            "info",
            f"{lid}{part} drawn: drag an end to adjust it; Add part (Shift+Alt+A) for another part",
        )

    def select_lesion(self, lesion_id: str | None, jump: bool = True) -> None:
        """Make a lesion active; show where it is in each pane."""
        if lesion_id != self.active_lesion:
            if ":" in self.active_axis:
                self.active_axis = "long"  # a part belongs to the lesion that split
            self.assist.selection_moving(lesion_id)  # another lesion's proposal goes
        self.active_lesion = lesion_id
        if self.assist.has_pending:
            self.assist.describe()  # "Proposal for <the selected lesion>"
        if lesion_id is not None and jump:
            self.go_to(lesion_id)
            self.assist.lesion_selected(lesion_id)  # follow-up: the registered position
        self.arm(self.active_axis, activate=False)
        if lesion_id is not None and jump:
            self._edit_lines_of(lesion_id)
        self.show_handles()
        self.changed.emit()

    def _edit_lines_of(self, lesion_id: str) -> None:
        """A lesion with lines where edits go, selected while the lines layer pans (a
        study just opened): direct mode, so that a drag of an end edits it, as the
        status says ("drag an end point to edit it") and as after Enter. A drag there
        panned the image instead. Drawing modes (a line or marker armed) stay."""
        pane = self._edit_pane()
        pl = pane.layers
        ids = {le.lesion_id for le in self.reading.lesions}
        if pl is None or lesion_id not in ids or pl.lines.mode != "pan_zoom":
            return
        f = self.reading.lesion(lesion_id).findings.get(pl.timepoint or "")
        if f is None or (f.long_axis is None and f.short_axis is None):
            return
        pane.viewer.layers.selection.active = pl.lines
        pl.lines.mode = "direct"

    def show_handles(self) -> None:
        """In napari's direct-select mode (where a drag moves a line's end), select the
        active lesion's lines in the pane edits go to: napari shows their ends as
        handles and a press on an end drags it at once. Unselected, the first press
        only selected the line and the reader had to press again, unlike on a PACS
        workstation."""
        pl = self._edit_pane().layers
        if pl is None or pl.lines.mode != "direct":
            return
        lines, lid = pl.lines, self.active_lesion
        ids = [str(x) for x in lines.features["lesion_id"]] if lid is not None else []
        want = {i for i, x in enumerate(ids) if x == lid and i < len(lines.data)}
        if set(lines.selected_data) != want:
            with self._quiet():
                lines.selected_data = want

    def lesion_position(self, lesion_id: str, label: str | None = None) -> tuple | None:
        """Patient position (LPS) of a lesion: at ``label`` (default current), else at
        baseline, else anywhere it was marked."""
        lesion = self.reading.lesion(lesion_id)
        order = [label or self.current_tp] + [tp.label for tp in self.reading.timepoints]
        for tp in order:
            f = lesion.findings.get(tp) if tp else None
            if f is not None and f.position_lps is not None:
                return f.position_lps
        return None

    def go_to(self, lesion_id: str) -> bool:
        """Centre each pane on the lesion (at its own time point when marked there).
        False when the lesion is not marked anywhere."""
        found = False
        for pane in self.panes.values():
            if pane.layers is None:
                continue
            pos = self.lesion_position(lesion_id, pane.timepoint)
            if pos is not None:
                self.nav.center_on(pane, pos)
                self._update_title(pane)
                found = True
        return found

    def step_lesion(self, step: int = 1) -> str | None:
        """Select the next (or previous) lesion of the current time point."""
        ids = [lesion.lesion_id for lesion in self.reading.lesions_for(self.current_tp or "")]
        if not ids:
            return None
        i = ids.index(self.active_lesion) + step if self.active_lesion in ids else 0
        self.select_lesion(ids[i % len(ids)])
        return self.active_lesion

    def next_to_assess(self) -> str | None:
        """Select the next lesion, after the active one (wrapping), that the current
        time point still needs (:meth:`recist_tool.reading.Reading.still_to_assess`),
        and go to it; None (and a notice) when every lesion is assessed there."""
        label = self.current_tp
        if label is None:
            return None
        left = set(self.reading.still_to_assess(label))
        if not left:
            self._notify("info", f"every lesion is assessed at {label}")
            return None
        ids = [lesion.lesion_id for lesion in self.reading.lesions_for(label)]
        start = ids.index(self.active_lesion) + 1 if self.active_lesion in ids else 0
        lid = next(i for i in ids[start:] + ids[:start] if i in left)
        self.select_lesion(lid)
        return lid

    def active(self) -> Pane:
        """The pane the reader works in (last clicked)."""
        pane = self.panes.get(self.active_pane)
        return pane if pane is not None and pane.layers is not None else self.panes["current"]

    def step_slice(self, n: int) -> None:
        """Page ``n`` slices in the active pane (the other follows when linked)."""
        self.nav.step_slice(self.active(), n)

    def zoom(self, factor: float) -> None:
        """Zoom the active pane about its centre."""
        self.nav.zoom(self.active(), factor)

    def fit(self) -> None:
        """Fit every pane to its whole image."""
        for pane in self.panes.values():
            self.nav.fit(pane)

    def set_window(self, preset: str) -> None:
        """Window preset for both panes (kept when switching time point)."""
        if preset not in WINDOWS:
            self._notify("error", f"no window preset {preset!r}")
            return
        self.nav.preset(preset)
        self.changed.emit()

    def drag_window(self, dx_px: float, dy_px: float) -> tuple[float, float]:
        """Right-drag window/level by (dx, dy) screen pixels."""
        return self.nav.drag_window(dx_px, dy_px)

    # ------------------------------------------------------------------ edits

    def claimant(self) -> str | None:
        """The lesion an untagged mark belongs to: the active one (None: a new one)."""
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        return self.active_lesion if self.active_lesion in ids else None

    def _claim(self, timepoint: str | None = None) -> str:
        """The lesion an untagged mark at ``timepoint`` belongs to: the active one,
        else a new one."""
        return self.claimant() or self._new_lesion(timepoint)

    def _new_lesion(self, timepoint: str | None = None) -> str:
        """A new lesion of the form's organ and nodal flag, made active; its kind is
        the form's as it may be first recorded at ``timepoint`` (default: the pane
        edits go to): new at a follow-up, never new at baseline (the comparison pane
        unlocked on baseline while a follow-up is current made "new" lesions with a
        baseline finding)."""
        tp = timepoint if timepoint is not None else self._edit_pane().timepoint
        kind = kind_first_seen(self.reading, tp, self.form["kind"])
        lesion = self.reading.add_lesion(**{**self.form, "kind": kind})
        self.active_lesion = lesion.lesion_id
        return lesion.lesion_id

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one edit of the reading; show why when it is refused."""
        t0 = time.perf_counter()
        try:
            result = self.signing.run(lambda: fn(*args, **kwargs), fn.__name__)
        except RecistError as exc:
            self._notify("error", str(exc))
            return None
        self._render()
        self._after_change(t0)
        return result if result is not None else True

    def _render(self) -> None:
        for name, sync in self.syncs.items():
            if self.panes[name].layers is not None:
                sync.render()

    def set_reader(self, name: str) -> None:
        """Who reads: written to the ``reader`` column and every audit line."""
        self.reader = str(name).strip()
        self.persist.set_reader(self.reader)
        if self.reading.reader != self.reader and self.reading.patient_id:
            self._apply(self.reading.set_reader, self.reader)

    def add_lesion(
        self, kind: str | None = None, organ: str | None = None, nodal: bool | None = None
    ) -> str | None:
        """Add a lesion (defaults from :attr:`form`), make it active and arm drawing."""
        kind = kind or kind_first_seen(self.reading, self._edit_pane().timepoint, self.form["kind"])
        organ = self.form["organ"] if organ is None else organ
        nodal = self.form["nodal"] if nodal is None else nodal
        lesion = self._apply(self.reading.add_lesion, kind, organ, nodal)
        if lesion is None:
            return None
        self.active_lesion = lesion.lesion_id
        self.arm("long" if kind == "target" else "point")
        self.changed.emit()
        return lesion.lesion_id

    def update_lesion(self, lesion_id: str, **changes: Any) -> str | None:
        """Change a lesion's kind, organ or nodal flag; returns its (maybe new) id."""
        lesion = self._apply(self.reading.update_lesion, lesion_id, **changes)
        if lesion is None:
            return None
        if self.active_lesion == lesion_id:
            self.active_lesion = lesion.lesion_id
        self.arm(self.active_axis, activate=False)
        return lesion.lesion_id

    def describe_removal(self, lesion_id: str) -> str:
        """What deleting a lesion removes: ``T1 (target, liver): baseline 42.0 mm, …``."""
        le = self.reading.lesion(lesion_id)
        where = [
            f"{tp.label} {finding_mm(le.findings[tp.label], le.nodal)}"
            for tp in self.reading.timepoints
            if tp.label in le.findings
        ]
        kind = le.kind.replace("_", "-")
        return f"{le.lesion_id} ({kind}, {le.organ or 'no organ'}): " + (
            ", ".join(where) if where else "nothing recorded yet"
        )

    def removable_everywhere(self, lesion_id: str) -> bool:
        """Whether deleting the lesion is allowed (no finding at a read-only time point)."""
        le = self.reading.lesion(lesion_id)
        return all(self.reading.is_editable(tp) for tp in le.findings)

    def remove_lesion(self, lesion_id: str) -> bool:
        """Delete a lesion at every time point (undoable; refused when it has a
        finding at a read-only time point)."""
        if self._apply(self.reading.remove_lesion, lesion_id) is None:
            return False
        if self.active_lesion == lesion_id:
            self.active_lesion = None
        self.arm(self.active_axis, activate=False)
        self.changed.emit()
        return True

    def clear_finding(self, lesion_id: str, label: str | None = None) -> bool:
        """Remove what was recorded for a lesion at one time point (default current)."""
        label = label or self.current_tp
        return self._apply(self.reading.clear_finding, lesion_id, label) is not None

    def set_status(self, status: str | None, lesion_id: str | None = None) -> None:
        """Set the status of a lesion (default: the active one) at the time point of
        the pane edits go to."""
        self._edit_finding(self.reading.set_status, status, lesion_id)

    def set_merged(self, into: str | None, lesion_id: str | None = None) -> None:
        """Record that a target (default: the active one) coalesced with ``into`` at
        the time point edits go to (:meth:`recist_tool.reading.Reading.set_merged`)."""
        self._edit_finding(self.reading.set_merged, into, lesion_id)

    def _edit_finding(self, edit: Callable[..., Any], value: Any, lesion_id: str | None) -> None:
        """``edit(lesion, time point, value)`` for a lesion (default: the active one) at
        the time point of the pane edits go to — never another."""
        lesion_id = lesion_id or self.active_lesion
        label = self._edit_pane().timepoint
        if lesion_id is None or label is None:
            self._notify("warning", "select a lesion first")
            return
        self._apply(edit, lesion_id, label, value)

    def undo(self) -> str | None:
        """Undo the last change (the reading's undo); returns what was undone."""
        return self._travel(self.reading.undo, "undo")

    def redo(self) -> str | None:
        """Redo the last undone change; returns what was redone."""
        return self._travel(self.reading.redo, "redo")

    def _travel(self, fn: Callable[[], Step | None], kind: str) -> str | None:
        t0 = time.perf_counter()
        try:
            step = self.signing.run(fn, kind)
        except TimePointLockedError as exc:
            self._notify("error", f"{kind}: {exc}")
            return None
        except RecistError as exc:
            self._notify("error", str(exc))
            return None
        if step is None:
            self._notify("info", f"nothing to {kind}")
            return None
        tpr = dict(step.tp_renames)
        ler = dict(step.lesion_renames)
        if kind == "undo":
            tpr = {new: old for old, new in tpr.items()}
            ler = {new: old for old, new in ler.items()}
        self.current_tp = tpr.get(self.current_tp, self.current_tp)  # type: ignore[arg-type]
        self.compare_tp = tpr.get(self.compare_tp, self.compare_tp)  # type: ignore[arg-type]
        if self.active_lesion is not None:
            self.active_lesion = ler.get(self.active_lesion, self.active_lesion)
            if self.active_lesion not in {le.lesion_id for le in self.reading.lesions}:
                self.active_lesion = None
        structural = any(c["what"] in ("timepoint", "series") for c in step.changes)
        if structural or tpr:
            labels = [tp.label for tp in self.reading.timepoints]
            if self.current_tp not in labels:
                self.current_tp = self.reading.opening_timepoint()
            self._choose_compare()
            self._show_panes()
        self._render()
        self._after_change(t0)
        text = f"{'Undone' if kind == 'undo' else 'Redone'}: {step.summary()}"
        self._notify("info", text)
        self.assist.history_step(text)
        return text

    def assign_series(self, series_uid: str, label: str | None, date: str | None = None) -> None:
        """The reader assigns a series to a time point (None: not used).

        A new label for the only series of a time point renames that time point,
        keeping what was drawn there."""
        r = self.reading
        old = r.series[series_uid].timepoint if series_uid in r.series else None
        labels = {tp.label for tp in r.timepoints}
        if label and old and label not in labels and len(r.series_of(old)) == 1:
            self.rename_timepoint(old, label)
            if date:
                self.set_timepoint_date(label, date)
            return
        if self._apply(r.assign_series, series_uid, label or None, date) is not None:
            self._study_changed()

    def set_timepoint_date(self, label: str, date: str) -> None:
        """Change a time point's date (YYYY-MM-DD)."""
        if self._apply(self.reading.set_timepoint, label, date) is not None:
            self._study_changed()

    def rename_timepoint(self, old: str, new: str) -> None:
        """Change a time point's label (its pane follows)."""
        if self._apply(self.reading.rename_timepoint, old, new) is None:
            return
        if self.current_tp == old:
            self.current_tp = new
        if self.compare_tp == old:
            self.compare_tp = new
        for pane in self.panes.values():
            if pane.layers is not None and pane.layers.timepoint == old:
                pane.layers.timepoint = new
                for layer, what in ((pane.layers.lines, "lines"), (pane.layers.points, "markers")):
                    layer.name = f"RECIST {what} · {new}"
                pane.layers.labels.name = f"RECIST labels · {new}"
        self._study_changed()

    # ------------------------------------------------------------------ after a change

    def _flag(self, lesion_id: str, label: str) -> str:
        return self._flags.get((lesion_id, label), "")

    def _compute_flags(self) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for le in self.reading.lesions:
            for tp, sev, _ in self.results.messages_for(le.lesion_id):
                if sev in ("error", "warning"):
                    for label in [tp] if tp else list(le.findings):
                        out[(le.lesion_id, label)] = " ⚠"
        return out

    def _after_change(self, t0: float | None = None) -> None:
        """Save, evaluate, refresh (after every change of the reading)."""
        t0 = time.perf_counter() if t0 is None else t0
        path = self.save_path
        # sign-off files sit beside the reading: blinded like it
        self.signing.follow(self.reading, path if self.blinding.allows(path) else None)
        for text in self.signing.warnings:
            self._notify("warning", text)
        self.signing.warnings.clear()
        frame = self.signing.stamp(self.reading.to_frame()) if self.signing.any_signed else None
        errors, job = self.persist.save(self.reading, frame)
        for err in errors:
            self._notify("error", err)
        failure = self.results.update(self.reading)
        if failure:
            self._notify("error", failure)
        flags = self._compute_flags()
        if flags != self._flags:
            self._flags = flags
            for name, sync in self.syncs.items():
                if self.panes[name].layers is not None:
                    sync.relabel()
        for pane in self.panes.values():
            self._update_title(pane)
        self.show_handles()  # the lines were drawn again: their selection went
        self.assist.reading_changed()
        self.changed.emit()
        self.last_update_s = time.perf_counter() - t0
        # written now that the response is shown: the writer would compete for the GIL
        self.persist.submit(job)

    # ------------------------------------------------------------------ results (for the widget)

    @property
    def evaluation(self) -> Any:
        """The engine's :class:`recist_tool.response.Evaluation` (None when nothing to evaluate)."""
        return self.results.evaluation

    @property
    def engine_error(self) -> str:
        """The engine's error for this reading ("" when none)."""
        return self.results.error

    def messages_for(self, lesion_id: str) -> list[tuple[str, str, str]]:
        """(time point, severity, message) about a lesion."""
        return self.results.messages_for(lesion_id)

    def general_messages(self) -> list[tuple[str, str, str]]:
        """Engine messages not tied to a lesion."""
        return self.results.general_messages()

    def response_table(self) -> Any:
        """The engine's per time point values."""
        return self.results.response_table()

    # ------------------------------------------------------------------ files

    @property
    def save_path(self) -> Path | None:
        """Where the reading is saved (None until a patient is known)."""
        return self.persist.path_for(self.reading)

    @property
    def csv_path(self) -> Path | None:
        """The file the reader chose or loaded (None: the default path)."""
        return self.persist.csv_path

    def save_as(self, csv_path: str | os.PathLike) -> None:
        """Save to another file; autosave and the audit trail continue there."""
        for err in self.persist.save_as(self.reading, csv_path):
            self._notify("error", err)
        self.changed.emit()

    def flush(self) -> None:
        """Wait until the last autosave is on disk (run on close and at exit)."""
        for err in self.persist.flush():
            self._notify("error", err)

    def dicom_folders(self) -> list[Path]:
        """Folders the reading's series were opened from."""
        found = [src.kwargs["metadata"].get(FOLDER_KEY, "") for src in self.sources.values()]
        found.append(self.reading.study_path)
        return [Path(f) for f in dict.fromkeys(found) if f]

    def export_sr(self, outdir: str | os.PathLike) -> list[Path]:
        """One DICOM SR (TID 1500) per time point into ``outdir`` (see :class:`Exports`)."""
        return self.exports.export_sr(outdir)

    def export_seg(self, outdir: str | os.PathLike) -> list[Path]:
        """DICOM SEG of the assisted measurements, with an SR referencing it."""
        return self.exports.export_seg(outdir)

    def export_patient_report(self, outdir: str | os.PathLike) -> list[Path]:
        """The patient report (HTML, PDF) into ``outdir`` (see :class:`Exports`)."""
        return self.exports.export_patient_report(outdir)
