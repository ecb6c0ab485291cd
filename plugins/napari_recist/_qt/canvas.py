"""Right-drag window/level on a pane's canvas (Qt event filter on the canvas widget).

napari hands right-button drags to the camera (zoom) and to the active layer (a
Shapes layer in line mode would start a line), so window/level is taken before
either sees the events: :class:`WindowLevelDrag` filters the canvas widget's mouse
events and, for the right button, turns the motion into
:meth:`~napari_recist._session.ReadingSession.drag_window` calls (horizontal: width,
vertical: level) and eats the events. Other buttons pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QWidget


def _pos(event: QEvent) -> tuple[float, float]:
    p = event.position() if hasattr(event, "position") else event.pos()  # type: ignore[attr-defined]
    return float(p.x()), float(p.y())


class WindowLevelDrag(QObject):
    """Right-drag = window/level on one canvas widget.

    Parameters
    ----------
    drag : callable
        ``drag(dx_px, dy_px)`` for each motion while the right button is held.
    enabled : callable
        Whether right-drag is window/level now (the settings).
    activate : callable
        Called on the press (the pane becomes the active one).
    """

    def __init__(
        self,
        drag: Callable[[float, float], object],
        enabled: Callable[[], bool],
        activate: Callable[[], object],
    ) -> None:
        super().__init__()
        self._drag = drag
        self._enabled = enabled
        self._activate = activate
        self._last: tuple[float, float] | None = None

    def attach(self, widget: QWidget) -> None:
        """Filter ``widget``'s events."""
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            if event.button() != Qt.MouseButton.RightButton or not self._enabled():  # type: ignore[attr-defined]
                return False
            self._last = _pos(event)
            self._activate()
            return True
        if kind == QEvent.Type.MouseMove and self._last is not None:
            if not event.buttons() & Qt.MouseButton.RightButton:  # type: ignore[attr-defined]
                self._last = None
                return False
            x, y = _pos(event)
            dx, dy = x - self._last[0], y - self._last[1]
            self._last = (x, y)
            if dx or dy:
                self._drag(dx, dy)
            return True
        # button() only of a release: Qt 6 gives enter/hover events a button() too,
        # and one read from such an event was once not a valid MouseButton
        if (
            kind == QEvent.Type.MouseButtonRelease
            and self._last is not None
            and event.button() == Qt.MouseButton.RightButton  # type: ignore[attr-defined]
        ):
            self._last = None
            return True
        return bool(kind == QEvent.Type.ContextMenu and self._enabled())


class AfterFirstPaint(QObject):
    """Calls ``fn`` once, just after ``widget``'s next paint (Qt event filter).

    Used to end a pane's warm-up (:meth:`napari_recist._panes.Pane.warm_up`) once the
    canvas has drawn it; ``done`` tells whether it ran.
    """

    def __init__(self, widget: QWidget, fn: Callable[[], object]) -> None:
        super().__init__()
        self._widget = widget
        self._fn = fn
        self.done = False
        widget.installEventFilter(self)
        widget.update()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self.done:
            self._widget.removeEventFilter(self)
            QTimer.singleShot(0, self._run)  # after the paint this event starts
        return False

    def _run(self) -> None:
        if not self.done:
            self.done = True
            self._fn()
