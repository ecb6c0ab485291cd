"""The dock widget end to end on the sample study: draw, check, respond, save, reopen."""

from __future__ import annotations

import numpy as np
import pytest
from napari_recist._qt.widget import RecistWidget
from qtpy.QtCore import Qt
from scipy import ndimage

from recist_tool.annotations import read_annotations
from recist_tool.reading import Reading, sidecar_path

from .conftest import add_sample, drag

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def widget(make_napari_viewer, sample_layers, qtbot):
    """A viewer with the sample's two series and the RECIST widget docked."""
    viewer = make_napari_viewer()
    w = RecistWidget(viewer)
    viewer.window.add_dock_widget(w, name="RECIST measurement")
    add_sample(viewer, sample_layers)
    return w


def world(lps) -> np.ndarray:
    """napari world coordinates (z, y, x) of a patient LPS position."""
    return np.asarray(lps, float)[::-1]


def draw(w: RecistWidget, label: str, axis: str, endpoints_lps) -> None:
    """Draw a line as a user's drag would, on the slice through its first end point."""
    s = w.session
    tpl = s.layers_of(label)
    a, b = (world(p) for p in endpoints_lps)
    w.viewer.dims.set_point(0, a[0])
    s.arm(axis)
    assert tpl.lines.mode == "add_line"
    drag(tpl.lines, a, b)


def place_point(w: RecistWidget, label: str, lps) -> None:
    s = w.session
    s.arm("point")
    w.viewer.dims.set_point(0, world(lps)[0])
    drag(s.layers_of(label).points, world(lps), world(lps), steps=0)


def lesions_of(truth, i: int) -> dict:
    return {les["lesion_id"]: les for les in truth["timepoints"][i]["lesions"]}


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


def read_followup(w: RecistWidget, truth, ids: dict[str, str]) -> None:
    s = w.session
    fu = [tp.label for tp in s.reading.timepoints][1]
    w.tp_combo.setCurrentText(fu)
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


def cell(table, row: int, col: int) -> str:
    return table.item(row, col).text()


def test_series_are_listed_and_assigned_by_study_date(widget, truth):
    w = widget
    s = w.session
    assert w.series_table.rowCount() == 2
    combos = [w.series_table.cellWidget(r, 2).currentText() for r in range(2)]
    assert combos == ["baseline", "FU1"]
    assert [(tp.label, tp.date) for tp in s.reading.timepoints] == [
        ("baseline", truth["timepoints"][0]["date"]),
        ("FU1", truth["timepoints"][1]["date"]),
    ]
    assert s.current_tp == "baseline" or s.current_tp == "FU1"
    # The reader relabels the follow-up (after drawing there); drawing and layers follow.
    s.show_timepoint("FU1")
    w.add_btn.click()
    les = lesions_of(truth, 1)["L1"]
    draw(w, "FU1", "long", les["long_axis_endpoints_lps"])
    fu_uid = truth["timepoints"][1]["series_instance_uid"]
    combo = w.series_table.cellWidget(1, 2)
    combo.setCurrentText("3 months")
    combo.activated.emit(combo.currentIndex())
    assert [tp.label for tp in s.reading.timepoints] == ["baseline", "3 months"]
    assert s.reading.series[fu_uid].timepoint == "3 months"
    assert s.reading.lesion(s.active_lesion).findings["3 months"].long_mm == 26.0
    assert s.layers_of("3 months").lines.name == "RECIST lines · 3 months"
    assert len(s.layers_of("3 months").lines.data) == 1
    assert [w.tp_combo.itemText(i) for i in range(w.tp_combo.count())] == ["baseline", "3 months"]


