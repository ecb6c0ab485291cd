"""The adjudicator's view in a real napari window, driven by real Qt input events.

A synthetic double-read cohort with images (``cohorts.make_double_read``: r1 and r2,
DEMO-001 discordant): the adjudicator opens the cohort from the measurement widget's
*Adjudicate a cohort…* button, clicks the discordant patient, sees both readers'
lines in two colours on the same image and both response panels, chooses r2 with a
reason, and the adjudicated CSV and its audit trail are checked on disk. With
``RECIST_SCREENSHOTS=DIR`` the window is saved there at each step.
"""

from __future__ import annotations

import os
from pathlib import Path

import napari_recist._qt.adjudication_panel as panel_module
import numpy as np
import pytest
from napari_recist._adjudication import READER_COLORS
from napari_recist._qt.widget import RecistWidget
from napari_recist._testing import real_wheel
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QAbstractButton, QComboBox, QLineEdit

from recist_tool.annotations import read_annotations
from recist_tool.reading import read_audit

from .cohorts import make_double_read
from .conftest import pump, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _shot(viewer, name: str) -> None:
    folder = os.environ.get("RECIST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(Path(folder) / f"{name}.png"), canvas_only=False)


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)])


def _has_colour(img: np.ndarray, hex_colour: str, tol: int = 40) -> int:
    """Canvas pixels within ``tol`` of a colour."""
    d = np.abs(img[..., :3].astype(int) - _rgb(hex_colour)).max(axis=-1)
    return int((d <= tol).sum())


def choose(combo: QComboBox, text: str) -> None:
    """Pick an item as a hand does: click the box, then the item in its popup list."""
    QTest.mouseClick(combo, Qt.MouseButton.LeftButton)
    view = combo.view()
    assert wait_until(lambda: view.isVisible(), 2000)
    index = combo.findText(text)
    assert index >= 0, text
    pump(400)  # Qt ignores a release too soon after the popup opened
    rect = view.visualRect(view.model().index(index, 0))
    QTest.mouseMove(view.viewport(), rect.center())
    pump(30)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert wait_until(lambda: combo.currentText() == text, 2000), combo.currentText()
    pump(50)


