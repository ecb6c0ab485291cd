"""PACS mouse conventions on a pane's viewer, and the values under the cursor.

:class:`PacsMouse` installs itself in a viewer's public ``mouse_wheel_callbacks``,
``mouse_drag_callbacks`` and ``mouse_move_callbacks``:

* wheel = page slices, Ctrl+wheel = zoom about the cursor (or the other way round,
  :attr:`ViewSettings.wheel`); napari's own wheel zoom (``camera.mouse_zoom``) and
  Ctrl+wheel slicing are switched off for that viewer;
* a press makes the pane the active one (its title is highlighted);
* moving the mouse shows, in the pane's bottom-left overlay, the HU value under the
  cursor, its patient position (LPS, mm) and the slice.

Right-drag window/level needs the mouse buttons before napari sees them and is done
by the Qt widget (:mod:`napari_recist._qt.canvas`) through
:meth:`~napari_recist._navigation.Navigator.drag_window`. No Qt here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from napari_recist._navigation import Navigator
from napari_recist._panes import Pane

#: Zoom factor per wheel notch (Ctrl+wheel).
ZOOM_PER_NOTCH = 1.15


def cursor_text(pane: Pane, position: Any) -> str:
    """``HU 45 · L -12.3 P 45.6 S -100.0 mm`` for a world position (the pane's
    title says the slice)."""
    pl = pane.layers
    if pl is None:
        return ""
    pos = np.asarray(position, float)
    if pos.shape[-1] < 3:
        return ""
    value = pl.image.get_value(tuple(pos[-3:]), world=True)
    hu = "" if value is None or (isinstance(value, float) and np.isnan(value)) else value
    s, p, l_ = pos[-3:]
    parts = []
    if hu != "":
        parts.append(f"HU {round(float(hu))}")
    parts.append(f"L {l_:.1f} P {p:.1f} S {s:.1f} mm")
    return " · ".join(parts)


def wheel_action(event: Any, wheel: str) -> tuple[float | None, float, bool]:
    """What a napari wheel event asks for under the ``wheel`` setting ("slice": the
    wheel pages, Ctrl+wheel zooms; "zoom": the other way round): ``(zoom, delta,
    inverted)``, ``zoom`` the factor about the cursor (None: page ``delta`` notches;
    ``inverted``: the device's natural scrolling)."""
    dy = float(event.delta[1])
    if ("Control" in event.modifiers) == (wheel == "slice"):
        return ZOOM_PER_NOTCH ** float(np.clip(dy, -3, 3)), dy, False
    native = getattr(event, "native", None)
    return None, dy, bool(native.inverted()) if hasattr(native, "inverted") else False


class PacsMouse:
    """Mouse conventions of one pane (see the module).

    Parameters
    ----------
    pane : Pane
    navigator : Navigator
    activate : callable
        ``activate(pane)`` on a mouse press in the pane.
    """

    def __init__(self, pane: Pane, navigator: Navigator, activate: Callable[[Pane], None]) -> None:
        self.pane = pane
        self.nav = navigator
        self._activate = activate
        v = pane.viewer
        self._removed = [cb for cb in v.mouse_wheel_callbacks if cb.__name__ == "dims_scroll"]
        for cb in self._removed:
            v.mouse_wheel_callbacks.remove(cb)
        v.mouse_wheel_callbacks.append(self.on_wheel)
        v.mouse_drag_callbacks.insert(0, self.on_press)
        v.mouse_move_callbacks.append(self.on_move)
        v.scene.camera.events.mouse_zoom.connect(self._keep_wheel)
        self._keep_wheel()

    def close(self) -> None:
        """Give the viewer its own wheel behaviour back."""
        v = self.pane.viewer
        for lst, cb in (
            (v.mouse_wheel_callbacks, self.on_wheel),
            (v.mouse_drag_callbacks, self.on_press),
            (v.mouse_move_callbacks, self.on_move),
        ):
            if cb in lst:
                lst.remove(cb)
        v.mouse_wheel_callbacks[:0] = self._removed
        v.scene.camera.events.mouse_zoom.disconnect(self._keep_wheel)

    def _keep_wheel(self, event: Any = None) -> None:
        """napari turns the camera's wheel zoom back on with each active layer."""
        cam = self.pane.viewer.scene.camera
        if cam.mouse_zoom:
            cam.mouse_zoom = False

    def on_wheel(self, viewer: Any, event: Any) -> None:
        """Wheel: slices; Ctrl+wheel: zoom about the cursor (per the settings)."""
        if self.pane.layers is None or getattr(event, "handled", False):
            return  # nothing shown, or another view on this canvas took it (adjudication)
        zoom, dy, inverted = wheel_action(event, self.nav.settings.wheel)
        if zoom is None:
            self.nav.wheel(self.pane, dy, inverted)
        elif dy:
            self.nav.zoom(self.pane, zoom, at=event.position)
        event.handled = True

    def on_press(self, viewer: Any, event: Any) -> None:
        """A press makes this the active pane."""
        self._activate(self.pane)

    def on_move(self, viewer: Any, event: Any) -> None:
        """Show HU, patient position and slice under the cursor."""
        if self.pane.layers is None:
            return
        self.show_cursor(event.position)

    def show_cursor(self, position: Any) -> None:
        """Update the cursor read-out for a world position."""
        text = cursor_text(self.pane, position)
        overlay = self.pane.cursor_text
        overlay.text = text
        if not overlay.visible:
            overlay.visible = True
