"""The dock widget in a real napari window, driven by real Qt input events.

Mouse drags, clicks, wheel notches and key presses are sent to the canvases' and
the widgets' Qt objects (``QTest``), as a reader's hand would send them; what is
saved on disk is read back. Includes the corruption sequences of issue 9.
"""

from __future__ import annotations

import json
import os

import napari_recist._qt.widget as widget_module
import numpy as np
import pandas as pd
import pytest
from napari_recist._qt.widget import RecistWidget
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QAbstractButton, QComboBox, QLineEdit

from recist_tool.annotations import read_annotations
from recist_tool.reading import Reading, read_audit, sidecar_path

from .conftest import (
    add_sample,
    fresh,
    lesions_of,
    napari_drag,
    pump,
    real_click,
    real_drag,
    real_wheel,
    to_canvas,
    wait_until,
    world,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def make_widget(make_napari_viewer, sample_layers=None) -> RecistWidget:
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1400, 900)
    w = RecistWidget(viewer)
    viewer.window.add_dock_widget(w, name="RECIST measurement", area="right")
    pump(50)
    if sample_layers is not None:
        w.session.open_layers(fresh(sample_layers))
        pump(50)
    return w


@pytest.fixture
def widget(make_napari_viewer, sample_layers, qtbot) -> RecistWidget:
    """A shown napari window with the sample study opened through the widget."""
    return make_widget(make_napari_viewer, sample_layers)


def canvas(w: RecistWidget):
    return w.main_canvas()


def go_to_slice(w: RecistWidget, pane_name: str, z: float) -> None:
    pane = w.session.panes[pane_name]
    w.session.nav.set_z(pane, z)
    pump(20)


def draw(w: RecistWidget, label: str, axis: str, ends_lps) -> None:
    """Draw through napari's mouse callbacks (fast; the real-event tests use QTest)."""
    s = w.session
    pane = s.pane_of(label)
    a, b = (world(p) for p in ends_lps)
    go_to_slice(w, pane.name, a[0])
    s.active_pane = pane.name
    s.arm(axis)
    napari_drag(pane.viewer, pane.layers.lines, a, b)


def place_point(w: RecistWidget, label: str, lps) -> None:
    s = w.session
    pane = s.pane_of(label)
    s.active_pane = pane.name
    s.arm("point")
    go_to_slice(w, pane.name, world(lps)[0])
    napari_drag(pane.viewer, pane.layers.points, world(lps), world(lps), steps=0)


def read_baseline(w: RecistWidget, truth) -> dict[str, str]:
    """Add and measure the sample's baseline lesions; returns truth id -> widget id."""
    s = w.session
    s.show_timepoint("baseline")
    ids = {}
    for tid, les in lesions_of(truth, 0).items():
        w.kind_combo.setCurrentIndex(w.kind_combo.findData(les["kind"]))
        w.organ_combo.setCurrentText(les["organ"])
        w.nodal_box.setChecked(les["nodal"])
        w.add_btn.click()
        ids[tid] = s.active_lesion
        if les["kind"] == "target":
            draw(w, "baseline", "long", les["long_axis_endpoints_lps"])
            if les["nodal"]:
                draw(w, "baseline", "short", les["short_axis_endpoints_lps"])
        else:
            place_point(w, "baseline", les["center_lps"])
    return ids


def choose_timepoint(w: RecistWidget, label: str) -> None:
    i = w.tp_combo.findText(label)
    w.tp_combo.setCurrentIndex(i)
    w.tp_combo.activated.emit(i)
    pump(20)


def read_followup(w: RecistWidget, truth, ids: dict[str, str]) -> None:
    s = w.session
    fu = [tp.label for tp in s.reading.timepoints][1]
    choose_timepoint(w, fu)
    assert s.current_tp == fu
    for tid, les in lesions_of(truth, 1).items():
        row = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
        w.lesion_table.selectRow(row.index(ids[tid]))
        assert s.active_lesion == ids[tid]
        if les["kind"] == "target":
            draw(w, fu, "long", les["long_axis_endpoints_lps"])
            if les["nodal"]:
                draw(w, fu, "short", les["short_axis_endpoints_lps"])
        else:
            w.status_btns["present"].click()


def on_disk(w: RecistWidget) -> dict:
    """The reading as saved (sidecar document, after the background save)."""
    w.session.flush()
    return json.loads(sidecar_path(w.session.save_path).read_text())


def findings_at(doc: dict, label: str) -> dict:
    out = {}
    for le in doc["lesions"]:
        for f in le["findings"]:
            if f["timepoint"] == label:
                out[le["lesion_id"]] = {k: f[k] for k in ("long_axis", "short_axis", "marker")}
    return out


# ---------------------------------------------------------------------------- reading


def test_a_full_read_with_real_mouse_events(widget, truth, readings_dir):
    """Baseline and follow-up drawn with real drags and clicks on napari's canvas."""
    w = widget
    s = w.session
    assert s.current_tp == "baseline"  # nothing measured: opens on baseline
    ids = {}
    for tid, les in lesions_of(truth, 0).items():
        w.kind_combo.setCurrentIndex(w.kind_combo.findData(les["kind"]))
        w.organ_combo.setCurrentText(les["organ"])
        w.nodal_box.setChecked(les["nodal"])
        QTest.mouseClick(w.add_btn, Qt.MouseButton.LeftButton)
        ids[tid] = s.active_lesion
        if les["kind"] == "target":
            a, b = (world(p) for p in les["long_axis_endpoints_lps"])
            go_to_slice(w, "current", a[0])
            real_drag(canvas(w), w.viewer, a, b)
            if les["nodal"]:
                QTest.mouseClick(w.short_btn, Qt.MouseButton.LeftButton)
                a, b = (world(p) for p in les["short_axis_endpoints_lps"])
                real_drag(canvas(w), w.viewer, a, b)
        else:
            c = world(les["center_lps"])
            go_to_slice(w, "current", c[0])
            real_click(canvas(w), w.viewer, c)
    voxel = max(s.layers_of("baseline").image.scale[1:])
    base = {le.lesion_id: le.findings["baseline"] for le in s.reading.lesions}
    for tid, les in lesions_of(truth, 0).items():
        f = base[ids[tid]]
        if les["kind"] == "target":
            assert f.long_mm == pytest.approx(les["long_axis_mm"], abs=2 * voxel)
        else:
            assert f.marker is not None and f.status == "present"
    # Follow-up, with the comparison pane (baseline) beside it.
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(200)
    assert s.compare_on and s.compare_tp == "FU1"
    choose_timepoint(w, "FU1")  # the panes swap: baseline beside FU1
    assert s.current_tp == "FU1" and s.compare_tp == "baseline"
    assert w.kind_combo.currentData() == "new"  # offered at follow-up
    for tid, les in lesions_of(truth, 1).items():
        row = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
        w.lesion_table.selectRow(row.index(ids[tid]))
        if les["kind"] == "target":
            QTest.mouseClick(w.long_btn, Qt.MouseButton.LeftButton)
            a, b = (world(p) for p in les["long_axis_endpoints_lps"])
            go_to_slice(w, "current", a[0])
            real_drag(canvas(w), w.viewer, a, b)
            if les["nodal"]:
                QTest.mouseClick(w.short_btn, Qt.MouseButton.LeftButton)
                a, b = (world(p) for p in les["short_axis_endpoints_lps"])
                real_drag(canvas(w), w.viewer, a, b)
        else:
            QTest.mouseClick(w.status_btns["present"], Qt.MouseButton.LeftButton)
    for tid, les in lesions_of(truth, 1).items():
        if les["kind"] == "target":
            f = s.reading.lesion(ids[tid]).findings["FU1"]
            assert f.long_mm == pytest.approx(les["long_axis_mm"], abs=2 * voxel)
    rows = s.results.timepoint_rows()
    assert rows[1]["overall_response"] in ("PR", "SD", "PD")
    text = w.response_label.text()
    assert rows[1]["overall_response"] in text and "Why:" in text and rows[1]["reason"] in text
    assert "Non-target" in text and "New lesions" in text
    # ... in sight without scrolling: pinned outside the dock's scrolling part.
    from qtpy.QtWidgets import QScrollArea

    assert not any(a.isAncestorOf(w.response_label) for a in w.findChildren(QScrollArea))
    assert w.response_label.isVisible() and not w.response_label.visibleRegion().isEmpty()
    s.flush()  # the background save of the last change
    saved = read_annotations(readings_dir / f"{truth['patient_id']}.csv")
    cols = ["lesion_id", "timepoint", "status", "long_axis_mm", "short_axis_mm"]
    assert len(saved) == 8, saved[cols]
    assert set(saved["reader"]) == {"dr test"}
    audit = read_audit(readings_dir / f"{truth['patient_id']}.audit.jsonl")
    assert sum(r["action"] == "draw_line" for r in audit) == 8
    assert sum(r["action"] == "draw_marker" for r in audit) == 1