def test_a_dragged_line_across_a_lesion_measures_its_true_diameter(widget, truth):
    """The line's ends are found in the image (where HU crosses half way between the
    lung and the lesion), not taken from the truth: this checks geometry and mm."""
    w = widget
    s = w.session
    s.show_timepoint("baseline")
    image = s.layers_of("baseline").image
    les = lesions_of(truth, 0)["L2"]  # lung nodule: strong contrast
    a, b = (world(p) for p in les["long_axis_endpoints_lps"])
    c, u = (a + b) / 2, (b - a) / np.linalg.norm(b - a)
    t = np.linspace(-25, 25, 2001)  # mm along the long axis through the centre
    world_pts = c[None, :] + t[:, None] * u[None, :]
    pts = ((world_pts - image.translate) / image.scale).T  # axial sample: no affine
    profile = ndimage.map_coordinates(image.data.astype(float), pts, order=1)
    inside = profile > (les["hu"] + -850) / 2
    ends = t[np.flatnonzero(inside)[[0, -1]]]
    w.organ_combo.setCurrentText("lung")
    w.add_btn.click()
    live = []
    s.live.connect(live.append)
    w.viewer.dims.set_point(0, c[0])
    drag(s.layers_of("baseline").lines, c + ends[0] * u, c + ends[1] * u)
    f = s.reading.lesion(s.active_lesion).findings["baseline"]
    voxel = max(image.scale[1:])
    assert f.long_mm == pytest.approx(les["long_axis_mm"], abs=voxel)
    assert f.long_axis.slice_index == round(image.world_to_data(c)[0])
    assert live and live[-1] == f"{f.long_axis.length_mm:.1f} mm"
    assert cell(w.lesion_table, 0, 2) == f"{f.long_mm:.1f}"


def test_a_full_read_gives_the_response_the_truth_implies(widget, truth, readings_dir):
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    base_sod, fu_sod = (tp["sum_of_diameters_mm"] for tp in truth["timepoints"])
    change = 100 * (fu_sod - base_sod) / base_sod
    expected = "PR" if change <= -30 else ("PD" if fu_sod - base_sod >= 5 else "SD")
    table = s.response_table()
    assert table["sum_mm"].tolist() == pytest.approx([base_sod, fu_sod])
    assert table["change_from_baseline_pct"].iloc[1] == pytest.approx(change, abs=0.05)
    assert table["target_response"].iloc[1] == expected
    assert table["non_target_response"].iloc[1] == "NON-CR/NON-PD"
    assert table["overall_response"].iloc[1] == expected
    # The panel shows it.
    rt = w.response_table
    assert rt.rowCount() == 2
    assert cell(rt, 1, 2) == f"{fu_sod:.1f}" and cell(rt, 1, 1) == expected
    assert cell(rt, 1, 3) == f"{change:.1f} %"
    # Autosaved after every change: the CSV on disk is the read.
    s.flush()
    saved = read_annotations(readings_dir / f"{truth['patient_id']}.csv")
    assert len(saved) == 8
    node = saved[(saved.lesion_id == ids["N1"]) & (saved.timepoint == "FU1")]
    assert node.short_axis_mm.iloc[0] == pytest.approx(12.0)


def test_selecting_a_lesion_at_follow_up_goes_to_its_baseline_position(widget, truth):
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    s.show_timepoint("FU1")
    w.viewer.dims.set_point(0, 100.0)
    les = lesions_of(truth, 0)["L1"]
    row = [cell(w.lesion_table, r, 0) for r in range(w.lesion_table.rowCount())]
    w.lesion_table.selectRow(row.index(ids["L1"]))
    mid = world(np.mean(les["long_axis_endpoints_lps"], axis=0))
    assert w.viewer.dims.point[0] == pytest.approx(mid[0])
    np.testing.assert_allclose(w.viewer.scene.camera.center[-2:], mid[1:], atol=1e-6)
    # "Baseline" column shows what to compare with
    assert cell(w.lesion_table, row.index(ids["L1"]), 4) == "42.0"
    assert cell(w.lesion_table, row.index(ids["L1"]), 5) == "to do"