def test_adjudicator_chooses_reader_2_with_real_events(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    cohort = make_double_read(tmp_path)
    monkeypatch.setenv("RECIST_READER", "dr_lee")
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    w = RecistWidget(viewer)
    viewer.window.add_dock_widget(w, name="RECIST measurement", area="right")
    pump(50)
    monkeypatch.setattr(panel_module, "choose_cohort_folder", lambda *a: str(cohort))

    # Open the cohort as adjudicator: a real click on the widget's button.
    btn = w.findChild(QAbstractButton, "recist.adjudicate")
    QTest.mouseClick(btn, Qt.MouseButton.LeftButton)
    assert wait_until(lambda: w.adjudication is not None and w.adjudication.adj.rows, 5000)
    p = w.adjudication
    assert (cohort / "adjudication.csv").is_file()  # the core's discordance ran
    assert [r.patient_id for r in p.adj.rows] == ["DEMO-001"]
    table = p.patient_table
    assert table.item(0, 1).text() == "pending"
    assert "progression recorded by one reader only" in table.item(0, 2).text()
    assert "r1: BOR PR" in table.item(0, 3).text() and "r2: BOR PD" in table.item(0, 4).text()

    # Click the patient (it opened already as the first pending; click again anyway).
    rect = table.visualItemRect(table.item(0, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    pump(100)
    assert p.adj.shown is not None and p.adj.shown.patient_id == "DEMO-001"
    names = [layer.name for layer in viewer.layers if layer.visible]
    assert "r1 lines · baseline" in names and "r2 lines · baseline" in names
    lines = {layer.metadata.get("adjudication_reader"): layer for layer in p.adj.layers[1:3:1]}
    assert all(not layer.editable for layer in p.adj.layers[1:])
    # Both response panels: the engine's texts, the difference highlighted.
    r1_text, r2_text = (lab.text() for lab in p.response_labels)
    assert "r1" in r1_text and "non-target progression: NT1" in r2_text
    assert "BOR <b style='color:#8bc34a'>PR</b>" in r1_text
    assert "#5a3a00" in r2_text  # discordant cells highlighted
    # Per time point is refused by the core here (NT1 has no position: baseline lesions
    # cannot be matched), and the box says why.
    assert not p.per_tp_box.isEnabled() and "choose one reader" in p.per_tp_box.toolTip()

    # Both readers' lines, two colours, on the canvas.
    pump(200)
    img = viewer.screenshot(canvas_only=True, flash=False)
    n1, n2 = _has_colour(img, READER_COLORS[0]), _has_colour(img, READER_COLORS[1])
    assert n1 > 30 and n2 > 30, (n1, n2, lines)
    _shot(viewer, "adjudicator_baseline")

    # The follow-up, chosen in the time point box with real clicks.
    choose(p.findChild(QComboBox, "recist.adj_timepoint"), "fu1")
    pump(200)
    assert p.adj.timepoint == "fu1"
    img = viewer.screenshot(canvas_only=True, flash=False)
    assert _has_colour(img, READER_COLORS[0]) > 30 and _has_colour(img, READER_COLORS[1]) > 30
    _shot(viewer, "adjudicator_fu1")

    # Paging as in the reading view, real wheel notches on the canvas: one notch is one
    # slice of the series shown (the wheel did nothing here: the reading view's paging
    # has no study, and napari's own wheel zoom was off), Ctrl+wheel zooms about the
    # cursor and leaves the slice.
    image = p.adj.layers[0]

    def slice_shown() -> float:
        return float(image.world_to_data(viewer.dims.point)[0])

    canvas = w.main_canvas()
    k0 = slice_shown()
    assert k0 == round(k0) and 0 < k0 < image.data.shape[0] - 1
    real_wheel(canvas, -1)
    assert slice_shown() == k0 + 1
    real_wheel(canvas, 1)
    real_wheel(canvas, 1)
    assert slice_shown() == k0 - 1
    zoom = viewer.camera.zoom
    real_wheel(canvas, 1, ctrl=True)
    assert viewer.camera.zoom > zoom * 1.1 and slice_shown() == k0 - 1
    # a click on the image gives it the focus (the window activated first: Xvfb has no
    # window manager to do it, and the time point's closed popup kept the focus)
    w.window().activateWindow()
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton)
    pump(20)
    assert slice_shown() == k0 - 1 and canvas.hasFocus()
    QTest.keyClick(canvas, Qt.Key.Key_Down)  # the reading view's keys page this view
    pump(20)
    assert slice_shown() == k0

    # Choose r2 with a reason, typed; Save is disabled until the reason is there.
    reader = p.findChild(QComboBox, "recist.adj_reader")
    choose(reader, "r2")
    assert reader.currentText() == "r2"
    save = p.findChild(QAbstractButton, "recist.adj_save")
    assert not save.isEnabled()
    reason = p.findChild(QLineEdit, "recist.adj_reason")
    QTest.keyClicks(reason, "NT1 unequivocal progression at fu1")
    pump(30)
    assert save.isEnabled()
    _shot(viewer, "adjudicator_decision")
    QTest.mouseClick(save, Qt.MouseButton.LeftButton)
    assert wait_until(lambda: p.adj.rows and p.adj.rows[0].done, 5000)

    out = cohort / "readings/adjudicated/DEMO-001.csv"
    rows = read_annotations(out)
    assert set(rows["reader"].astype(str)) == {"r2"}
    assert set(rows["adjudicator"].astype(str)) == {"dr_lee"}
    assert set(rows["adjudication_reason"].astype(str)) == {"NT1 unequivocal progression at fu1"}
    [rec] = read_audit(cohort / "readings/adjudicated/DEMO-001.audit.jsonl")
    assert (rec["reader"], rec["action"], rec["new"]) == ("dr_lee", "adjudicate", "r2")
    assert rec["reason"] == "NT1 unequivocal progression at fu1"
    assert table.item(0, 1).text() == "done"
    assert p.adj.shown is None  # nothing pending: the view closed the patient
    pump(50)
    _shot(viewer, "adjudicator_done")