def test_corruption_sequences_of_issue_9_cannot_happen(widget, truth):
    """Side by side, Current = FU1: (1) a drag on the follow-up pane while baseline's
    lines layer is still active over there, (2) a click on the follow-up pane where
    baseline's marker is, (3) a drag on the baseline pane while FU1's lines layer is
    active in napari's viewer. Real mouse events; the other time point on disk is
    unchanged each time."""
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(200)
    assert s.current_tp == "FU1" and s.compare_tp == "baseline"
    before = on_disk(w)
    base0, fu0 = findings_at(before, "baseline"), findings_at(before, "FU1")
    cmp_pane = w.compare_pane
    cmp_view = s.compare_viewer
    base_lines = s.layers_of("baseline").lines
    # (1) baseline's lines layer active (and in select mode) in its own pane …
    cmp_view.layers.selection.active = base_lines
    base_lines.mode = "direct"
    # … and a drag on the FU1 pane across where baseline's T1 line is.
    les = lesions_of(truth, 0)["L1"]
    a = world(les["long_axis_endpoints_lps"][0])
    go_to_slice(w, "current", a[0])
    w.viewer.layers.selection.active = s.layers_of("FU1").image
    real_drag(canvas(w), w.viewer, a, a + np.array([0, 40.0, -30.0]))
    assert findings_at(on_disk(w), "baseline") == base0
    # (2) a click on the FU1 pane where baseline's marker is
    nt = world(lesions_of(truth, 0)["NT1"]["center_lps"])
    go_to_slice(w, "current", nt[0])
    cmp_view.layers.selection.active = s.layers_of("baseline").points
    real_click(canvas(w), w.viewer, nt)
    real_drag(canvas(w), w.viewer, nt, nt + np.array([0, 80.0, 80.0]))
    assert findings_at(on_disk(w), "baseline") == base0
    # (3) FU1's lines layer active in select mode in napari's viewer, a drag on the
    # baseline pane across FU1's T1 line end.
    fu_lines = s.layers_of("FU1").lines
    w.viewer.layers.selection.active = fu_lines
    fu_lines.mode = "direct"
    fu = lesions_of(truth, 1)["L1"]
    fa = world(fu["long_axis_endpoints_lps"][0])
    go_to_slice(w, "comparison", fa[0])
    real_drag(cmp_pane.canvas_widget, cmp_view, fa, fa + np.array([0, 0, 300.0]))
    after = on_disk(w)
    assert findings_at(after, "FU1") == findings_at(before, "FU1") or (
        findings_at(after, "FU1") == fu0
    )
    assert findings_at(after, "baseline") == base0
    # The baseline pane is read-only: a right here is a pan/window, never an edit.
    assert not base_lines.editable


def test_slice_steps_relink_no_shader(widget, truth, monkeypatch):
    """Paging through measured slices with real key presses re-links no shader
    program (vispy/vispy#2568: a Shapes layer's mesh update made vispy rebuild its
    program at every step; ``napari_recist._qt.vispy_fixes``)."""
    from vispy.visuals.shaders.program import ModularProgram

    w = widget
    s = w.session
    read_baseline(w, truth)
    pane = s.panes["current"]
    zs = sorted(
        {
            float(world(les["long_axis_endpoints_lps"][0])[0])
            for les in lesions_of(truth, 0).values()
            if les["kind"] == "target"
        }
    )
    s.nav.set_z(pane, zs[0] - 10.0)
    pump(20)

    def page(n: int) -> list[float]:
        seen = []
        for _ in range(n):
            QTest.keyClick(canvas(w), Qt.Key.Key_Down)
            pump(5)
            seen.append(s.nav.z(pane))
        for _ in range(n):
            QTest.keyClick(canvas(w), Qt.Key.Key_Up)
            pump(5)
        return seen

    n = int((zs[-1] - zs[0] + 20.0) / 5.0) + 1
    page(n)  # first pass: each visual's first draw builds its program
    builds = []
    build = ModularProgram._build
    monkeypatch.setattr(ModularProgram, "_build", lambda self: (builds.append(1), build(self)))
    seen = page(n)
    # the steps crossed slices with lines and slices without
    with_lines = [z for z in seen if any(abs(z - zl) < 2.5 for zl in zs)]
    assert with_lines and len(with_lines) < len(seen)
    assert builds == []


