"""Measurement assistance in a real napari window: a real Alt+click (QTest) on the
canvas over a synthetic irregular lesion, the proposal computed in a thread worker,
Enter / Esc as real key presses, the CSV read back."""

from __future__ import annotations

import numpy as np
import pytest
from napari_recist._layers import image_layer_data
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from recist_tool.annotations import read_annotations

from .conftest import in_sight, pump, to_canvas, wait_until, world
from .test_widget import make_widget

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def phantom():
    """The body phantom with its six irregular lesions (liver, lung, node)."""
    from recist_tool.synth.lesions import body_lesions, body_volume

    lesions = body_lesions(0)
    vol = body_volume((40, 128, 128), (5.0, 3.0, 3.0), lesions, series_uid="2.25.9001")
    vol.metadata.update(patient_id="SYN-P12", study_date="20240110", modality="CT")
    vol.sop_instance_uids = tuple(f"2.25.9001.{i + 1}" for i in range(vol.shape[0]))
    return vol, lesions


def alt_click(w, lps) -> None:
    canvas = w.main_canvas()
    p = to_canvas(w.viewer, world(lps))
    QTest.mouseMove(canvas, p)
    pump(15)
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, p)
    pump(20)


def proposed_on_liver(make_napari_viewer, phantom):
    """A window on the phantom with the liver lesion Alt+clicked and its proposal
    shown: (widget, session, assistant, liver lesion)."""
    vol, lesions = phantom
    w = make_widget(make_napari_viewer)
    s, a = w.session, w.session.assist
    s.open_layers([image_layer_data(vol)])
    pump(50)
    liver = lesions[0]
    s.nav.set_z(s.panes["current"], float(liver.center_lps[2]))
    pump(30)
    alt_click(w, liver.center_lps)
    assert wait_until(lambda: a.has_pending, 15000), a.status
    return w, s, a, liver


def test_alt_click_then_enter_records_an_assisted_measurement(make_napari_viewer, qtbot, phantom):
    w, s, a, liver = proposed_on_liver(make_napari_viewer, phantom)  # rejected first: Esc
    assert w.assist_panel.accept_btn.isEnabled() and "LA" in w.assist_panel.label.text()
    pump(30)
    label = w.assist_panel.label  # the whole (wrapped) text is shown, none cut off
    assert label.height() >= label.heightForWidth(label.width()) > 0
    # no live length over the proposal's own label until an end is dragged
    assert not s.panes["current"].layers.live.visible
    # and in sight: below the lesion table it was under the dock's bottom edge
    assert in_sight(w.assist_panel) and in_sight(w.undo_btn)
    # what Enter records it as follows the form
    w.organ_combo.setCurrentText("kidney")
    pump(10)
    assert "a lesion to add (target · kidney: the form above)" in label.text()
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Escape)
    pump(20)
    assert not a.has_pending and not s.reading.lesions
    # then accepted: Enter
    s.nav.set_z(s.panes["current"], float(liver.center_lps[2]))
    pump(20)
    alt_click(w, liver.center_lps)
    assert wait_until(lambda: a.has_pending, 15000), a.status
    assert not len(s.panes["current"].layers.lines.data)  # the click drew no line
    p = a.pending.proposal
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Return)
    pump(30)
    assert not a.has_pending and [le.lesion_id for le in s.reading.lesions] == ["T1"]
    s.flush()
    row = read_annotations(s.save_path).to_dict("records")[0]
    assert row["method"] == "assisted"
    assert row["volume_ml"] == pytest.approx(p.volume_ml, abs=1e-3)
    assert row["mean_hu"] == pytest.approx(p.mean_hu, abs=0.05)
    assert row["long_axis_mm"] == pytest.approx(p.long_axis_mm, abs=0.051)
    # Ctrl+Z takes it back in one step
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(20)
    assert not s.reading.lesions
    assert w.seg_btn.objectName() == "recist.export_seg"
    assert w.assist_panel.propose_btn.objectName() == "recist.propose"
    assert np.isfinite(a.last_shown_s)


def test_an_alt_click_beside_the_image_is_a_notice_not_an_unhandled_error(
    make_napari_viewer, qtbot, phantom
):
    """The worker's error went to the panel and, raised again on the GUI thread by
    napari's worker, to napari's unhandled-error notification with its traceback."""
    import sys

    vol, _ = phantom
    w = make_widget(make_napari_viewer)
    s, a = w.session, w.session.assist
    s.open_layers([image_layer_data(vol)])
    pump(50)
    w.viewer.camera.zoom = w.viewer.camera.zoom / 4  # the image small, the canvas around it
    pump(20)
    raised: list = []
    hook, sys.excepthook = sys.excepthook, lambda *exc: raised.append(exc[1])
    try:
        canvas = w.main_canvas()
        corner = canvas.rect().topLeft() + type(canvas.rect().topLeft())(4, 4)
        QTest.mouseMove(canvas, corner)
        pump(15)
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, corner)
        assert wait_until(lambda: a.status.startswith("No proposal"), 15000), a.status
        pump(30)
    finally:
        sys.excepthook = hook
    assert raised == []
    assert not a.has_pending and not s.reading.lesions
    assert any(n[0] == "warning" and "No proposal here" in n[1] for n in s.notices)


