"""Navigating the two panes: slices, zoom, pan, window/level, linking, going to a lesion.

:class:`Navigator` works on :class:`~napari_recist._panes.Pane` objects through public
napari API only (``dims.set_point``, ``scene.camera``, ``reset_view``, layer
``contrast_limits``):

* slices move by whole slices of the pane's own series; with ``link_slices`` the
  other pane follows to the same patient position (z in mm), or to the position a
  registration maps it to (:attr:`Navigator.z_map`, for measurement assistance);
* zoom (Ctrl+wheel, about the cursor) and pan follow in the other pane when linked
  (same magnification; same displacement);
* the window (level, width) is one setting for both panes and is kept when a pane
  switches time point; presets, right-drag and napari's own contrast slider change it;
* each pane is fitted to show its whole image.

No Qt here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from napari_recist._layers import WINDOWS, window_limits
from napari_recist._panes import Pane
from napari_recist._settings import ViewSettings


def window_drag(
    level: float, width: float, dx_px: float, dy_px: float, hu_per_px: float
) -> tuple[float, float]:
    """Window after a right-drag of (dx, dy) pixels: right widens, down raises the level."""
    return level + dy_px * hu_per_px, max(1.0, width + dx_px * hu_per_px)


def zoom_centre(camera: Any, factor: float, at: Any) -> tuple[float, ...]:
    """The camera centre that keeps world point ``at`` (the cursor) where it is on the
    screen when the camera zooms by ``factor``."""
    center = np.asarray(camera.center, float)
    at = np.asarray(at, float)[-len(center) :]
    return tuple(float(v) for v in at + (center - at) / factor)


def zoom_about(camera: Any, factor: float, at: Any = None) -> None:
    """Zoom a napari camera by ``factor`` about world point ``at`` (default: the
    centre)."""
    if at is not None:
        camera.center = zoom_centre(camera, factor, at)
    camera.zoom = float(camera.zoom) * factor


def step_z(zs: np.ndarray, z: float, n: int) -> float:
    """The slice position ``n`` slices from the one nearest ``z`` (clamped to the
    series; ``zs``: its slices' positions, in any order)."""
    zs = np.sort(np.asarray(zs, float))
    k = int(np.argmin(np.abs(zs - z)))
    return float(zs[int(np.clip(k + n, 0, len(zs) - 1))])


class WheelSteps:
    """Wheel notches to whole slices: fractions (a touchpad's small deltas) add up,
    one slice per notch; wheel down goes forward unless the device is inverted."""

    def __init__(self) -> None:
        self._progress: dict[Any, float] = {}

    def steps(self, key: Any, delta: float, inverted: bool = False) -> int:
        """Whole slices to move for a wheel ``delta`` on ``key`` (a pane)."""
        forward = 1 if inverted else -1
        progress = self._progress.get(key, 0.0) + float(np.clip(delta, -1, 1)) * forward
        steps = int(progress)  # towards zero
        self._progress[key] = progress - steps
        return steps


class Navigator:
    """Slices, camera and window of the panes (see the module)."""

    def __init__(self, settings: ViewSettings) -> None:
        self.settings = settings
        self.panes: list[Pane] = []
        #: ``z_map(from_tp, to_tp, z_mm) -> z_mm``: where the other pane goes.
        self.z_map: Callable[[str, str, float], float] | None = None
        self.window: tuple[float, float] | None = None  # level, width
        self._linking = 0
        self._zoom_of: dict[int, float] = {}
        self._center_of: dict[int, tuple[float, ...]] = {}
        self._wheel = WheelSteps()
        #: (emitter, callback) connected by :meth:`add_pane` (for disconnecting).
        self.hooks: list[tuple[Any, Callable]] = []

    # ------------------------------------------------------------------ wiring

    def add_pane(self, pane: Pane) -> None:
        """Take part in linking (dims and camera events of the pane's viewer)."""
        self.panes.append(pane)
        v = pane.viewer
        cam = v.scene.camera
        for emitter, cb in (
            (v.dims.events.point, lambda e, p=pane: self._on_point(p)),
            (cam.events.zoom, lambda e, p=pane: self._on_zoom(p)),
            (cam.events.center, lambda e, p=pane: self._on_center(p)),
        ):
            emitter.connect(cb)
            self.hooks.append((emitter, cb))
        self._remember(pane)

    def _remember(self, pane: Pane) -> None:
        cam = pane.viewer.scene.camera
        self._zoom_of[id(pane)] = float(cam.zoom)
        self._center_of[id(pane)] = tuple(float(c) for c in cam.center)

    def others(self, pane: Pane) -> list[Pane]:
        """The shown panes other than ``pane``."""
        return [p for p in self.panes if p is not pane and p.layers is not None]

    @contextlib.contextmanager
    def unlinked(self) -> Iterator[None]:
        """Move panes without the others following."""
        self._linking += 1
        try:
            yield
        finally:
            self._linking -= 1
            for p in self.panes:
                self._remember(p)

    # ------------------------------------------------------------------ slices

    def z(self, pane: Pane) -> float:
        """World z (mm) the pane shows."""
        return float(pane.viewer.dims.point[0])

    def slice_index(self, pane: Pane) -> int | None:
        """Index of the slice shown (nearest), None without an image."""
        pl = pane.layers
        if pl is None:
            return None
        zs = self._positions(pane)
        return int(np.argmin(np.abs(zs - self.z(pane))))

    def _positions(self, pane: Pane) -> np.ndarray:
        pl = pane.layers
        cache = getattr(pane, "_zs", None)
        if cache is None or cache[0] is not pl:
            pane._zs = (pl, pl.slice_positions())  # type: ignore[attr-defined]
        return pane._zs[1]  # type: ignore[attr-defined]

    def step_slice(self, pane: Pane, n: int) -> None:
        """Move ``n`` slices (of the pane's own series; clamped to the series)."""
        if pane.layers is None or n == 0:
            return
        self.set_z(pane, step_z(self._positions(pane), self.z(pane), n))

    def set_z(self, pane: Pane, z: float) -> None:
        """Show patient position ``z`` (mm) in ``pane`` (the other follows when linked)."""
        pane.viewer.dims.set_point(0, float(z))

    def _on_point(self, pane: Pane) -> None:
        if self._linking or not self.settings.link_slices or pane.layers is None:
            return
        z = self.z(pane)
        with self.unlinked():
            for other in self.others(pane):
                target = z
                if self.z_map is not None:
                    target = self.z_map(pane.timepoint or "", other.timepoint or "", z)
                zs = self._positions(other)
                if len(zs):  # stay within the other series (nearest slice)
                    target = float(np.clip(target, zs.min(), zs.max()))
                other.viewer.dims.set_point(0, target)

    def wheel(self, pane: Pane, delta: float, inverted: bool = False) -> None:
        """Page slices by wheel notches (fractions add up; one slice per notch)."""
        self.step_slice(pane, self._wheel.steps(id(pane), delta, inverted))

    # ------------------------------------------------------------------ camera

    def fit(self, pane: Pane) -> None:
        """Fit the pane's whole image into its canvas (others unchanged)."""
        pl = pane.layers
        if pl is None:
            return
        with self.unlinked():
            pane.viewer.reset_view(layers=[pl.image])

    def zoom(self, pane: Pane, factor: float, at: Any = None) -> None:
        """Zoom by ``factor`` about world point ``at`` (the cursor; default the centre)."""
        cam = pane.viewer.scene.camera
        if at is not None:
            with self.unlinked():  # the other pane follows the zoom, not this centre
                cam.center = zoom_centre(cam, factor, at)
        cam.zoom = float(cam.zoom) * factor

    def _on_zoom(self, pane: Pane) -> None:
        if self._linking or not self.settings.link_zoom:
            self._remember(pane)
            return
        zoom = float(pane.viewer.scene.camera.zoom)
        with self.unlinked():
            for other in self.others(pane):
                other.viewer.scene.camera.zoom = zoom

    def _on_center(self, pane: Pane) -> None:
        key = id(pane)
        old = self._center_of.get(key)
        new = tuple(float(c) for c in pane.viewer.scene.camera.center)
        if self._linking or not self.settings.link_pan or old is None or len(old) != len(new):
            self._remember(pane)
            return
        delta = np.subtract(new, old)
        with self.unlinked():
            for other in self.others(pane):
                cam = other.viewer.scene.camera
                c = np.asarray(cam.center, float)
                if len(c) == len(delta):
                    cam.center = tuple(c + delta)

    def center_on(self, pane: Pane, lps: tuple[float, float, float]) -> None:
        """Show patient position ``lps`` in ``pane``: its slice, and the view panned to
        it only when it is outside the middle 80 % of the canvas (a fitted view stays
        fitted: the reader keeps the whole body in sight)."""
        world = np.asarray(lps, float)[::-1]
        with self.unlinked():
            pane.viewer.dims.set_point(0, float(world[0]))
            cam = pane.viewer.scene.camera
            center = np.asarray(cam.center, float)
            target = world[-len(center) :]
            size = np.asarray(pane.viewer.canvas.size, float)  # (height, width) pixels
            half = 0.4 * size / max(float(cam.zoom), 1e-9)  # world mm
            if np.any(np.abs(target[-2:] - center[-2:]) > half):
                cam.center = tuple(float(v) for v in target)

    # ------------------------------------------------------------------ window

    def set_window(self, level: float, width: float) -> None:
        """Window (level, width in HU) of both panes, kept across time point switches."""
        self.window = (float(level), max(1.0, float(width)))
        for p in self.panes:
            self.apply_window(p)

    def preset(self, name: str) -> None:
        """A window preset (:data:`napari_recist._layers.WINDOWS`)."""
        self.set_window(*WINDOWS[name])

    def apply_window(self, pane: Pane) -> None:
        """Give the pane's image the current window (adopting its own when none yet)."""
        pl = pane.layers
        if pl is None:
            return
        if self.window is None:
            lo, hi = (float(v) for v in pl.image.contrast_limits)
            self.window = ((lo + hi) / 2, hi - lo)
        limits = window_limits(*self.window)
        if tuple(float(v) for v in pl.image.contrast_limits) != limits:
            with self.unlinked():
                rng = pl.image.contrast_limits_range
                if limits[0] < rng[0] or limits[1] > rng[1]:
                    pl.image.contrast_limits_range = (
                        min(limits[0], rng[0]),
                        max(limits[1], rng[1]),
                    )
                pl.image.contrast_limits = limits

    def on_contrast(self, pane: Pane) -> None:
        """napari's contrast slider moved: that becomes the window of both panes."""
        pl = pane.layers
        if pl is None or self._linking:
            return
        lo, hi = (float(v) for v in pl.image.contrast_limits)
        window = ((lo + hi) / 2, hi - lo)
        if window != self.window:
            self.set_window(*window)

    def drag_window(self, dx_px: float, dy_px: float) -> tuple[float, float]:
        """Right-drag by (dx, dy) pixels; returns the new (level, width)."""
        level, width = self.window or WINDOWS["soft tissue"]
        self.set_window(*window_drag(level, width, dx_px, dy_px, self.settings.window_hu_per_px))
        return self.window  # type: ignore[return-value]
