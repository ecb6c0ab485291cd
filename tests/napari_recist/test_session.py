"""The reading session on bare ``ViewerModel`` objects (no Qt, no canvas).

Where an edit lands, undo, the audit trail, the comparison pane, linked slicing,
windows, labels, the follow-up flow and the loader's choices, as the controller
sees them.
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel
from napari_recist._labels import (
    LineMark,
    label_clear_of_segment,
    place_line_labels,
    text_box_px,
)
from napari_recist._loading import load_study
from napari_recist._session import ReadingSession
from napari_recist._settings import ViewSettings

from recist_tool.annotations import read_annotations
from recist_tool.reading import Line, Reading, read_audit, sidecar_path

from .conftest import fresh, lesions_of, napari_drag, world

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def draw(s: ReadingSession, label: str, axis: str, ends_lps) -> None:
    """Draw a line in the pane showing ``label`` as a drag there would."""
    pane = s.pane_of(label)
    a, b = (world(p) for p in ends_lps)
    s.nav.set_z(pane, a[0])
    s.active_pane = pane.name
    s.arm(axis)
    napari_drag(pane.viewer, pane.layers.lines, a, b)


def mark(s: ReadingSession, label: str, lps) -> None:
    pane = s.pane_of(label)
    s.active_pane = pane.name
    s.arm("point")
    s.nav.set_z(pane, world(lps)[0])
    napari_drag(pane.viewer, pane.layers.points, world(lps), world(lps), steps=0)


def read_baseline(s: ReadingSession, truth) -> dict[str, str]:
    ids = {}
    s.show_timepoint("baseline")
    for tid, les in lesions_of(truth, 0).items():
        s.form = {"kind": les["kind"], "organ": les["organ"], "nodal": les["nodal"]}
        ids[tid] = s.add_lesion()
        if les["kind"] == "target":
            draw(s, "baseline", "long", les["long_axis_endpoints_lps"])
            if les["nodal"]:
                draw(s, "baseline", "short", les["short_axis_endpoints_lps"])
        else:
            mark(s, "baseline", les["center_lps"])
    return ids


def test_opens_on_baseline_with_one_time_point_per_viewer(session, truth):
    s = session
    assert [tp.label for tp in s.reading.timepoints] == ["baseline", "FU1"]
    assert s.current_tp == "baseline"  # nothing measured yet
    names = [la.name for la in s.viewer.layers]
    assert names[0].endswith(truth["timepoints"][0]["date"])  # only baseline's image
    assert not any("FU1" in n or "followup" in n for n in names)
    s.set_compare(True)
    cmp_names = [la.name for la in s.compare_viewer.layers]
    assert "RECIST lines · FU1" in cmp_names and not any("baseline" in n for n in cmp_names)
    assert s.compare_viewer is not s.viewer
    assert s.compare_viewer.scene.camera is not s.viewer.scene.camera


def test_an_edit_lands_in_the_time_point_of_its_pane_whatever_is_selected(session, truth):
    """Issue 9's corruption, replayed on the models: side by side, Current = FU1, the
    baseline pane's lines layer active there; a drag on the FU1 pane edits FU1 only,
    and a drag on the baseline pane (read-only) edits nothing."""
    s = session
    ids = read_baseline(s, truth)
    s.show_timepoint("FU1")
    s.set_compare(True)
    assert s.compare_tp == "baseline"
    base_before = s.reading.lesion(ids["L1"]).findings["baseline"].to_dict()
    csv_before = read_annotations(s.save_path) if s.save_path.exists() else None
    base_pane = s.panes["comparison"]
    base_pane.viewer.layers.selection.active = base_pane.layers.lines  # "still active"
    fu = lesions_of(truth, 1)["L1"]
    s.select_lesion(ids["L1"], jump=False)
    draw(s, "FU1", "long", fu["long_axis_endpoints_lps"])
    assert s.reading.lesion(ids["L1"]).findings["baseline"].to_dict() == base_before
    assert s.reading.lesion(ids["L1"]).findings["FU1"].long_mm == fu["long_axis_mm"]
    # The read-only baseline pane: its layers are not editable, and even a forced edit
    # there (a line deleted from the layer) is refused by the reading and put back.
    lines = base_pane.layers.lines
    assert not lines.editable and lines.mode == "pan_zoom"
    n = len(lines.data)
    lines.selected_data = {0}
    lines.remove_selected()
    assert s.reading.lesion(ids["L1"]).findings["baseline"].to_dict() == base_before
    assert len(lines.data) == n  # the layer shows the model again
    assert any("baseline is read-only while you read FU1" in t for _, t in s.notices)
    s.flush()
    after = read_annotations(s.save_path)
    base_rows = after[after.timepoint == "baseline"].reset_index(drop=True)
    if csv_before is not None:
        b0 = csv_before[csv_before.timepoint == "baseline"].reset_index(drop=True)
        assert base_rows[["lesion_id", "long_axis_mm", "short_axis_mm"]].equals(
            b0[["lesion_id", "long_axis_mm", "short_axis_mm"]]
        )


def test_unlocking_the_comparison_lets_edits_land_there_and_only_there(session, truth):
    s = session
    ids = read_baseline(s, truth)
    s.show_timepoint("FU1")
    s.set_compare(True)
    s.set_compare_unlocked(True)
    s.select_lesion(ids["L2"], jump=False)
    les = lesions_of(truth, 0)["L2"]
    a, b = np.asarray(les["long_axis_endpoints_lps"])
    draw(s, "baseline", "long", [a, a + 0.5 * (b - a)])  # redrawn shorter at baseline
    assert s.reading.lesion(ids["L2"]).findings["baseline"].long_mm == pytest.approx(
        les["long_axis_mm"] / 2, abs=0.2
    )
    assert "FU1" not in s.reading.lesion(ids["L2"]).findings
    rows = read_audit(s.save_path.with_name(s.save_path.stem + ".audit.jsonl"))
    assert any(r["action"] == "unlock" and r["timepoint"] == "baseline" for r in rows)
    s.set_compare_unlocked(False)
    assert not s.reading.is_editable("baseline")


def test_undo_redo_every_edit_and_the_audit_trail(session, truth):
    s = session
    ids = read_baseline(s, truth)
    assert s.reading.reader == "dr a"
    before = s.reading.to_json()
    s.set_status("too_small", ids["L2"])
    s.update_lesion(ids["L1"], organ="kidney")
    s.remove_lesion(ids["NT1"])
    assert ids["NT1"] not in {le.lesion_id for le in s.reading.lesions}
    for _ in range(3):
        assert s.undo()
    assert s.reading.to_json() == before
    assert len(s.layers_of("baseline").points.data) == 1  # the marker is back on screen
    assert s.redo().startswith("Redone: set status")
    s.flush()
    audit = read_audit(s.save_path.with_name(s.save_path.stem + ".audit.jsonl"))
    actions = [r["action"] for r in audit]
    assert {"draw_line", "draw_marker", "set_status", "update_lesion", "delete_lesion"} <= set(
        actions
    )
    assert actions.count("undo") >= 3 and actions[-1] == "redo"
    assert all(r["reader"] == "dr a" for r in audit)
    frame = read_annotations(s.save_path)
    assert set(frame["reader"]) == {"dr a"}


def test_undo_of_an_edit_at_another_time_point_is_refused_and_said(session, truth):
    s = session
    read_baseline(s, truth)
    s.show_timepoint("FU1")
    state = s.reading.to_json()
    assert s.undo() is None  # the last edit was at baseline, now read-only
    assert s.reading.to_json() == state
    assert "baseline is read-only while you read FU1" in s.notices[-1][1]
    s.show_timepoint("baseline")
    assert s.undo()


def test_slices_follow_by_patient_position_and_zoom_follows(session):
    s = session
    s.set_compare(True)
    cur, cmp_ = s.panes["current"], s.panes["comparison"]
    s.nav.set_z(cur, -20.0)
    assert s.nav.z(cmp_) == pytest.approx(-20.0)
    s.step_slice(3)  # 5 mm slices
    assert s.nav.z(cur) == pytest.approx(-5.0) and s.nav.z(cmp_) == pytest.approx(-5.0)
    cmp_.viewer.dims.set_point(0, 10.0)  # scrolling the comparison moves the current
    assert s.nav.z(cur) == pytest.approx(10.0)
    s.nav.zoom(cur, 2.0)
    assert cmp_.viewer.scene.camera.zoom == pytest.approx(cur.viewer.scene.camera.zoom)
    s.view.link_zoom = False
    s.nav.zoom(cur, 2.0)
    assert cmp_.viewer.scene.camera.zoom != pytest.approx(cur.viewer.scene.camera.zoom)
    # A registration (measurement assistance) can map the position instead.
    s.nav.z_map = lambda a, b, z: z + 5.0
    s.nav.set_z(cur, -20.0)
    assert s.nav.z(cmp_) == pytest.approx(-15.0)


def test_a_slice_step_shows_no_live_length_only_a_drag_does(session, truth):
    """napari re-slices the lines layers on every slice step (``set_data``): that is
    not a drawing, so neither pane shows the live length then (it once showed the
    comparison's last line, refreshed on every step); a drag still does."""
    s = session
    read_baseline(s, truth)
    s.show_timepoint("FU1")
    s.set_compare(True)
    cur, cmp_ = s.panes["current"], s.panes["comparison"]
    assert len(cmp_.layers.lines.data) >= 1
    heard: list[str] = []
    s.live.connect(heard.append)
    for n in (1, 1, -1, 3, -2):
        s.step_slice(n)
    assert not cur.layers.live.visible and not cmp_.layers.live.visible
    assert heard == []
    s.show_timepoint("baseline")
    s.set_compare(False)
    pane = s.panes["current"]
    lines = pane.layers.lines
    pane.viewer.layers.selection.active = lines
    lines.mode = "direct"
    lines.selected_data = {0}
    end = lines.data_to_world(lines.data[0][1])
    s.nav.set_z(pane, float(end[0]))
    assert not pane.layers.live.visible and heard == []
    napari_drag(pane.viewer, lines, end, end + np.array([0, 0, 6.0]))
    assert heard and heard[-1].endswith(" mm")  # shown while dragging


def test_the_window_is_kept_when_switching_time_point(session):
    s = session
    s.set_window("lung")
    assert tuple(s.layers_of("baseline").image.contrast_limits) == (-1350.0, 150.0)
    s.show_timepoint("FU1")
    assert tuple(s.layers_of("FU1").image.contrast_limits) == (-1350.0, 150.0)
    s.set_compare(True)
    assert tuple(s.layers_of("baseline").image.contrast_limits) == (-1350.0, 150.0)
    level, width = s.drag_window(10, -20)  # right 10 px: wider; up 20 px: lower level
    assert (level, width) == (-640.0, 1520.0)
    assert tuple(s.layers_of("FU1").image.contrast_limits) == (-1400.0, 120.0)


def test_wheel_pages_slices_and_ctrl_wheel_zooms(session):
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_wheel_callbacks

    s = session
    v = s.viewer
    assert not v.scene.camera.mouse_zoom  # napari's wheel zoom is off
    z0, zoom0 = s.nav.z(s.panes["current"]), v.scene.camera.zoom
    ev = read_only_mouse_event(
        type="mouse_wheel", delta=(0, -1), modifiers=(), position=(z0, 0, 0), native=None
    )
    mouse_wheel_callbacks(v, ev)
    assert s.nav.z(s.panes["current"]) == pytest.approx(z0 + 5.0)
    assert v.scene.camera.zoom == zoom0
    ev = read_only_mouse_event(
        type="mouse_wheel",
        delta=(0, 1),
        modifiers=("Control",),
        position=(z0, 10.0, 10.0),
        native=None,
    )
    mouse_wheel_callbacks(v, ev)
    assert v.scene.camera.zoom == pytest.approx(zoom0 * 1.15)
    assert s.nav.z(s.panes["current"]) == pytest.approx(z0 + 5.0)  # no slice change
    v.layers.selection.active = s.layers_of("baseline").image  # napari resets the flag
    assert not v.scene.camera.mouse_zoom


def test_view_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RECIST_VIEW", "wheel=zoom,page_step=5,link_pan=1")
    v = ViewSettings.from_env()
    assert (v.wheel, v.page_step, v.link_pan) == ("zoom", 5, True)
    monkeypatch.setenv("RECIST_VIEW", "wheels=zoom")
    with pytest.raises(ValueError, match="unknown setting 'wheels'"):
        ViewSettings.from_env()


def test_labels_never_cover_the_lesion(session, truth):
    s = session
    read_baseline(s, truth)
    pl = s.layers_of("baseline")
    node = lesions_of(truth, 0)["N1"]
    s.nav.set_z(s.panes["current"], world(node["center_lps"])[0])
    zoom = s.viewer.scene.camera.zoom
    texts = list(pl.labels.features["label"])
    positions = [pl.labels.data_to_world(p)[1:] for p in pl.labels.data]
    assert any(" SA " in t for t in texts)
    lines = [
        (pl.lines.data_to_world(d[0])[1:], pl.lines.data_to_world(d[1])[1:]) for d in pl.lines.data
    ]
    for text, pos in zip(texts, positions, strict=True):
        for a, b in lines:
            assert label_clear_of_segment(pos, text, a, b, zoom, s.view.label_px), text
    # markers are hollow rings
    assert str(pl.points.symbol[0]) == "ring"


def test_a_lesion_added_at_follow_up_is_new_and_ids_never_clash(session, truth):
    s = session
    read_baseline(s, truth)
    s.show_timepoint("FU1")
    # The reader keeps "Target" by mistake: flagged next to it, the rest still evaluated.
    s.form = {"kind": "target", "organ": "bone", "nodal": False}
    lid = s.add_lesion()
    draw(s, "FU1", "long", [[0.0, 40.0, 30.0], [12.0, 40.0, 30.0]])
    msgs = s.messages_for(lid)
    assert any(sev == "error" and "make it New" in m for _, sev, m in msgs)
    assert s.results.timepoint_rows()  # the response is not blank
    assert s.layers_of("FU1").labels.features["label"].str.endswith("⚠").any()
    new_id = s.update_lesion(lid, kind="new")
    assert new_id == "NL1" and s.active_lesion == "NL1"
    rows = s.results.timepoint_rows()
    assert rows[1]["overall_response"] == "PD" and "new lesion" in rows[1]["reason"].lower()
    # the sample's truth calls its node N1: no clash with new lesions
    assert not any(le.lesion_id == "N1" for le in s.reading.lesions)


def test_renaming_a_time_point_and_undoing_it(session, truth):
    s = session
    ids = read_baseline(s, truth)
    s.show_timepoint("FU1")
    s.select_lesion(ids["L1"], jump=False)
    draw(s, "FU1", "long", lesions_of(truth, 1)["L1"]["long_axis_endpoints_lps"])
    fu_uid = truth["timepoints"][1]["series_instance_uid"]
    s.assign_series(fu_uid, "3 months")
    assert [tp.label for tp in s.reading.timepoints] == ["baseline", "3 months"]
    assert s.current_tp == "3 months" and s.layers_of("3 months") is not None
    assert s.reading.lesion(ids["L1"]).findings["3 months"].long_mm == 26.0
    s.undo()
    assert [tp.label for tp in s.reading.timepoints] == ["baseline", "FU1"]
    assert s.current_tp == "FU1" and s.layers_of("FU1").lines.name == "RECIST lines · FU1"


def test_reopening_restores_everything(session, truth, sample_layers):
    s = session
    ids = read_baseline(s, truth)
    s.show_timepoint("FU1")
    s.set_status("not_evaluated", ids["N1"])
    before = s.reading.to_json()
    s.close()
    s2 = ReadingSession(ViewerModel(), reader="dr a")
    s2.open_layers(fresh(sample_layers))
    assert s2.reading.to_json() == before
    assert not s2.reading.can_undo  # nothing to undo in a freshly opened reading
    assert s2.current_tp == "FU1"  # baseline done, FU1 to do
    assert Reading.load(s2.save_path).to_json() == before


def test_a_series_of_another_patient_is_refused_without_a_layer(session, sample_layers):
    s = session
    data, kwargs, kind = fresh(sample_layers)[0]
    meta = kwargs["metadata"]
    meta["dicom"] = {**meta["dicom"], "patient_id": "SOMEONE-ELSE"}
    meta["recist_series"] = {**meta["recist_series"], "series_uid": "1.2.3.999"}
    n = len(s.viewer.layers)
    assert s.open_layers([(data, kwargs, kind)]) == []
    assert len(s.viewer.layers) == n and "1.2.3.999" not in s.reading.series
    assert "belongs to patient SOMEONE-ELSE" in s.notices[-1][1]
    # Through napari's File > Open (inserted into the viewer): taken out again.
    s.viewer.add_image(data, **kwargs)
    s.settle()
    assert len(s.viewer.layers) == n


@pytest.fixture(scope="module")
def defect_study(tmp_path_factory):
    from recist_tool.synth.phantom import write_series

    root = tmp_path_factory.mktemp("defects")
    write_series(root / "two", second_phase=True, shape=(12, 48, 48), series_number=3)
    write_series(root / "tilt", tilt_deg=15.0, shape=(12, 48, 48), series_number=4)
    write_series(root / "gap", missing=[5], shape=(12, 48, 48), series_number=5)
    return root


def test_the_loader_choices_read_two_phase_and_tilted_series(defect_study):
    two = load_study(defect_study / "two")
    assert not two.layers and len(two.problems) == 1
    p = two.problems[0]
    assert p.reason.startswith("20 duplicate slice position") or "duplicate" in p.reason
    assert p.series_uid and p.series_uid not in p.reason.split("—")[0][:20]
    assert [t for t, _ in p.options] == ["Acquisition 1 (12 images)", "Acquisition 2 (12 images)"]
    chosen = load_study(defect_study / "two", options={p.series_uid: p.options[1][1]})
    assert len(chosen.layers) == 1 and not chosen.problems
    tilt = load_study(defect_study / "tilt").problems[0]
    assert "gantry tilt" in tilt.reason and tilt.options[0][1] == {"tilt": "resample"}
    resampled = load_study(defect_study / "tilt", options={tilt.series_uid: tilt.options[0][1]})
    assert len(resampled.layers) == 1 and any("resampled" in n for n in resampled.notes)
    gap = load_study(defect_study / "gap").problems[0]
    assert gap.options == [] and "missing" in gap.reason
    assert gap.text().splitlines()[1] == gap.reason  # the reason first, identifiers last
    assert gap.text().splitlines()[-1].startswith("Folder ")


def test_the_session_loads_a_chosen_acquisition(defect_study):
    s = ReadingSession(ViewerModel(), reader="x")
    loaded = s.open_study(defect_study / "two")
    assert loaded.problems and not s.sources
    p = loaded.problems[0]
    again = s.open_study(p.folder, options={p.series_uid: p.options[0][1]}, only={p.series_uid})
    assert not again.problems and list(s.sources) == [p.series_uid]
    assert s.layers_of("baseline") is not None


def test_the_line_is_on_the_slice_it_was_drawn_on(session, truth):
    s = session
    les = lesions_of(truth, 0)["L1"]
    s.form = {"kind": "target", "organ": "liver", "nodal": False}
    lid = s.add_lesion()
    draw(s, "baseline", "long", les["long_axis_endpoints_lps"])
    line: Line = s.reading.lesion(lid).findings["baseline"].long_axis
    image = s.layers_of("baseline").image
    assert line.slice_index == round(image.world_to_data(world(les["center_lps"]))[0])
    assert s.reading.lesion(lid).findings["baseline"].long_mm == les["long_axis_mm"]


def test_a_saved_reading_that_cannot_be_read_back_is_never_written_over(
    session, truth, sample_layers
):
    s = session
    read_baseline(s, truth)
    path = s.save_path
    s.close()
    # The CSV was damaged by hand and the sidecar lost: loading it fails.
    path.write_text(path.read_text().replace("baseline,", "baseline,,", 1))
    sidecar_path(path).unlink()
    damaged = path.read_bytes()
    s2 = ReadingSession(ViewerModel(), reader="dr a")
    s2.open_layers(fresh(sample_layers))
    assert any(level == "error" and path.name in text for level, text in s2.notices)
    s2.form = {"kind": "target", "organ": "liver", "nodal": False}
    s2.add_lesion()  # an edit: autosave must not replace what is saved there
    s2.close()
    assert path.read_bytes() == damaged
    assert any("could not be read, so it is not written over" in t for _, t in s2.notices)


def test_a_damaged_sidecar_falls_back_to_the_csv(session, truth, sample_layers):
    s = session
    read_baseline(s, truth)
    path = s.save_path
    sizes = Reading.load(path).to_frame()["long_axis_mm"].fillna(-1).tolist()
    s.close()
    sidecar_path(path).write_bytes(b"\x80 not a sidecar")
    back = Reading.load(path)
    assert back.to_frame()["long_axis_mm"].fillna(-1).tolist() == sizes
    assert "not UTF-8" in back.load_notes[0] and "without lines" in back.load_notes[0]


def test_warm_up_shows_nothing_and_an_open_during_it_is_drawn_opaque(sample_layers):
    s = ReadingSession(ViewerModel(), reader="dr a")
    pane = s.panes["current"]
    assert pane.warm_up()
    pl = pane._layers
    drawn = (pl.image, pl.lines, pl.points, pl.labels)
    # every visual an opened study draws is drawn, but transparent; the title too
    assert all(layer.visible and layer.opacity == 0.0 for layer in drawn)
    assert pane.title.visible and pane.title.opacity == 0.0 and "0123456789" in pane.title.text
    s.open_layers(fresh(sample_layers))  # before the canvas drew the warm-up
    assert not pane.warming

    def opaque_and_shown() -> bool:  # markers and labels shown once there are any
        return all(
            layer.opacity == 1.0 and layer.visible == (layer in drawn[:2] or len(layer.data) > 0)
            for layer in drawn
        )

    assert opaque_and_shown()
    assert pane.title.opacity == 1.0 and pane.title.text.startswith("baseline")
    pane.end_warm_up()  # the canvas's late call changes nothing
    assert opaque_and_shown()
    assert not pane.warm_up()  # a pane showing a study is not warmed


def test_markers_and_labels_layers_are_shown_when_needed(sample_layers):
    """An open shows the image and the lines; the markers' layer when the marker tool
    is armed or a marker exists, the labels' layer with the first label."""
    s = ReadingSession(ViewerModel(), reader="dr a")
    s.open_layers(fresh(sample_layers))
    pl = s.panes["current"].layers
    assert pl.image.visible and pl.lines.visible
    assert not pl.points.visible and not pl.labels.visible  # nothing to show yet
    s.add_lesion("target", "liver")
    s.arm("long")
    pl.lines.add_lines(
        np.array([[pl.image.data.shape[0] // 2, 100, 100], [pl.image.data.shape[0] // 2, 100, 140]])
    )
    s.settle()
    assert len(pl.labels.data) and pl.labels.visible  # the line's label
    s.arm("point")
    assert pl.points.visible and s.viewer.layers.selection.active is pl.points


def test_after_the_warm_up_the_prepared_pane_is_hidden_again():
    s = ReadingSession(ViewerModel(), reader="dr a")
    pane = s.panes["current"]
    assert pane.warm_up()
    pane.end_warm_up()
    pl = pane._layers
    assert all(not layer.visible and layer.opacity == 1.0 for layer in pl.all)
    # the title shows nothing: no text on a transparent box (it stays visible, so
    # that napari keeps its box in the scene: see Pane._blank_title)
    assert pane.title.text == "" and pane.title.box_color[3] == 0 and pane.title.opacity == 1.0
    assert pane.layers is None and pane.timepoint is None


def test_a_lesion_drawn_first_at_baseline_in_the_unlocked_pane_is_never_new(session, truth):
    """At FU1 the form offers "New". With the comparison pane unlocked on baseline, a
    line drawn there for no selected lesion made a *new* lesion with a baseline
    finding (RECIST has none: the engine then left it out). A lesion an edit creates
    at baseline is never new (core: ``policy.kind_first_seen``)."""
    s = session
    read_baseline(s, truth)
    s.show_timepoint("FU1")
    s.set_compare(True)
    s.set_compare_unlocked(True)
    s.form = {"kind": "new", "organ": "lung", "nodal": False}  # the form at FU1
    s.select_lesion(None)
    les = lesions_of(truth, 0)["L2"]
    a, b = np.asarray(les["long_axis_endpoints_lps"])
    side = np.array([30.0, 0.0, 0.0])  # beside L2, in the lung
    draw(s, "baseline", "long", [a + side, b + side])
    made = s.reading.lesion(s.active_lesion)
    assert made.kind == "target" and made.lesion_id.startswith("T")
    assert set(made.findings) == {"baseline"}
    assert not s.reading.unplaced_lesions()


def test_labels_of_parts_drawn_side_by_side_do_not_cover_one_another():
    """Three parts of a split lesion drawn one above the other, 6 mm apart: their
    labels all went beyond the right end and fell on one another."""
    marks = [
        LineMark(f"T1:{p}" if p else "T1", "long", (y, 0.0), (y, 10.0), f"T1{p or 'a'} 10.0 mm")
        for p, y in (("", 0.0), ("b", 6.0), ("c", 12.0))
    ]
    zoom, font = 1.5, 10 * 96 / 72
    pos = place_line_labels(marks, zoom, font)
    w, h = text_box_px(marks[0].text, font)
    for i in range(3):
        for j in range(i + 1, 3):
            dy, dx = abs(pos[i][0] - pos[j][0]) * zoom, abs(pos[i][1] - pos[j][1]) * zoom
            assert dx >= w or dy >= h, (i, j, pos)
        for m in marks:  # nor any line
            assert label_clear_of_segment(pos[i], marks[i].text, m.p1, m.p2, zoom, font)


def test_a_csv_changed_by_another_program_while_open_is_not_written_over(
    session, truth, sample_layers
):
    """The reading's CSV edited by hand while the patient was open (a status changed
    in a spreadsheet): the next autosave wrote over it. Now the file
    stays as edited, this reading goes to a conflict copy beside it from then on, the
    reader is told, and reopening the patient loads the edited file."""
    s = session
    ids = read_baseline(s, truth)
    s.flush()
    csv = s.save_path
    edited = csv.read_text().replace(",present,", ",absent,", 1)  # NT1 at baseline
    assert edited != csv.read_text()
    csv.write_text(edited)  # another program: the sidecar is not written with it
    s.show_timepoint("FU1")
    s.set_status("not_evaluated", ids["N1"])  # the next change: its autosave
    s.flush()
    s.set_status("not_evaluated", ids["L2"])
    s.flush()
    assert csv.read_text() == edited  # not written over
    (copy,) = csv.parent.glob(f"{csv.stem}.conflict-*.csv")
    back = Reading.load(copy)
    assert back.lesion(ids["N1"]).findings["FU1"].status == "not_evaluated"
    assert back.lesion(ids["L2"]).findings["FU1"].status == "not_evaluated"  # kept going
    assert list(csv.parent.glob("*.recovery.json")) == []  # the copy's went once written
    said = [t for _, t in s.notices if "changed on disk by another program" in t]
    assert len(said) == 1 and copy.name in said[0]
    s.close()
    s2 = ReadingSession(ViewerModel(), reader="dr a")
    s2.open_layers(fresh(sample_layers))
    assert s2.reading.lesion(ids["NT1"]).findings["baseline"].status == "absent"  # the edit
    assert "FU1" not in s2.reading.lesion(ids["N1"]).findings
    s2.close()


def test_saves_of_this_and_other_recist_tool_processes_are_not_a_conflict(session, truth):
    """A worklist switch or a sign-off writes the CSV with its sidecar; so does another
    recist-tool process. Only a CSV written without its sidecar is another program's."""
    s = session
    read_baseline(s, truth)
    s.flush()
    csv = s.save_path
    s.reading.save(csv)  # CSV + sidecar, as a worklist save does
    s.show_timepoint("FU1")
    s.set_status("not_evaluated", s.reading.lesions[0].lesion_id)
    s.flush()
    assert list(csv.parent.glob("*.conflict-*")) == []
    assert Reading.load(csv).lesions[0].findings["FU1"].status == "not_evaluated"