def test_keys_work_wherever_the_focus_is(widget, truth):
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    pane = s.panes["current"]
    z0 = s.nav.z(pane)
    # After clicking a dock button, the arrow keys page slices (buttons take no focus).
    QTest.mouseClick(w.long_btn, Qt.MouseButton.LeftButton)
    target = w.window().focusWidget() or canvas(w)
    QTest.keyClick(target, Qt.Key.Key_Down)
    pump(20)
    assert s.nav.z(pane) == pytest.approx(z0 + 5.0)
    QTest.keyClick(target, Qt.Key.Key_PageUp)
    pump(20)
    assert s.nav.z(pane) < z0
    # Alt+G while a combo box has the focus toggles the comparison pane.
    w.kind_combo.setFocus()
    pump(10)
    QTest.keyClick(w.kind_combo, Qt.Key.Key_G, Qt.KeyboardModifier.AltModifier)
    pump(150)
    assert s.compare_on
    QTest.keyClick(w.kind_combo, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert tuple(s.layers_of("baseline").image.contrast_limits) == (-1350.0, 150.0)
    # Alt+1 in the organ field sets the window; nothing is typed.
    edit = w.organ_combo.lineEdit()
    edit.setFocus()
    w.organ_combo.setCurrentText("liver")
    QTest.keyClick(edit, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert w.organ_combo.currentText() == "liver"
    assert tuple(s.layers_of("baseline").image.contrast_limits) == (-160.0, 240.0)
    # Arrows in a text field move its cursor, not the slice.
    z1 = s.nav.z(pane)
    QTest.keyClick(edit, Qt.Key.Key_Up)
    assert s.nav.z(pane) == z1
    # Ctrl+Z in a text field with typing undoes the typing; elsewhere the reading.
    QTest.keyClicks(edit, "x")
    assert w.organ_combo.currentText() == "liverx"
    n = len(s.reading.lesions)
    QTest.keyClick(edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.organ_combo.currentText() == "liver" and len(s.reading.lesions) == n
    assert s.reading.lesion(ids["NT1"]).findings["baseline"].marker is not None
    QTest.keyClick(canvas(w), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(20)
    assert "baseline" not in s.reading.lesion(ids["NT1"]).findings  # the ring is undone
    QTest.keyClick(
        canvas(w),
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert s.reading.lesion(ids["NT1"]).findings["baseline"].marker is not None
    QTest.keyClick(canvas(w), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(canvas(w), Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert s.reading.lesion(ids["NT1"]).findings["baseline"].marker is not None
    # Alt+N walks the lesions and goes to each.
    QTest.keyClick(canvas(w), Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)
    assert s.active_lesion == ids["L1"]
    assert {"undo", "redo", "next lesion", "comparison pane"} <= set(w.keys.fired)


def test_a_follow_up_assessed_from_the_keyboard_alone(widget, truth):
    """Alt+J goes to the next lesion the time point still needs (the table says "to
    do"); Alt+I, Alt+U, Alt+E and Alt+M give statuses without the mouse."""
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    fu = [tp.label for tp in s.reading.timepoints][1]
    choose_timepoint(w, fu)
    kinds = {lid: s.reading.lesion(lid).kind for lid in ids.values()}

    def table() -> dict[str, str]:
        rows = range(w.lesion_table.rowCount())
        return {w.lesion_table.item(r, 0).text(): w.lesion_table.item(r, 5).text() for r in rows}

    assert set(table().values()) == {"to do"}
    key = {"target": Qt.Key.Key_E, "non_target": Qt.Key.Key_I}
    seen = []
    for _ in range(len(ids)):
        QTest.keyClick(canvas(w), Qt.Key.Key_J, Qt.KeyboardModifier.AltModifier)
        pump(20)
        seen.append(s.active_lesion)
        QTest.keyClick(canvas(w), key[kinds[s.active_lesion]], Qt.KeyboardModifier.AltModifier)
        pump(20)
    assert seen == list(ids.values())  # each once, in the table's order
    assert s.reading.still_to_assess(fu) == []
    nt = next(lid for lid, k in kinds.items() if k == "non_target")
    assert table()[nt] == "present"
    assert {v for k, v in table().items() if kinds[k] == "target"} == {"not evaluated"}
    QTest.keyClick(canvas(w), Qt.Key.Key_J, Qt.KeyboardModifier.AltModifier)
    assert s.notices[-1] == ("info", f"every lesion is assessed at {fu}")
    # pressed again: the message is counted, not stacked over the others
    before = len(w.messages.items)
    for _ in range(2):
        QTest.keyClick(canvas(w), Qt.Key.Key_J, Qt.KeyboardModifier.AltModifier)
        pump(20)
    assert len(w.messages.items) == before
    assert w.messages.label.text().count("every lesion is assessed") == 1
    assert "(× 3)" in w.messages.label.text()
    # Alt+U: a non-target's unequivocal progression; Alt+M: a target too small
    w.lesion_table.selectRow(list(table()).index(nt))
    QTest.keyClick(canvas(w), Qt.Key.Key_U, Qt.KeyboardModifier.AltModifier)
    assert s.reading.lesion(nt).findings[fu].status == "progression"
    tid = next(lid for lid, k in kinds.items() if k == "target")
    w.lesion_table.selectRow(list(table()).index(tid))
    QTest.keyClick(canvas(w), Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
    assert table()[tid] == "too small"
    assert {"next lesion to assess", "present", "unequivocal progression"} <= set(w.keys.fired)
    assert "(Alt+U)" in w.status_btns["progression"].toolTip()


def test_a_proposal_left_for_the_next_lesion_is_dropped_not_accepted_for_it(widget, truth):
    """At follow-up, Alt+J → T1, Enter (its proposal), then Alt+J → T2 before
    accepting: the status offered T2 a proposal ("Enter (or Propose) proposes its axes
    there"), but Enter accepted T1's proposal. Now leaving T1 drops its proposal and
    says so; Enter proposes T2's."""
    w = widget
    s, a = w.session, w.session.assist
    read_baseline(w, truth)
    fu = [tp.label for tp in s.reading.timepoints][1]
    choose_timepoint(w, fu)
    QTest.keyClick(canvas(w), Qt.Key.Key_J, Qt.KeyboardModifier.AltModifier)
    first = s.active_lesion
    assert wait_until(a.can_enter, 20000)
    QTest.keyClick(canvas(w), Qt.Key.Key_Return)
    assert wait_until(lambda: a.has_pending, 20000) and a.pending.lesion_id == first
    QTest.keyClick(canvas(w), Qt.Key.Key_J, Qt.KeyboardModifier.AltModifier)
    pump(30)
    second = s.active_lesion
    assert second != first and not a.has_pending
    assert s.notices[-1][0] == "warning"
    assert f"{first}'s proposal at {fu} was not accepted" in s.notices[-1][1]
    assert wait_until(a.can_enter, 20000) and "proposes its axes there" in a.status
    QTest.keyClick(canvas(w), Qt.Key.Key_Return)
    assert wait_until(lambda: a.has_pending, 20000) and a.pending.lesion_id == second
    QTest.keyClick(canvas(w), Qt.Key.Key_Return)
    assert wait_until(lambda: not a.has_pending, 5000)
    assert fu not in s.reading.lesion(first).findings
    assert s.reading.lesion(second).findings[fu].method == "assisted"


def test_a_non_target_s_equivocal_progression_has_a_button(widget, truth):
    """The engine dates a non-target's progression back to an equivocal one (RECIST
    1.1 §4.4.4), but the status could not be given in napari: *Equivocal* was for new
    lesions only and stayed disabled on a non-target."""
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    fu = [tp.label for tp in s.reading.timepoints][1]
    choose_timepoint(w, fu)
    rows = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
    nt = ids["NT1"]
    w.lesion_table.selectRow(rows.index(nt))
    pump(20)
    btn = w.status_btns["equivocal"]
    assert btn.isEnabled() and "equivocal progression" in btn.toolTip()
    QTest.mouseClick(btn, Qt.MouseButton.LeftButton)
    assert s.reading.lesion(nt).findings[fu].status == "equivocal_progression"
    assert w.lesion_table.item(rows.index(nt), 5).text() == "equivocal progression"
    assert not w.status_btns["disappeared"].isEnabled()  # Absent is a non-target's


def test_wheel_ctrl_wheel_and_right_drag_on_the_canvas(widget):
    w = widget
    s = w.session
    s.set_compare(True)
    w._show_compare_dock()
    pump(200)
    cur, cmp_ = s.panes["current"], s.panes["comparison"]
    z0 = s.nav.z(cur)
    real_wheel(canvas(w), -2)  # towards the user: two slices on
    assert s.nav.z(cur) == pytest.approx(z0 + 10.0)
    assert s.nav.z(cmp_) == pytest.approx(z0 + 10.0)  # linked by patient position
    zoom0 = w.viewer.scene.camera.zoom
    real_wheel(canvas(w), 1, ctrl=True)
    assert w.viewer.scene.camera.zoom == pytest.approx(zoom0 * 1.15)
    assert s.nav.z(cur) == pytest.approx(z0 + 10.0)
    assert s.compare_viewer.scene.camera.zoom == pytest.approx(zoom0 * 1.15)  # linked
    # Right-drag: window/level, even while the lines layer is in line mode.
    s.arm("long")
    lines = s.layers_of("baseline").lines
    assert lines.mode == "add_line"
    c = np.asarray(w.viewer.scene.camera.center)
    real_drag(
        canvas(w), w.viewer, c, c + np.array([0, 20.0, 40.0]), button=Qt.MouseButton.RightButton
    )
    assert len(lines.data) == 0
    level, width = s.nav.window
    assert width > 400.0 and level > 40.0
    assert tuple(s.layers_of("FU1").image.contrast_limits) == (level - width / 2, level + width / 2)
    # The cursor read-out: HU and patient position.
    p = to_canvas(w.viewer, c)
    for dx in (0, 2, 4):  # plain moves (napari throttles them; a loaded machine is late)
        QTest.mouseMove(canvas(w), p + type(p)(dx, 0))
        pump(30)
    wiggle = iter(range(10**6))

    def shown() -> bool:  # keep moving: a throttled move may be dropped on a loaded machine
        QTest.mouseMove(canvas(w), p + type(p)(next(wiggle) % 3, 0))
        return cur.cursor_text.text.startswith("HU ")

    assert wait_until(shown, timeout_ms=5000)
    assert " mm" in cur.cursor_text.text
    # Fit: each pane shows its whole image (centred, inside its own canvas).
    QTest.mouseClick(w.compare_pane.fit_btn, Qt.MouseButton.LeftButton)
    pump(50)
    for pane in (cur, cmp_):
        assert_whole_image_on_screen(pane)


def assert_whole_image_on_screen(pane) -> None:
    h, wd = pane.viewer.canvas.size
    ext = pane.layers.image.extent.world[:, 1:]
    cam = pane.viewer.scene.camera
    c = np.asarray(cam.center)[-2:]
    lo = (ext[0] - c) * cam.zoom + np.array([h, wd]) / 2
    hi = (ext[1] - c) * cam.zoom + np.array([h, wd]) / 2
    assert np.all(lo >= -1) and hi[0] <= h + 1 and hi[1] <= wd + 1, (lo, hi, (h, wd))


def test_both_panes_open_fitted_and_stay_so_when_going_to_a_lesion(widget, truth):
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(400)
    for pane in s.panes.values():
        assert_whole_image_on_screen(pane)
    s.select_lesion(ids["L1"])  # on screen already: the view does not move
    pump(30)
    for pane in s.panes.values():
        assert_whole_image_on_screen(pane)


def test_the_comparison_pane_is_a_second_canvas_of_equal_width(widget):
    w = widget
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(300)
    cmp_w = w.compare_pane.canvas_widget.width()
    main_w = canvas(w).width()
    assert cmp_w > 300 and main_w > 300
    assert abs(cmp_w - main_w) < 0.25 * max(cmp_w, main_w)
    assert w.compare_pane.qt_viewer.viewer is w.session.compare_viewer
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(50)
    assert not w._compare_dock.isVisible()


def test_delete_asks_says_what_it_removes_and_undo_brings_it_back(widget, truth, monkeypatch):
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    asked = []
    monkeypatch.setattr(widget_module, "confirm", lambda p, t, x: asked.append((t, x)) or True)
    s.select_lesion(ids["L1"])
    QTest.mouseClick(w.delete_btn, Qt.MouseButton.LeftButton)
    title, text = asked[-1]
    assert title == "Delete lesion" and "T1 (target, liver): baseline 42.0 mm" in text
    assert "Ctrl+Z" in text
    assert ids["L1"] not in {le.lesion_id for le in s.reading.lesions}
    QTest.keyClick(canvas(w), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert s.reading.lesion(ids["L1"]).findings["baseline"].long_mm == 42.0
    read_followup(w, truth, ids)
    # At follow-up, a lesion with a baseline finding (read-only from here): only what
    # is recorded at FU1 can be deleted, and the dialog says so.
    s.select_lesion(ids["L1"])
    QTest.mouseClick(w.delete_btn, Qt.MouseButton.LeftButton)
    title, text = asked[-1]
    assert title == "Delete at this time point only"
    assert "baseline 42.0 mm, FU1 26.0 mm" in text
    assert set(s.reading.lesion(ids["L1"]).findings) == {"baseline"}


def test_checks_and_engine_errors_appear_next_to_the_lesion(widget, truth):
    w = widget
    s = w.session
    les = lesions_of(truth, 0)["N1"]
    w.organ_combo.setCurrentText("lymph node")
    w.nodal_box.setChecked(True)
    w.add_btn.click()
    draw(w, "baseline", "long", les["long_axis_endpoints_lps"])
    a, b = np.asarray(les["long_axis_endpoints_lps"])
    draw(w, "baseline", "short", [a + 0.1 * (b - a), a + 0.6 * (b - a)])  # not perpendicular
    assert "from the long axis" in w.checks_label.text()
    assert "from the long axis" in w.lesion_table.item(0, 6).toolTip()
    assert "(+1)" in w.lesion_table.item(0, 6).text()  # more than one: said in the row
    assert s.layers_of("baseline").labels.features["label"].str.contains("⚠").any()
    # A target added at follow-up: the error is in its row, the response stays.
    choose_timepoint(w, "FU1")
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("target"))
    w.add_btn.click()
    draw(w, "FU1", "long", [[0.0, 40.0, 30.0], [12.0, 40.0, 30.0]])
    row = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
    i = row.index(s.active_lesion)
    assert "make it New" in w.lesion_table.item(i, 6).text()
    assert "baseline" in w.response_label.text()  # not blanked
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("new"))
    w.update_btn.click()
    assert s.active_lesion == "NL1"


def test_series_of_two_acquisitions_and_tilt_can_be_read_from_the_widget(
    make_napari_viewer, tmp_path, qtbot
):
    from recist_tool.synth.phantom import write_series

    study = tmp_path / "study"
    write_series(study / "two", second_phase=True, shape=(12, 48, 48), series_number=3)
    write_series(study / "tilt", tilt_deg=15.0, shape=(12, 48, 48), series_number=4)
    w = make_widget(make_napari_viewer)
    loaded = w.open_folder(study)
    assert not loaded.layers and len(loaded.problems) == 2
    assert w.problems.isVisible()
    texts = [lab.text() for lab in w.problems.findChildren(type(w.patient_label))]
    assert any("duplicate slice position" in t for t in texts)
    assert any("gantry tilt" in t for t in texts)
    first = next(t for t in texts if "duplicate" in t)
    assert first.index("duplicate") < first.index("series UID")  # reason first, UIDs last
    buttons = {b.text(): b for b in w.problems.findChildren(QAbstractButton)}
    QTest.mouseClick(buttons["Acquisition 2 (12 images)"], Qt.MouseButton.LeftButton)
    pump(50)
    assert len(w.session.sources) == 1
    buttons = {b.text(): b for b in w.problems.findChildren(QAbstractButton)}
    QTest.mouseClick(buttons["Resample onto an orthogonal grid"], Qt.MouseButton.LeftButton)
    pump(50)
    assert len(w.session.sources) == 2
    assert not w.problems.problems
    assert any("resampled" in t for _, t in w.session.notices)


def test_every_control_has_a_stable_object_name(widget):
    from napari.qt import QtViewer

    w = widget
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(100)

    from qtpy.QtWidgets import QAbstractItemView

    def ours(c) -> bool:  # not napari's own (the comparison canvas' sliders) nor Qt's parts
        p = c.parentWidget()
        while p is not None:
            if isinstance(p, (QtViewer, QComboBox, QAbstractItemView)):
                return False
            p = p.parentWidget()
        return True

    controls = [
        c
        for root in (w, w.compare_pane)
        for kind in (QAbstractButton, QComboBox, QLineEdit)
        for c in root.findChildren(kind)
        if ours(c)
    ]
    missing = [
        f"{type(c).__name__} {getattr(c, 'text', lambda: '')()!r}"
        for c in controls
        if not c.objectName().startswith("recist.")
    ]
    assert not missing, missing
    assert len({c.objectName() for c in controls}) >= 30
    for name in ("recist.undo", "recist.redo", "recist.compare", "recist.compare_unlock"):
        assert w.findChild(QAbstractButton, name) or w.compare_pane.findChild(QAbstractButton, name)
    assert w.findChild(QLineEdit, "recist.reader") is not None


def test_the_reader_is_asked_once(make_napari_viewer, monkeypatch, sample_path, qtbot):
    store: dict[str, str] = {}

    class FakeSettings:
        def __init__(self, *a):
            pass

        def value(self, key, default=""):
            return store.get(key, default)

        def setValue(self, key, value):
            store[key] = value

    monkeypatch.delenv("RECIST_READER")
    monkeypatch.setattr(widget_module, "QSettings", FakeSettings)
    asked = []
    monkeypatch.setattr(widget_module, "ask_reader", lambda p, d: asked.append(d) or "dr who")
    w = make_widget(make_napari_viewer)
    w.open_folder(sample_path)
    assert asked and w.session.reading.reader == "dr who" and store["reader"] == "dr who"
    w2 = make_widget(make_napari_viewer)
    w2.open_folder(sample_path)
    assert len(asked) == 1 and w2.session.reader == "dr who"


def test_file_open_then_widget_and_another_patient_refused(make_napari_viewer, sample_layers):
    viewer = make_napari_viewer(show=True)
    w = RecistWidget(viewer)
    viewer.window.add_dock_widget(w)
    add_sample(viewer, sample_layers)  # as File > Open does
    pump(100)
    assert [tp.label for tp in w.session.reading.timepoints] == ["baseline", "FU1"]
    assert len([la for la in viewer.layers if la.name.startswith("#")]) == 1  # one time point
    data, kwargs, _ = fresh(sample_layers)[0]
    kwargs["metadata"]["dicom"] = {**kwargs["metadata"]["dicom"], "patient_id": "OTHER"}
    kwargs["metadata"]["recist_series"] = {
        **kwargs["metadata"]["recist_series"],
        "series_uid": "1.2.3.4.5",
    }
    n = len(viewer.layers)
    viewer.add_image(data, **kwargs)
    pump(100)
    assert len(viewer.layers) == n  # refused, no layer left
    assert "belongs to patient OTHER" in w.messages.text()


def test_save_close_reopen_restores_everything(
    make_napari_viewer, sample_layers, truth, readings_dir, qtbot
):
    w = make_widget(make_napari_viewer, sample_layers)
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    w.session.set_status("too_small", ids["L2"])
    before = w.session.reading.to_json()
    w.viewer.close()  # no explicit save: autosave must have kept everything
    w2 = make_widget(make_napari_viewer, sample_layers)
    assert w2.session.reading.to_json() == before
    assert len(w2.session.layers_of(w2.session.current_tp).lines.data) >= 1
    statuses = {
        (r.lesion_id, r.timepoint): r.status
        for r in read_annotations(w2.session.save_path).itertuples()
    }
    assert statuses[(ids["L2"], "FU1")] == "too_small"
    assert Reading.load(w2.session.save_path).to_json() == before


def test_a_split_lesion_from_the_csv_is_kept_shown_added_up_and_its_end_dragged(
    make_napari_viewer, sample_layers, truth, readings_dir, qtbot
):
    """The reading's CSV given a second part of L1 at FU1 (the plugin's README said to
    record split lesions there): reopened, the plugin dropped it and saved over it
    (SD became PR). Now the table shows the parts added up, a real drag of the drawn
    part's end (one press: a just-opened study panned instead) keeps the other part,
    and the saved CSV has both rows."""
    w = make_widget(make_napari_viewer, sample_layers)
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    csv = w.session.save_path
    w.viewer.close()
    frame = read_annotations(csv).drop(columns=["_source", "_line"])
    frame["fragment"] = ""
    l1 = (frame["lesion_id"] == ids["L1"]) & (frame["timepoint"] == "FU1")
    part = frame[l1].assign(long_axis_mm=12.0, short_axis_mm=8.0, fragment="b", method="")
    frame.loc[l1, "fragment"] = "a"
    pd.concat([frame, part], ignore_index=True).to_csv(csv, index=False)
    w2 = make_widget(make_napari_viewer, sample_layers)
    s = w2.session
    assert s.current_tp == "FU1"
    f = s.reading.lesion(ids["L1"]).findings["FU1"]
    whole = f.long_mm + 12.0

    def rows() -> list[str]:
        return [w2.lesion_table.item(r, 0).text() for r in range(w2.lesion_table.rowCount())]

    assert wait_until(lambda: ids["L1"] in rows(), 5000)  # the panels follow the first draw
    r = rows().index(ids["L1"])
    assert w2.lesion_table.item(r, 2).text() == f"{whole:.1f} (2)"
    assert "split at FU1" in w2.lesion_table.item(r, 0).toolTip()
    cell = w2.lesion_table.visualItemRect(w2.lesion_table.item(r, 0))
    QTest.mouseClick(w2.lesion_table.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    pump(50)
    lines = s.layers_of("FU1").lines
    assert lines.mode == "direct"
    i = [str(x) for x in lines.features["axis"]].index("long")
    a, b = (np.asarray(lines.data_to_world(v), float) for v in lines.data[i])
    s.nav.set_z(s.panes["current"], float(a[0]))
    pump(20)
    real_drag(canvas(w2), w2.viewer, a, a + 4 * (a - b) / np.linalg.norm(a - b), steps=8)
    pump(50)
    f = s.reading.lesion(ids["L1"]).findings["FU1"]
    assert f.long_mm > whole - 12.0 + 3.0 and f.fragments[0].long_axis_mm == 12.0
    s.flush()
    rows = read_annotations(csv)
    rows = rows[(rows["lesion_id"] == ids["L1"]) & (rows["timepoint"] == "FU1")]
    assert sorted(rows["fragment"]) == ["a", "b"] and 12.0 in set(rows["long_axis_mm"])


def test_a_target_that_split_is_measured_in_parts_with_real_events(widget, truth):
    """Shift+Alt+A (or *Add part*) arms another part of the selected target; a real
    drag draws it; the table, the labels and the response add the parts up; Ctrl+Z
    takes the part back; another lesion selected is not drawn as a part."""
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    lid = ids["L1"]
    row = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
    w.lesion_table.selectRow(row.index(lid))
    pump(20)
    first = s.reading.lesion(lid).findings["FU1"].long_mm
    lines = s.layers_of("FU1").lines
    i = [str(x) for x in lines.features["axis"]].index("long")
    a, b = (np.asarray(lines.data_to_world(v), float) for v in lines.data[i])
    s.nav.set_z(s.panes["current"], float(a[0]))
    pump(20)
    mods = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(canvas(w), Qt.Key.Key_A, mods)
    assert s.active_axis == "long:b" and lines.mode == "add_line"
    mid, half = (a + b) / 2 + np.array([0.0, 30.0, 0.0]), np.array([0.0, 0.0, 6.0])
    real_drag(canvas(w), w.viewer, mid - half, mid + half, steps=10)
    pump(50)
    f = s.reading.lesion(lid).findings["FU1"]
    assert f.fragment == "a" and [fr.label for fr in f.fragments] == ["b"]
    part = f.fragments[0].long_mm
    assert part == pytest.approx(12.0, abs=0.3) and f.long_mm == first
    r = [w.lesion_table.item(k, 0).text() for k in range(w.lesion_table.rowCount())].index(lid)
    assert w.lesion_table.item(r, 2).text() == f"{f.added_up('long'):.1f} (2)"
    texts = [str(x) for x in s.layers_of("FU1").labels.features["label"]]
    assert f"{lid}a {first:.1f} mm" in texts and f"{lid}b {part:.1f} mm" in texts
    sizes = s.evaluation.target_sizes.set_index(["lesion_id", "timepoint"])
    assert float(sizes.loc[(lid, "FU1"), "counted_mm"]) == pytest.approx(first + part)
    s.flush()
    rows = read_annotations(s.save_path)
    rows = rows[(rows["lesion_id"] == lid) & (rows["timepoint"] == "FU1")]
    assert sorted(rows["fragment"]) == ["a", "b"]
    # one part per Add part: drawn, its ends are handles (a drag there used to draw
    # part b again from the press point)
    assert wait_until(lambda: lines.mode == "direct") and s.active_axis == "long"
    assert f"{lid}b drawn" in s.notices[-1][1]
    end = mid + half
    real_drag(canvas(w), w.viewer, end, end + np.array([0.0, 0.0, 4.0]), steps=8)
    pump(50)
    f = s.reading.lesion(lid).findings["FU1"]
    assert [fr.label for fr in f.fragments] == ["b"] and f.long_mm == first
    assert f.fragments[0].long_mm == pytest.approx(part + 4.0, abs=0.5)  # its end moved
    QTest.keyClick(canvas(w), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(30)
    QTest.keyClick(canvas(w), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(30)
    assert s.reading.lesion(lid).findings["FU1"].fragments == ()
    assert "long:b" not in [str(x) for x in lines.features["axis"]]
    w.lesion_table.selectRow(row.index(ids["L2"]))
    assert s.active_axis == "long"  # part b was L1's


def test_a_target_that_coalesced_is_recorded_with_the_button(widget, truth, monkeypatch):
    """*Coalesced…* (a real click): the selected target counts 0 mm at FU1 and names
    the lesion whose long axis is the whole lesion's; the table says so; Ctrl+Z."""
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    asked = []
    monkeypatch.setattr(
        widget_module,
        "choose_item",
        lambda parent, title, text, items: asked.append(items) or ids["L1"],
    )
    row = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
    w.lesion_table.selectRow(row.index(ids["L2"]))
    pump(20)
    assert w.merge_btn.isEnabled()
    QTest.mouseClick(w.merge_btn, Qt.MouseButton.LeftButton)
    pump(20)
    assert asked == [[ids["L1"]]]  # the other non-nodal targets (not the node)
    f = s.reading.lesion(ids["L2"]).findings["FU1"]
    assert (f.long_mm, f.merged_into) == (0.0, ids["L1"])
    r = row.index(ids["L2"])
    assert w.lesion_table.item(r, 5).text() == f"coalesced → {ids['L1']}"
    sizes = s.evaluation.target_sizes.set_index(["lesion_id", "timepoint"])
    assert float(sizes.loc[(ids["L2"], "FU1"), "counted_mm"]) == 0.0
    QTest.keyClick(canvas(w), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(20)
    assert s.reading.lesion(ids["L2"]).findings["FU1"].merged_into == ""
    w.lesion_table.selectRow(row.index(ids["N1"]))
    pump(20)
    assert not w.merge_btn.isEnabled()  # a node is measured by its own short axis


def test_a_csv_changed_by_another_program_is_reported_at_once(widget, truth):
    """The autosave's writer finds the CSV changed by another program: the dock says
    so while the reader works on, not with the next change (which may never come)."""
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    s.flush()
    csv = s.save_path
    edited = csv.read_text().replace(",present,", ",absent,", 1)
    csv.write_text(edited)
    row = [w.lesion_table.item(r, 0).text() for r in range(w.lesion_table.rowCount())]
    w.lesion_table.selectRow(row.index(ids["L1"]))
    QTest.mouseClick(w.status_btns["not_evaluated"], Qt.MouseButton.LeftButton)
    said = lambda: any("changed on disk by another program" in t for _, t in w.messages.items)  # noqa: E731
    assert wait_until(said, 5000)  # no further change, no flush
    assert csv.read_text() == edited
    assert len(list(csv.parent.glob(f"{csv.stem}.conflict-*.csv"))) == 1


def test_a_crash_before_the_full_save_loses_nothing(
    make_napari_viewer, sample_layers, truth, readings_dir, monkeypatch, qtbot
):
    from napari_recist._autosave import AutoSaver

    monkeypatch.setattr(AutoSaver, "submit", lambda self, snapshot, path, before=None: None)
    w = make_widget(make_napari_viewer, sample_layers)
    read_baseline(w, truth)
    before = w.session.reading.to_json()
    csv = w.session.save_path
    assert not csv.exists()
    assert (readings_dir / f"{csv.stem}.recovery.json").exists()
    w2 = make_widget(make_napari_viewer, sample_layers)
    assert w2.session.reading.to_json() == before


def test_relabelling_a_time_point_from_the_series_table(widget, truth):
    w = widget
    s = w.session
    s.show_timepoint("FU1")
    s.form = {"kind": "new", "organ": "bone", "nodal": False}
    w.session.add_lesion()
    place_point(w, "FU1", lesions_of(truth, 0)["NT1"]["center_lps"])
    combo = w.series_table.cellWidget(1, 2)
    combo.setCurrentText("3 months")
    combo.activated.emit(combo.currentIndex())
    assert [tp.label for tp in s.reading.timepoints] == ["baseline", "3 months"]
    assert s.layers_of("3 months").points.name == "RECIST markers · 3 months"
    assert [w.tp_combo.itemText(i) for i in range(w.tp_combo.count())] == [
        "baseline",
        "3 months",
    ]


def test_works_through_napari_public_only_proxy(make_napari_viewer, sample_layers, recwarn):
    from napari.utils._proxies import PublicOnlyProxy

    viewer = make_napari_viewer(show=True)
    w = RecistWidget(PublicOnlyProxy(viewer))
    viewer.window.add_dock_widget(w)
    w.session.open_layers(fresh(sample_layers))
    w.add_btn.click()
    w.session.show_timepoint("FU1")
    w.compare_box.setChecked(True)
    pump(100)
    private = [r for r in recwarn if "private attribute" in str(r.message)]
    assert private == []
    assert len(w.session.reading.timepoints) == 2


def test_the_dock_widget_opens_from_the_plugin_menu(make_napari_viewer, sample_layers):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("recist-tool", "RECIST measurement")
    assert isinstance(w, RecistWidget)
    w.session.open_layers(fresh(sample_layers))
    assert [tp.label for tp in w.session.reading.timepoints] == ["baseline", "FU1"]
    w.add_btn.click()
    assert w.session.active_lesion == "T1"


def test_live_length_next_to_the_cursor_while_drawing_then_gone(widget, truth):
    w = widget
    s = w.session
    les = lesions_of(truth, 0)["L1"]
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("target"))
    QTest.mouseClick(w.add_btn, Qt.MouseButton.LeftButton)
    a, b = (world(p) for p in les["long_axis_endpoints_lps"])
    go_to_slice(w, "current", a[0])
    live = s.layers_of("baseline").live
    c = canvas(w)
    pa, pb = to_canvas(w.viewer, a), to_canvas(w.viewer, b)
    QTest.mouseMove(c, pa)
    pump(15)
    QTest.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pa)
    for t in (0.3, 0.6, 1.0):
        QTest.mouseMove(c, pa + (pb - pa) * t)
        pump(15)
    assert wait_until(lambda: live.visible and len(live.data) == 1)
    text = str(live.features["label"].iloc[0])
    assert text.endswith(" mm") and w.live_label.text().endswith(text)
    # Next to the moving end, not on it (the label does not hide the lesion's edge).
    assert np.linalg.norm(live.data[0][1:] - s.layers_of("baseline").lines.world_to_data(b)[1:]) > 2
    QTest.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pb)
    pump(60)
    assert not live.visible
    f = s.reading.lesion(s.active_lesion).findings["baseline"]
    assert f"{f.long_mm:.1f} mm" == text or abs(float(text.split()[0]) - f.long_mm) < 3


def test_a_click_in_line_mode_draws_no_line(widget, truth):
    """napari draws a ~3.5 px line on a click in line mode: it became a 1.5 mm
    long axis of a new lesion, or replaced the selected lesion's real one."""
    from napari_recist._sync import CLICK_HINT

    w = widget
    s = w.session
    les = lesions_of(truth, 0)["L1"]
    QTest.mouseClick(w.add_btn, Qt.MouseButton.LeftButton)
    a, b = (world(p) for p in les["long_axis_endpoints_lps"])
    go_to_slice(w, "current", a[0])
    c = canvas(w)
    real_drag(c, w.viewer, a, b)
    pump(60)
    lid = s.active_lesion
    measured = s.reading.lesion(lid).findings["baseline"].long_mm
    assert measured > 10
    lines = s.layers_of("baseline").lines
    middle = (np.asarray(a) + np.asarray(b)) / 2
    # a click (line mode still on, the lesion still selected), then one with no selection
    for select in (lid, None):
        s.select_lesion(select, jump=False)
        pump(10)
        assert lines.mode == "add_line"
        real_click(c, w.viewer, middle)
        pump(40)
        assert [le.lesion_id for le in s.reading.lesions] == [lid]
        assert s.reading.lesion(lid).findings["baseline"].long_mm == measured
        assert len(lines.data) == 1
        assert s.notices[-1] == ("info", CLICK_HINT)
        assert w.live_label.text() == "Length: –"


def test_docking_warms_the_canvas_unseen_then_a_study_opens_opaque(
    make_napari_viewer, sample_layers
):
    w = make_widget(make_napari_viewer)
    assert wait_until(lambda: w.warmed_up, 20000), "the warm-up was never drawn"
    assert w._warm_up is not None and w._warm_up.done  # it did warm (not switched off)
    pane = w.session.panes["current"]
    assert not pane.warming and pane.layers is None
    viewer = w.viewer
    assert viewer.screenshot(canvas_only=True)[..., :3].max() <= 40  # nothing shown
    w.session.open_layers(fresh(sample_layers))
    pump(50)
    pl = pane.layers
    assert pl is not None
    assert all(layer.visible and layer.opacity == 1.0 for layer in (pl.image, pl.lines))
    shot = viewer.screenshot(canvas_only=True)[..., :3]
    assert shot.max() > 200  # the CT (the sample's bright lesion) is drawn


def test_an_open_shows_the_study_first_and_reads_its_pixels_after(
    make_napari_viewer, tmp_path, monkeypatch
):
    """Open study returns once the headers are read: the slice shown is read from its
    file, and the rest of the series is read in the background after the canvas has
    drawn the study (recist_tool.dicom.stream). The values shown are the loader's. The
    first draw builds no shader program: the pane's title stays in the scene (napari
    took a hidden overlay's box out and vispy re-linked it when it was shown again)."""
    from vispy.visuals.shaders.program import ModularProgram

    from recist_tool.dicom import load_series
    from recist_tool.dicom.stream import StreamedArray
    from recist_tool.synth.phantom import write_series

    study = tmp_path / "ct"  # uncompressed (the shipped sample is RLE: read at once)
    write_series(study, shape=(30, 128, 128))
    w = make_widget(make_napari_viewer)
    assert wait_until(lambda: w.warmed_up, 20000)
    pump(50)
    builds = []
    build = ModularProgram._build
    monkeypatch.setattr(ModularProgram, "_build", lambda self: (builds.append(1), build(self)))
    draws = []
    drawn = w.viewer.window._qt_viewer.canvas._scene_canvas.events.draw  # test only
    drawn.connect(lambda e: draws.append(1))
    w.open_folder(study)
    pl = w.session.panes["current"].layers
    assert pl is not None and pl.timepoint == "baseline"
    arr = pl.source.data
    assert isinstance(arr, StreamedArray)
    assert arr._thread is None and not arr.done  # nothing read but the slice shown
    eager = load_series(study).array
    k = w.session.nav.slice_index(w.session.panes["current"])
    np.testing.assert_array_equal(np.asarray(pl.image._slice.image.raw), eager[k])  # test only
    assert wait_until(lambda: bool(draws) and arr.done, 10000)
    assert builds == [], "the first draw of the opened study built a shader program"
    np.testing.assert_array_equal(arr.result(), eager)
    # the whole series is there for what needs it (measurement assistance)
    assert w.session.assist.volume(pl.source).array is arr.result()


def test_a_file_cut_while_the_series_streams_is_named_in_the_dock(make_napari_viewer, tmp_path):
    """A file that changes between its header and the background read: the dock says
    which and why (from the reading thread to the GUI thread); the other slices stay
    shown."""
    from recist_tool.synth.phantom import write_series

    study = tmp_path / "ct"
    write_series(study, shape=(20, 64, 64))
    w = make_widget(make_napari_viewer)
    assert wait_until(lambda: w.warmed_up, 20000)
    w.open_folder(study)  # the read starts after the next paint
    pl = w.session.panes["current"].layers
    victim = pl.source.data._plan.slices[3].header.path  # test only: the fourth slice
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) - 1000)
    name = os.path.basename(victim)
    assert wait_until(
        lambda: any(name in t and "could not be read in full" in t for _, t in w.session.notices),
        10000,
    ), w.session.notices
    assert pl.source.data[0].shape == (64, 64)  # the other slices are still read


def test_opening_a_study_draws_once_after_it_is_in_place(make_napari_viewer, sample_layers):
    """Opening after the docking warm-up does not repaint the canvas in the middle
    (the slice slider already shown; once, it appeared and Qt repainted the
    resized canvas with the layers still hidden), and the pane's five layers take
    the series' geometry with few dims updates (each transform setter used to tell
    the viewer at once: up to 15 intermediate dims ranges)."""
    w = make_widget(make_napari_viewer)
    assert wait_until(lambda: w.warmed_up, 20000)
    viewer = w.viewer
    draws, ranges = [], []
    scene = w.main_canvas()
    viewer.dims.events.range.connect(lambda e: ranges.append(tuple(viewer.dims.range)))
    drawn = viewer.window._qt_viewer.canvas._scene_canvas.events.draw  # test only
    drawn.connect(lambda e: draws.append(1))
    w.session.open_layers(fresh(sample_layers))
    assert draws == [], "the canvas was drawn in the middle of the open"
    assert 1 <= len(ranges) <= 2, ranges
    pl = w.session.panes["current"].layers
    assert pl is not None
    for layer in pl.all:
        np.testing.assert_allclose(layer.scale, pl.image.scale)
        np.testing.assert_allclose(layer.translate, pl.image.translate)
    assert ranges[-1] == tuple(viewer.dims.range)
    pump(50)
    assert draws  # and drawn after
    assert scene.isVisible()


def _text_boxes(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, y0, x1, y1) of the yellow label texts on a canvas image:
    glyphs joined into words and words into labels (gaps under 21 pixels)."""
    from scipy import ndimage as ndi

    rgb = img[..., :3].astype(int)
    text = (rgb[..., 0] > 150) & (rgb[..., 1] > 150) & (rgb[..., 2] < 90)
    lab, _ = ndi.label(ndi.binary_dilation(text, structure=np.ones((3, 21), bool)))
    boxes = []
    for sl in ndi.find_objects(lab):
        ys, xs = np.nonzero(text[sl])
        if len(ys) >= 20:
            boxes.append((sl[1].start + xs.min(), sl[0].start + ys.min(),
                          sl[1].start + xs.max(), sl[0].start + ys.max()))  # fmt: skip
    return boxes


def test_label_boxes_hold_the_text_and_labels_do_not_meet(widget, truth):
    """The labels' text boxes are estimated to place them (off the lines, off one
    another). The estimate took 0.62 × the size per character, and the size in points
    as pixels: 58 % of what napari's canvas draws, and a lesion's two labels ("T1
    42.6 mm", "T1 SA 30.2 mm") were drawn over one another in the comparison pane.
    Measured on the canvas: each label's drawn text lies within its estimated box,
    and no two labels' drawn texts meet."""
    from napari_recist._labels import PX_PER_PT, text_box_px

    w = widget
    s = w.session
    les = lesions_of(truth, 0)["L1"]
    c = world(les["center_lps"])
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("target"))
    go_to_slice(w, "current", c[0])
    p = to_canvas(w.viewer, c)
    QTest.mouseMove(canvas(w), p)
    QTest.mouseClick(canvas(w), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, p)
    assert wait_until(lambda: s.assist.has_pending, 15000), s.assist.status
    QTest.keyClick(canvas(w), Qt.Key.Key_Return)
    pump(50)
    pl = s.layers_of("baseline")
    texts = [str(t) for t in pl.labels.features["label"]]
    assert len(texts) == 2 and " SA " in texts[1], texts
    font_px = s.view.label_px * PX_PER_PT
    for zoom in (0.9, 1.3, 2.0):
        s.panes["current"].viewer.camera.zoom = zoom
        pump(200)
        img = w.viewer.screenshot(canvas_only=True, flash=False)
        # the lesion's lines (yellow too) are not labels: drop what holds a line's middle
        mids = [
            to_canvas(w.viewer, pl.lines.data_to_world(np.mean(d, axis=0))) for d in pl.lines.data
        ]
        boxes = [
            b
            for b in _text_boxes(img)
            if not any(b[0] <= m.x() <= b[2] and b[1] <= m.y() <= b[3] for m in mids)
        ]
        assert len(boxes) == 2, (zoom, boxes)  # two labels, apart
        by_width = sorted(boxes, key=lambda b: b[2] - b[0])
        for (x0, y0, x1, y1), text in zip(by_width, sorted(texts, key=len), strict=True):
            bw, bh = text_box_px(text, font_px)
            assert x1 - x0 + 1 <= bw and y1 - y0 + 1 <= bh, (text, x1 - x0, bw)