def test_save_close_reopen_restores_everything(
    make_napari_viewer, sample_layers, truth, readings_dir, widget
):
    w = widget
    ids = read_baseline(w, truth)
    read_followup(w, truth, ids)
    w.session.set_status("too_small", ids["L2"])  # one more change after drawing
    before = w.session.reading.to_json()
    lines_before = {
        label: np.asarray(w.session.layers_of(label).lines.data) for label in ("baseline", "FU1")
    }
    points_before = np.asarray(w.session.layers_of("baseline").points.data)
    w.viewer.close()  # no explicit save: autosave must have kept everything

    viewer = make_napari_viewer()
    w2 = RecistWidget(viewer)
    add_sample(viewer, sample_layers)
    after = w2.session.reading.to_json()
    assert after == before
    for label, data in lines_before.items():
        tpl = w2.session.layers_of(label)
        got = np.asarray(tpl.lines.data)
        order = np.lexsort(data.reshape(len(data), -1).T)
        got_order = np.lexsort(got.reshape(len(got), -1).T)
        np.testing.assert_allclose(got[got_order], data[order], atol=1e-4)
        assert sorted(tpl.lines.features["lesion_id"]) == sorted(
            w2.session.layers_of(label).lines.features["lesion_id"]
        )
    np.testing.assert_allclose(w2.session.layers_of("baseline").points.data, points_before)
    statuses = {
        (r.lesion_id, r.timepoint): r.status
        for r in read_annotations(w2.session.save_path).itertuples()
    }
    assert statuses[(ids["L2"], "FU1")] == "too_small"
    assert w2.response_table.rowCount() == 2
    assert sidecar_path(w2.session.save_path).exists()
    assert Reading.load(w2.session.save_path).to_json() == before


def test_checks_appear_next_to_the_lesion(widget, truth):
    w = widget
    s = w.session
    s.show_timepoint("baseline")
    les = lesions_of(truth, 0)["N1"]
    w.organ_combo.setCurrentText("lymph node")
    w.nodal_box.setChecked(True)
    w.add_btn.click()
    node = s.active_lesion
    draw(w, "baseline", "long", les["long_axis_endpoints_lps"])
    # A short axis drawn along the long axis: not perpendicular.
    a, b = np.asarray(les["long_axis_endpoints_lps"])
    draw(w, "baseline", "short", [a + 0.1 * (b - a), a + 0.6 * (b - a)])
    text = w.checks_label.text()
    assert "from the long axis" in text
    assert "warning" in cell(w.lesion_table, 0, 6)
    # A 6 mm target on 5 mm slices is below the measurable size (the engine says so).
    w.nodal_box.setChecked(False)
    w.organ_combo.setCurrentText("liver")
    w.add_btn.click()
    small = s.active_lesion
    c = np.asarray(lesions_of(truth, 0)["L1"]["center_lps"])
    draw(w, "baseline", "long", [c, c + np.array([6.0, 0, 0])])
    msgs = " ".join(m for _, _, m in s.messages_for(small))
    assert "below the measurable minimum of 10 mm" in msgs
    assert "below the measurable minimum" in w.checks_label.text()
    assert node != small
    # Two more liver targets: more than 2 in one organ, shown next to each of them.
    for k in (1, 2):
        w.add_btn.click()
        up = np.array([0, 0, 5.0 * k])
        draw(w, "baseline", "long", [c + up, c + up + np.array([25.0, 0, 0])])
    liver = [les.lesion_id for les in s.reading.lesions if les.organ == "liver"]
    assert len(liver) == 3
    for lid in liver:
        assert any("at most 2 per organ" in m for _, _, m in s.messages_for(lid))
    row = [cell(w.lesion_table, r, 0) for r in range(w.lesion_table.rowCount())]
    assert "warning" in cell(w.lesion_table, row.index(liver[-1]), 6)


def test_statuses_shortcuts_and_window_presets(widget, truth, qtbot):
    w = widget
    s = w.session
    ids = read_baseline(w, truth)
    s.show_timepoint("FU1")
    s.select_lesion(ids["L1"])
    keymap = {str(k) for k in w.viewer.keymap}
    for key in ("Alt-N", "Alt-M", "Alt-0", "Alt-E", "Alt-1", "Alt-5"):
        assert any(key.replace("-", "+").lower() == k.lower() for k in keymap), key
    w.shortcuts["Alt-M"][1]()  # too small
    assert s.reading.lesion(ids["L1"]).findings["FU1"].status == "too_small"
    w.shortcuts["Alt-N"][1]()  # next lesion
    assert s.active_lesion == ids["L2"]
    w.shortcuts["Alt-0"][1]()
    assert s.reading.lesion(ids["L2"]).findings["FU1"].status == "disappeared"
    s.select_lesion(ids["NT1"])
    w.shortcuts["Alt-0"][1]()  # a non-target is "absent", not "disappeared"
    assert s.reading.lesion(ids["NT1"]).findings["FU1"].status == "absent"
    assert not w.status_btns["too_small"].isEnabled() and w.status_btns["absent"].isEnabled()
    w.shortcuts["Alt-2"][1]()  # lung window
    assert tuple(s.layers_of("FU1").image.contrast_limits) == (-1350.0, 150.0)
    # A real key press on the canvas reaches the binding (not a menu mnemonic).
    canvas = w.viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, Qt.Key.Key_4, Qt.KeyboardModifier.AltModifier)
    assert tuple(s.layers_of("FU1").image.contrast_limits) == (-500.0, 1300.0)  # bone
    w.viewer.layers.selection.active = s.layers_of("FU1").image
    qtbot.keyClick(canvas, Qt.Key.Key_A, Qt.KeyboardModifier.AltModifier)
    assert s.active_axis == "long" and s.layers_of("FU1").lines.mode == "add_line"


