"""What the viewer shows (mixed into ``ReadingSession``).

The current time point, shown alone or side by side with baseline in napari's grid
(stride 3: each time point's image, lines and points share a viewbox); moving the
view to a lesion and stepping through the lesions; arming the lines or points layer
for the next long/short axis or marker of the active lesion; and the CT window
presets. No change to the reading is made here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.utils.notifications import show_error

from napari_recist._layers import WINDOWS, window_limits


class NavigationMixin:
    """The view and navigation part of :class:`napari_recist._session.ReadingSession`."""

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

    def set_window(self, preset: str) -> None:
        """Apply a window preset (soft tissue, lung, liver, bone, mediastinum)."""
        limits = window_limits(*WINDOWS[preset])
        for label in self.shown_timepoints():
            self._tp[label].image.contrast_limits = limits


def _camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def _set(obj: Any, name: str, value: Any) -> None:
    """Set an attribute only when it changes (napari redraws on every assignment)."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)
