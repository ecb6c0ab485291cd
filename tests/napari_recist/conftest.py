"""Fixtures of the plugin tests: the sample study, private folders, real input events.

Run under a virtual display: ``xvfb-run -a .venv/bin/python -m pytest tests/napari_recist``.
The GUI tests drive napari's canvases with real Qt mouse, wheel and key events
(``QTest`` on the vispy canvas widget), as a reader's hand would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_dicom"


@pytest.fixture(scope="session")
def sample_path(tmp_path_factory) -> Path:
    """The shipped sample study (written by the phantom when the tree lacks it)."""
    if any(SAMPLE.rglob("*.dcm")):
        return SAMPLE
    from recist_tool.synth.phantom import write_sample_study

    out = tmp_path_factory.mktemp("sample_dicom")
    write_sample_study(out)
    return out


@pytest.fixture(scope="session")
def truth(sample_path) -> dict:
    """The sample's truth.json."""
    return json.loads((sample_path / "truth.json").read_text())


@pytest.fixture(scope="session")
def sample_layers(sample_path) -> list[tuple]:
    """The reader's layer data for the sample (read once; arrays are not modified)."""
    from napari_recist._reader import read_dicom

    return read_dicom(str(sample_path))


@pytest.fixture(autouse=True)
def readings_dir(tmp_path, monkeypatch) -> Path:
    """Autosaves of every test go to its own folder; the reader is named (no dialog)."""
    path = tmp_path / "readings"
    monkeypatch.setenv("RECIST_READINGS_DIR", str(path))
    monkeypatch.setenv("RECIST_READER", "dr test")
    monkeypatch.delenv("RECIST_VIEW", raising=False)
    # no background registration of the sample's follow-up in every test (CPU);
    # tests of the follow-up jump turn it on
    monkeypatch.setenv("RECIST_REGISTRATION", "off")
    return path


@pytest.fixture
def notifications():
    """napari notifications shown while the test runs (severity, message)."""
    from napari.utils.notifications import notification_manager

    seen: list[tuple[str, str]] = []

    def keep(n) -> None:
        seen.append((str(n.severity), n.message))

    notification_manager.notification_ready.connect(keep)
    yield seen
    notification_manager.notification_ready.disconnect(keep)


def fresh(sample_layers) -> list[tuple]:
    """Layer data of the sample with its own metadata dicts (the arrays are shared)."""
    return [(d, {**k, "metadata": dict(k["metadata"])}, t) for d, k, t in sample_layers]


def add_sample(viewer, sample_layers) -> list:
    """Add the sample's layers as File > Open would (without reading the files again)."""
    out = []
    for data, kwargs, _ in fresh(sample_layers):
        out.append(viewer.add_image(data, **kwargs))
    return out


def world(lps) -> np.ndarray:
    """napari world coordinates (z, y, x) of a patient LPS position."""
    return np.asarray(lps, float)[::-1]


def lesions_of(truth, i: int) -> dict:
    """The truth's lesions of time point ``i`` by id."""
    return {les["lesion_id"]: les for les in truth["timepoints"][i]["lesions"]}


# ---------------------------------------------------------------------- napari-level drag


def napari_drag(viewer, layer, start_world, end_world, steps: int = 4) -> None:
    """Press, drag and release through napari's callbacks, as the canvas would send
    them to ``viewer`` and its active layer (for tests without a canvas)."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    start, end = np.asarray(start_world, float), np.asarray(end_world, float)
    common = {"dims_displayed": [1, 2], "view_direction": None, "modifiers": ()}
    targets = [viewer, viewer.layers.selection.active]
    ev = read_only_mouse_event(type="mouse_press", position=tuple(start), **common)
    for t in targets:
        if t is not None:
            mouse_press_callbacks(t, ev)
    for f in np.linspace(0, 1, steps + 1)[1:]:
        pos = tuple(start + f * (end - start))
        ev = read_only_mouse_event(type="mouse_move", is_dragging=True, position=pos, **common)
        for t in targets:
            if t is not None:
                mouse_move_callbacks(t, ev)
    ev = read_only_mouse_event(type="mouse_release", position=tuple(end), **common)
    for t in targets:
        if t is not None:
            mouse_release_callbacks(t, ev)


# ---------------------------------------------------------------------- real Qt events


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