def test_side_by_side_grid(widget):
    w = widget
    s = w.session
    s.show_timepoint("FU1")
    w.grid_box.setChecked(True)
    v = w.viewer
    assert v.grid.enabled and v.grid.stride == 3
    names = [la.name for la in v.layers][:6]
    assert names[1:3] == ["RECIST lines · baseline", "RECIST points · baseline"]
    assert names[4:6] == ["RECIST lines · FU1", "RECIST points · FU1"]
    assert all(la.visible for la in list(v.layers)[:6])
    w.grid_box.setChecked(False)
    assert not v.grid.enabled
    assert [la.visible for la in list(v.layers)[:6]] == [False] * 3 + [True] * 3


def test_removing_a_line_and_drawing_other_shapes(widget, truth):
    w = widget
    s = w.session
    s.show_timepoint("baseline")
    les = lesions_of(truth, 0)["L1"]
    w.add_btn.click()
    lid = s.active_lesion
    draw(w, "baseline", "long", les["long_axis_endpoints_lps"])
    draw(w, "baseline", "long", les["short_axis_endpoints_lps"])  # redrawn: replaces
    lines = s.layers_of("baseline").lines
    assert len(lines.data) == 1
    assert s.reading.lesion(lid).findings["baseline"].long_mm == pytest.approx(30.0)
    lines.selected_data = {0}
    lines.remove_selected()
    assert s.reading.lesion(lid).findings["baseline"].long_axis is None
    assert s.reading.to_measurements() == []
    assert "not drawn yet" in w.checks_label.text()
    lines.add_rectangles(np.array([[30, 10, 10], [30, 10, 20], [30, 20, 20], [30, 20, 10]], float))
    assert len(lines.data) == 0


def test_works_through_napari_public_only_proxy(make_napari_viewer, sample_layers, recwarn):
    from napari.utils._proxies import PublicOnlyProxy

    viewer = make_napari_viewer()
    w = RecistWidget(PublicOnlyProxy(viewer))
    add_sample(viewer, sample_layers)
    w.add_btn.click()
    w.session.show_timepoint("FU1")
    w.grid_box.setChecked(True)
    private = [r for r in recwarn if "private attribute" in str(r.message)]
    assert private == []
    assert len(w.session.reading.timepoints) == 2


def test_a_new_lesion_at_follow_up_makes_progression(widget, truth):
    w = widget
    s = w.session
    read_baseline(w, truth)
    w.tp_combo.setCurrentText("FU1")
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("new"))
    w.organ_combo.setCurrentText("bone")
    w.add_btn.click()
    new = s.active_lesion
    place_point(w, "FU1", [0.0, 40.0, 30.0])
    f = s.reading.lesion(new).findings["FU1"]
    assert f.status == "present" and f.marker.slice_index is not None
    assert new not in [les.lesion_id for les in s.reading.lesions_for("baseline")]
    table = s.response_table()
    assert table["new_lesions"].iloc[1] == "yes"
    assert table["overall_response"].iloc[1] == "PD"
    w.status_btns["equivocal"].click()  # equivocal: no longer PD by itself
    assert s.response_table()["overall_response"].iloc[1] != "PD"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the garbage bytes
