"""Real input events on napari's canvas, shared by the GUI tests and the walkthrough.

``tests/napari_recist`` and ``scripts/walkthrough.py`` both drive the plugin as a
reader's hand would: real Qt mouse, wheel and key events (``QTest``) sent to the vispy
canvas widget, at canvas pixels computed from the camera's public state. These helpers
are that one implementation. Qt is imported inside the functions, so importing this
module costs nothing where no display is present.
"""

from __future__ import annotations

import time

import numpy as np


def world(lps) -> np.ndarray:
    """napari world coordinates (z, y, x) of a patient LPS position."""
    return np.asarray(lps, float)[::-1]


def pump(ms: int = 30) -> None:
    """Let Qt deliver events and timers for about ``ms`` milliseconds."""
    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + ms / 1000
    while True:
        QApplication.processEvents()
        if time.perf_counter() >= end:
            break
        time.sleep(0.005)


def wait_until(condition, timeout_ms: int = 2000) -> bool:
    """Pump Qt until ``condition()`` holds (napari throttles mouse moves; a loaded
    machine delivers them late) or the timeout passes; returns the last value."""
    end = time.perf_counter() + timeout_ms / 1000
    while not condition():
        if time.perf_counter() >= end:
            return bool(condition())
        pump(10)
    return True


def to_canvas(viewer, world_zyx):
    """Canvas pixel (QPoint) of a world position in a 2D view (camera public state)."""
    from qtpy.QtCore import QPoint

    cam = viewer.scene.camera
    h, w = viewer.canvas.size
    cy, cx = cam.center[-2:]
    y, x = np.asarray(world_zyx, float)[-2:]
    px = np.rint([(x - cx) * cam.zoom + w / 2, (y - cy) * cam.zoom + h / 2]).astype(int)
    return QPoint(int(px[0]), int(px[1]))


def real_drag(canvas, viewer, start_world, end_world, steps: int = 6, button=None) -> None:
    """A real mouse drag on a canvas widget (QTest press, moves, release)."""
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest

    button = button or Qt.MouseButton.LeftButton
    a, b = to_canvas(viewer, start_world), to_canvas(viewer, end_world)
    QTest.mouseMove(canvas, a)
    pump(15)
    QTest.mousePress(canvas, button, Qt.KeyboardModifier.NoModifier, a)
    pump(15)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        p = QPoint(int(a.x() + t * (b.x() - a.x())), int(a.y() + t * (b.y() - a.y())))
        QTest.mouseMove(canvas, p)
        pump(12)
    pump(30)  # napari throttles mouse moves: let the last one arrive before the release
    QTest.mouseMove(canvas, b)
    pump(30)
    QTest.mouseRelease(canvas, button, Qt.KeyboardModifier.NoModifier, b)
    pump(30)


def real_click(canvas, viewer, world_zyx) -> None:
    """A real left click at a world position."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    p = to_canvas(viewer, world_zyx)
    QTest.mouseMove(canvas, p)
    pump(15)
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p)
    pump(30)


def real_wheel(canvas, notches: int, ctrl: bool = False, at=None) -> None:
    """Real wheel notches on a canvas (positive: away from the user)."""
    from qtpy.QtCore import QPoint, QPointF, Qt
    from qtpy.QtGui import QWheelEvent
    from qtpy.QtWidgets import QApplication

    pos = at or QPoint(canvas.width() // 2, canvas.height() // 2)
    mods = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    step = 1 if notches > 0 else -1
    for _ in range(abs(notches)):
        ev = QWheelEvent(
            QPointF(pos),
            QPointF(canvas.mapToGlobal(pos)),
            QPoint(0, 0),
            QPoint(0, 120 * step),
            Qt.MouseButton.NoButton,
            mods,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(canvas, ev)
        pump(10)


def in_sight(widget) -> bool:
    """Whether ``widget`` lies wholly inside the visible part of the scroll area that
    holds it (a dock's panel a reader sees without scrolling)."""
    from qtpy.QtWidgets import QScrollArea

    from napari_recist._qt.panels import ancestor

    area = ancestor(widget, QScrollArea)
    if area is None:
        return widget.isVisible()
    port = area.viewport()
    top = widget.mapTo(port, widget.rect().topLeft()).y()
    return widget.isVisible() and top >= 0 and top + widget.height() <= port.height()