def test_accept_then_switch_to_the_follow_up_and_zoom(make_napari_viewer, qtbot, monkeypatch):
    """In a real window: Alt+click and Enter on the baseline lesion, the follow-up
    chosen in the time-point box (a real key press), then a zoom. The switch emptied
    the hidden live-length layer, napari kept its old view indices, and every redraw
    with a new scale raised ``IndexError`` in that layer's text (PyQt aborts on an
    exception in ``paintGL``). Now nothing is raised, and the still-selected lesion is
    shown where the registration puts it at the follow-up."""
    from .test_assist import _known_registration, _layers_of_pair

    layers, pair = _layers_of_pair()
    calls: list = []
    _known_registration(monkeypatch, pair, calls)
    w = make_widget(make_napari_viewer)
    s, a = w.session, w.session.assist
    a.auto_register = True
    s.open_layers(layers)
    pump(50)
    c0 = pair.centers_baseline[0]
    s.nav.set_z(s.panes["current"], float(c0[2]))
    pump(20)
    alt_click(w, c0)
    assert wait_until(lambda: a.has_pending, 15000), a.status
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Return)
    pump(30)
    lid = s.active_lesion
    assert lid == "T1" and not a.has_pending
    w.tp_combo.setFocus()
    QTest.keyClick(w.tp_combo, Qt.Key.Key_End)  # the follow-up
    assert wait_until(lambda: a.target is not None, 15000), a.status
    pump(30)
    w.viewer.camera.zoom = w.viewer.camera.zoom * 1.5  # a redraw at a new scale
    pump(30)
    assert s.current_tp != "baseline" and a.target[0] == lid
    bpos = np.asarray(s.reading.lesion(lid).findings["baseline"].position_lps)
    assert np.linalg.norm(np.asarray(a.target[2]) - pair.transform.push(bpos)) < 2.0
    assert abs(s.nav.z(s.panes["current"]) - a.target[2][2]) < 2.6  # its slice (5 mm)


def test_an_accepted_lines_end_is_dragged_with_one_press(make_napari_viewer, qtbot, phantom):
    """After Enter the status says "drag an end point to edit it", but the first press
    on an end only selected the line (napari's direct mode) and the reader had to
    press again. The active lesion's lines are now selected, their ends shown as
    handles: one real drag moves the end and makes the measurement assisted_edited."""
    from .conftest import real_drag

    w, s, a, _liver = proposed_on_liver(make_napari_viewer, phantom)
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Return)
    pump(30)
    lid = s.active_lesion
    before = s.reading.lesion(lid).findings["baseline"].long_mm
    lines = s.panes["current"].layers.lines
    i = [str(x) for x in lines.features["axis"]].index("long")
    assert lines.mode == "direct"
    end, other = (np.asarray(lines.data_to_world(v), float) for v in lines.data[i])
    out = (end - other) / np.linalg.norm(end - other)
    real_drag(w.main_canvas(), w.viewer, end, end + 6.0 * out, steps=8)
    pump(30)
    after = s.reading.lesion(lid).findings["baseline"]
    assert after.method == "assisted_edited"
    assert after.long_mm > before + 3.0
    # the status names that edit, not the acceptance before it
    assert a.status.startswith(f"Done: move line {lid} at baseline. Ctrl+Z undoes"), a.status
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(30)
    assert s.reading.lesion(lid).findings["baseline"].long_mm == pytest.approx(before)


def test_a_background_notice_does_not_scroll_the_dock(make_napari_viewer, qtbot, monkeypatch):
    """The panel scrolls into sight when its status asks for something; a background
    notice ("Registering baseline to follow-up…", shown when the reader switches time
    point in the study section) must not scroll that section away."""
    from napari_recist._qt.panels import ancestor
    from qtpy.QtWidgets import QScrollArea

    from .test_assist import _known_registration, _layers_of_pair

    layers, pair = _layers_of_pair()
    _known_registration(monkeypatch, pair, [])
    w = make_widget(make_napari_viewer)
    s, a = w.session, w.session.assist
    a.auto_register = True
    s.open_layers(layers)
    pump(50)
    area = ancestor(w.assist_panel, QScrollArea)
    area.verticalScrollBar().setValue(0)
    s.show_timepoint(s.reading.timepoints[-1].label)  # the follow-up, nothing selected
    seen = set()
    for _ in range(20):  # the notice comes and goes with the background registration
        seen.add(a.status)
        pump(20)
    assert any("egister" in t for t in seen), seen
    assert not a.asks_attention
    assert area.verticalScrollBar().value() == 0


def test_a_proposed_end_is_dragged_with_one_press(make_napari_viewer, qtbot, phantom):
    """A proposal's lines were not selected, so the first press on an end only
    selected the line and a drag did nothing. Now one real drag moves the end, the
    live length is that line's, and Enter records it as assisted_edited."""
    from .conftest import real_drag

    w, s, a, _liver = proposed_on_liver(make_napari_viewer, phantom)
    prop, _ = a._layers["current"]
    i = [str(x) for x in prop.features["axis"]].index("long")
    before = a.pending.proposal.long_axis_mm
    end, other = (np.asarray(prop.data_to_world(v), float) for v in prop.data[i])
    out = (end - other) / np.linalg.norm(end - other)
    real_drag(w.main_canvas(), w.viewer, end, end + 6.0 * out, steps=8)
    pump(30)
    longer = float(w.live_label.text().split()[1])
    assert longer > before + 3.0 and f"LA {longer:.1f} mm" in a.status
    QTest.keyClick(w.main_canvas(), Qt.Key.Key_Return)
    pump(30)
    f = s.reading.lesion(s.active_lesion).findings["baseline"]
    assert f.method == "assisted_edited" and f.long_mm == pytest.approx(longer, abs=0.05)