def test_opening_an_invalid_folder_from_the_widget_notifies(widget, tmp_path, notifications):
    bad = tmp_path / "not_a_study"
    bad.mkdir()
    (bad / "IM1.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    before = len(widget.viewer.layers)
    assert widget.open_folder(bad) == []
    assert len(widget.viewer.layers) == before
    assert any(sev == "error" and "not_a_study" in m for sev, m in notifications)


def test_a_crash_before_the_full_save_loses_nothing(
    make_napari_viewer, sample_layers, truth, readings_dir, monkeypatch
):
    """The background save never runs (as if the process died right after each
    change): the recovery file written at once still restores the drawing."""
    from napari_recist._autosave import AutoSaver

    monkeypatch.setattr(AutoSaver, "submit", lambda self, snapshot, path: None)
    viewer = make_napari_viewer()
    w = RecistWidget(viewer)
    add_sample(viewer, sample_layers)
    ids = read_baseline(w, truth)
    before = w.session.reading.to_json()
    csv = w.session.save_path
    assert not csv.exists()  # no full save happened
    assert (readings_dir / f"{csv.stem}.recovery.json").exists()

    viewer2 = make_napari_viewer()
    w2 = RecistWidget(viewer2)
    add_sample(viewer2, sample_layers)
    assert w2.session.reading.to_json() == before
    lines = w2.session.layers_of("baseline").lines
    assert sorted(lines.features["lesion_id"]) == sorted(
        [ids["L1"], ids["L2"], ids["N1"], ids["N1"]]
    )


def test_sample_menu_then_widget_picks_up_the_open_series(make_napari_viewer, truth):
    viewer = make_napari_viewer()
    layers = viewer.open_sample("recist-tool", "study")
    assert len(layers) == 2
    w = RecistWidget(viewer)  # opened after the data, as from the Plugins menu
    uids = {tp["series_instance_uid"] for tp in truth["timepoints"]}
    assert set(w.session.reading.series) == uids
    assert [tp.label for tp in w.session.reading.timepoints] == ["baseline", "FU1"]
    assert w.session.layers_of("FU1").lines.name == "RECIST lines · FU1"


def test_the_dock_widget_opens_from_the_plugin_menu(make_napari_viewer, sample_layers):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("recist-tool", "RECIST measurement")
    assert isinstance(w, RecistWidget)
    add_sample(viewer, sample_layers)
    assert [tp.label for tp in w.session.reading.timepoints] == ["baseline", "FU1"]
    w.add_btn.click()
    assert w.session.active_lesion == "T1"


def test_a_time_point_with_two_series_shows_the_one_chosen(
    make_napari_viewer, sample_layers, truth
):
    """Chest and abdomen as two series of one study: both belong to baseline; the
    reader picks which one is shown and lines drawn there record that series."""
    import copy

    viewer = make_napari_viewer()
    w = RecistWidget(viewer)
    add_sample(viewer, sample_layers)
    data, kwargs, _ = sample_layers[0]
    meta = copy.deepcopy(kwargs["metadata"])
    series = meta["recist_series"]
    series.update(series_uid="1.2.826.0.1.99", series_number=5, description="ABDOMEN")
    series["geometry"]["series_uid"] = "1.2.826.0.1.99"
    series["geometry"]["origin_lps"][2] -= 200.0  # 200 mm lower
    translate = (kwargs["translate"][0] - 200.0, *kwargs["translate"][1:])
    viewer.add_image(data, **{**kwargs, "metadata": meta, "translate": translate})
    s = w.session
    assert s.reading.series["1.2.826.0.1.99"].timepoint == "baseline"
    assert s.displayed_series("baseline") == truth["timepoints"][0]["series_instance_uid"]
    w.series_table.selectRow(1)  # rows by date, then series number: baseline #2, #5, FU
    assert s.displayed_series("baseline") == "1.2.826.0.1.99"
    lines = s.layers_of("baseline").lines
    np.testing.assert_allclose(lines.translate, translate)
    w.add_btn.click()
    c = np.array([-75.0, -15.0, -240.0])
    draw(w, "baseline", "long", [c, c + np.array([30.0, 0, 0])])
    line = s.reading.lesion(s.active_lesion).findings["baseline"].long_axis
    # napari starts a line with a small diagonal offset and scales it by its box corner:
    # an exactly horizontal drag ends ~1 px off vertically (0.05 mm on 30 mm here).
    assert line.series_uid == "1.2.826.0.1.99" and line.length_mm == pytest.approx(30.0, abs=0.1)
