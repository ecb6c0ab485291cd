"""Measurement assistance on bare ``ViewerModel`` objects (no Qt): Alt+click →
proposal → Enter/Esc, edits, undo, the CSV's method/volume_ml/mean_hu, the
follow-up jump by registration, and the SEG export."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from napari.components import ViewerModel
from napari_recist._assist import COLORS
from napari_recist._layers import image_layer_data
from napari_recist._session import ReadingSession

from recist_tool.annotations import read_annotations
from recist_tool.reading import read_audit

from .conftest import lesions_of, napari_drag, world

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def alt_click(s: ReadingSession, pane_name: str, lps) -> None:
    """An Alt+press through napari's mouse callbacks, as the canvas sends it."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_press_callbacks

    pane = s.panes[pane_name]
    ev = read_only_mouse_event(
        type="mouse_press",
        position=tuple(world(lps)),
        dims_displayed=[1, 2],
        view_direction=None,
        modifiers=("Alt",),
        button=1,
    )
    mouse_press_callbacks(pane.viewer, ev)
    active = pane.viewer.layers.selection.active
    if active is not None:
        mouse_press_callbacks(active, ev)


def rows(s: ReadingSession):
    s.flush()
    return read_annotations(s.save_path).to_dict("records")


def test_alt_click_proposes_enter_accepts_one_undoable_audited_edit(session, truth):
    s, a = session, session.assist
    les = lesions_of(truth, 0)["L1"]
    lines_before = len(s.panes["current"].layers.lines.data)
    alt_click(s, "current", les["center_lps"])
    assert a.has_pending and not s.reading.lesions  # nothing reaches the reading yet
    prop, _ = a._layers["current"]
    assert len(prop.data) == 2 and len(s.panes["current"].layers.lines.data) == lines_before
    assert abs(a.pending.proposal.long_axis_mm - les["long_axis_mm"]) < 2.0
    # one label for both axes (two would share the corner napari anchors them at)
    labels = prop.features["label"].tolist()
    assert labels[1] == "" and labels[0].startswith("LA ") and " · SA " in labels[0]
    assert "LA" in a.status and "Enter accepts" in a.status and a.severity == "info"
    # the pane shows the measured slice
    k = s.nav.slice_index(s.panes["current"])
    assert k == a.pending.proposal.slice_index
    lid = a.accept()
    assert lid == "T1" and not a.has_pending and not len(prop.data)
    f = s.reading.lesion(lid).findings["baseline"]
    assert f.method == "assisted" and f.volume_ml > 0 and f.mean_hu is not None
    assert len(s.panes["current"].layers.lines.data) == 2  # drawn as the reading's lines
    row = rows(s)[0]
    assert row["method"] == "assisted"
    assert row["volume_ml"] == pytest.approx(f.volume_ml, abs=1e-3)
    assert row["mean_hu"] == pytest.approx(f.mean_hu, abs=0.05)
    trail = read_audit(s.save_path.with_name(s.save_path.stem + ".audit.jsonl"))
    audit = [e for e in trail if e.get("action") == "accept_proposal"]
    assert audit and len({e["op"] for e in audit}) == 1  # one operation (its changes)
    # one Ctrl+Z takes the whole acceptance back (lesion included); the status says
    # so (it kept "proposal accepted … Ctrl+Z undoes")
    assert "accepted" in a.status
    assert "accept" in s.undo()
    assert not s.reading.lesions and not len(s.panes["current"].layers.lines.data)
    assert a.status.startswith("Undone: accept proposal T1")
    assert s.redo() and s.reading.lesion("T1").findings["baseline"].method == "assisted"
    assert a.status.startswith("Redone: accept proposal T1")


def test_a_proposal_says_what_enter_records_it_as(session, truth):
    """An Alt+click on a node with the form still on "target · liver" was accepted as
    a liver lesion with its long axis counted, and nothing on screen said so. The
    status now names what Enter records: the lesion it is for, or a new lesion of the
    form's kind and organ, following the form while it waits."""
    s, a = session, session.assist
    s.form = {"kind": "target", "organ": "liver", "nodal": False}
    alt_click(s, "current", lesions_of(truth, 0)["N1"]["center_lps"])
    assert a.status.startswith("Proposal for a lesion to add (target · liver: the form above)")
    assert not a.pending.nodal
    s.form = {"kind": "target", "organ": "lymph_node", "nodal": False}
    a.form_changed()  # the widget calls it when the form changes
    assert a.status.startswith("Proposal for a lesion to add (target · lymph_node:")
    s.form = {"kind": "target", "organ": "lymph_node", "nodal": True}
    a.form_changed()  # a node: measured again on the slice of its largest short axis
    assert a.pending.nodal and a.pending.seed_lps is not None
    assert a.status.startswith("Proposal for a lesion to add (target · lymph_node · node:")
    lid = a.accept()
    assert s.reading.lesion(lid).nodal and s.reading.lesion(lid).organ == "lymph_node"
    assert a.status.startswith(f"{lid} (target · lymph_node · node) at baseline: proposal accepted")
    alt_click(s, "current", lesions_of(truth, 0)["N1"]["center_lps"])  # on it: re-measured
    assert a.status.startswith(f"Proposal for {lid} at baseline: LA ")


def test_esc_rejects_and_nothing_is_recorded(session, truth):
    s, a = session, session.assist
    alt_click(s, "current", lesions_of(truth, 0)["L2"]["center_lps"])
    assert a.has_pending
    a.reject()
    assert not a.has_pending and not s.reading.lesions and not s.reading.can_undo
    assert not len(a._layers["current"][0].data)


def test_a_proposal_left_for_another_time_point_is_dropped_and_said_so(session, truth):
    """A proposal not accepted when the reader goes to another time point goes (its
    pane shows another series); it went without a word, now the reader is told."""
    s, a = session, session.assist
    alt_click(s, "current", lesions_of(truth, 0)["L2"]["center_lps"])
    assert a.has_pending
    fu = [tp.label for tp in s.reading.timepoints][1]
    s.show_timepoint(fu)
    assert not a.has_pending and not s.reading.lesions
    assert s.notices[-1] == (
        "warning",
        f"The proposal at baseline was not accepted: dropped (the pane shows {fu} now)",
    )


def test_an_end_dragged_before_or_after_accepting_makes_it_assisted_edited(session, truth):
    s, a = session, session.assist
    les = lesions_of(truth, 0)["L1"]
    # after accepting: drag an end of the accepted long axis (napari's direct mode)
    alt_click(s, "current", les["center_lps"])
    lid = a.accept()
    pane = s.panes["current"]
    lines = pane.layers.lines
    assert s.viewer.layers.selection.active is lines and lines.mode == "direct"
    i = [str(x) for x in lines.features["axis"]].index("long")
    lines.selected_data = {i}
    end = lines.data_to_world(lines.data[i][1])
    s.nav.set_z(pane, float(end[0]))
    napari_drag(s.viewer, lines, end, end + np.array([0, 0, 6.0]))
    f = s.reading.lesion(lid).findings["baseline"]
    assert f.method == "assisted_edited"
    assert f.volume_ml is not None and f.mean_hu is not None  # the segmentation's values stay
    assert rows(s)[0]["method"] == "assisted_edited"
    # before accepting: a proposed end moved, then Enter
    s.select_lesion(None)
    alt_click(s, "current", lesions_of(truth, 0)["L2"]["center_lps"])
    prop, _ = a._layers["current"]
    assert s.viewer.layers.selection.active is prop and prop.mode == "direct"
    prop.selected_data = {0}
    end = prop.data_to_world(prop.data[0][1])
    napari_drag(s.viewer, prop, end, end + np.array([0, 0, 3.0]))
    assert "LA" in a.status and s.panes["current"].layers.live.visible  # live length
    lid2 = a.accept()
    assert lid2 != lid
    assert s.reading.lesion(lid2).findings["baseline"].method == "assisted_edited"


def test_hand_drawn_lines_are_manual_with_a_roi_mean_hu(session, truth):
    s = session
    les = lesions_of(truth, 0)["L1"]
    s.form = {"kind": "target", "organ": "liver", "nodal": False}
    lid = s.add_lesion()
    pane = s.panes["current"]
    a, b = (world(p) for p in les["long_axis_endpoints_lps"])
    s.nav.set_z(pane, a[0])
    s.arm("long")
    napari_drag(s.viewer, pane.layers.lines, a, b)
    f = s.reading.lesion(lid).findings["baseline"]
    assert f.method is None and f.mean_hu is not None
    # the sample liver lesion's own HU (the proposal's mean from its mask agrees)
    s.assist.propose_at(pane, tuple(les["center_lps"]))
    assert abs(f.mean_hu - s.assist.pending.proposal.mean_hu) < 10.0
    row = rows(s)[0]
    assert row["method"] == "manual" and row["mean_hu"] == pytest.approx(f.mean_hu, abs=0.05)
    s.assist.reject()
    assert s.undo()  # the line and its mean go together
    assert "baseline" not in s.reading.lesion(lid).findings


def test_a_doubtful_proposal_is_shown_in_the_warning_colour_with_its_reason(session):
    s, a = session, session.assist
    # inside the body's fat next to the liver: no lesion there
    a.propose_at(s.panes["current"], (-20.0, 60.0, -40.0))
    if a.pending is None:  # the core found nothing at all: said so
        assert a.severity == "warning" and "No proposal" in a.status
        return
    p = a.pending.proposal
    assert p.low_confidence, p
    assert a.severity == "warning" and p.reason in a.status and "Doubtful" in a.status
    prop, _ = a._layers["current"]
    assert np.allclose(prop.edge_color[0], _rgba(COLORS["low"][0]))


def _rgba(hex_color: str) -> np.ndarray:
    from napari.utils.colormaps.standardize_color import transform_color

    return transform_color(hex_color)[0]


def test_the_comparison_pane_is_read_only_for_proposals(session, truth):
    s, a = session, session.assist
    s.set_compare(True)
    alt_click(s, "comparison", lesions_of(truth, 0)["L1"]["center_lps"])
    assert not a.has_pending and "read-only" in s.notices[-1][1]


def test_seg_export_of_an_accepted_proposal_and_the_sr_referencing_it(session, truth, tmp_path):
    s, a = session, session.assist
    alt_click(s, "current", lesions_of(truth, 0)["L1"]["center_lps"])
    a.accept()
    paths = s.export_seg(tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert any(n.endswith("_SEG.dcm") for n in names), s.notices
    seg = pydicom.dcmread(next(p for p in paths if p.name.endswith("_SEG.dcm")))
    sr = pydicom.dcmread(next(p for p in paths if p.name.endswith("_SEG-SR.dcm")))
    assert seg.Modality == "SEG" and len(seg.SegmentSequence) == 1
    refs = [
        item.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    ]
    assert seg.SOPInstanceUID in refs


# ---------------------------------------------------------------------- follow-up


def _layers_of_pair():
    from recist_tool.synth.lesions import KnownTransform, followup_pair

    t = KnownTransform(translation=(12.0, -9.0, 15.0))
    base, fu, pair = followup_pair((48, 96, 96), (5.0, 4.0, 4.0), transform=t)
    out = []
    for vol, date in ((base, "20240110"), (fu, "20240410")):
        vol.metadata.update(
            patient_id="SYN-12", study_date=date, series_description="synthetic", modality="CT"
        )
        vol.sop_instance_uids = tuple(
            f"{vol.metadata['series_instance_uid']}.{i + 1}" for i in range(vol.shape[0])
        )
        out.append(image_layer_data(vol))
    return out, pair


def _known_registration(monkeypatch, pair, calls):
    """``recist_tool.register.register`` replaced by the known transform's affine fit
    (SimpleITK's optimisation takes 5-30 s on a busy CI machine; its accuracy is
    tested in tests/recist_tool/measure/test_register.py). Everything around it — the
    cache, the runner, the fallback, the jump — is the plugin's real path."""
    import recist_tool.register as reg_module

    g = np.stack(np.meshgrid(*[np.linspace(-120, 120, 5)] * 3, indexing="ij"), -1).reshape(-1, 3)
    q = pair.transform.push(g)
    m, *_ = np.linalg.lstsq(np.c_[g, np.ones(len(g))], q, rcond=None)
    matrix = np.eye(4)
    matrix[:3, :] = m.T

    def fake(fixed, moving, cancel=None):
        calls.append(
            (fixed.metadata["series_instance_uid"], moving.metadata["series_instance_uid"])
        )
        return reg_module.Registration(
            matrix, fixed.metadata["series_instance_uid"], moving.metadata["series_instance_uid"]
        )

    monkeypatch.setattr(reg_module, "register", fake)


def _session_on_pair(tmp_path, monkeypatch):
    """A session on the follow-up pair with the known registration, registering on its
    own: (session, pair, the registrations asked for)."""
    layers, pair = _layers_of_pair()
    calls: list = []
    _known_registration(monkeypatch, pair, calls)
    s = ReadingSession(ViewerModel(), readings_dir=tmp_path, reader="dr a")
    s.open_layers(layers)
    s.assist.auto_register = True
    return s, pair, calls


def _accepted_at_baseline(tmp_path, monkeypatch):
    """:func:`_session_on_pair`, work run at once, the first baseline lesion proposed
    and accepted: (session, pair, calls, lesion ID)."""
    s, pair, calls = _session_on_pair(tmp_path, monkeypatch)
    a = s.assist
    a.runner = lambda work, done, failed: done(work())
    a.propose_at(s.panes["current"], tuple(pair.centers_baseline[0]))
    return s, pair, calls, a.accept()


def _selected_at_follow_up(tmp_path, monkeypatch):
    """:func:`_accepted_at_baseline`, then the follow-up shown and that lesion
    selected there: (session, pair, lesion ID, follow-up label)."""
    s, pair, _calls, lid = _accepted_at_baseline(tmp_path, monkeypatch)
    fu = [tp.label for tp in s.reading.timepoints][1]
    s.show_timepoint(fu)
    s.select_lesion(None)
    s.select_lesion(lid)
    return s, pair, lid, fu


def _shown_at_registered_position(s, pair, lid):
    """Assert the follow-up pane shows lesion ``lid`` where the known transform puts
    its baseline position (the proposal offered there); returns that position."""
    a = s.assist
    assert a.target is not None and a.target[0] == lid
    bpos = np.asarray(s.reading.lesion(lid).findings["baseline"].position_lps)
    assert np.linalg.norm(np.asarray(a.target[2]) - pair.transform.push(bpos)) < 2.0
    assert abs(s.nav.z(s.panes["current"]) - a.target[2][2]) < 1e-6
    return bpos


def test_a_registration_that_cannot_be_cached_still_moves_the_pane(tmp_path, monkeypatch):
    """The readings folder cannot hold the registrations (a file in the folder's
    place; likewise a read-only or full disk): the registration used to fail with
    "File exists" after it was computed, and the pane stayed. Now the pane moves to the
    registered position and a warning says it is kept for this session only."""
    from recist_tool.register import RegistrationCacheWarning

    (tmp_path / "SYN-12.registrations").write_text("not a folder")
    s, pair, calls, lid = _accepted_at_baseline(tmp_path, monkeypatch)
    with pytest.warns(RegistrationCacheWarning, match="kept for this session only"):
        s.show_timepoint([tp.label for tp in s.reading.timepoints][1])
    assert calls
    _shown_at_registered_position(s, pair, lid)
    warned = [t for sev, t in s.notices if sev == "warning" and "kept for this session" in t]
    assert warned and "SYN-12.registrations" in warned[0]
    assert (tmp_path / "SYN-12.registrations").read_text() == "not a folder"


def test_switching_to_the_follow_up_shows_the_selected_lesion_where_it_moved(tmp_path, monkeypatch):
    """A lesion accepted at baseline stays selected; switching to the follow-up (the
    time-point box) left the pane at the same patient position, and clicking the
    lesion's row again changed nothing (it was already selected): the reader had to
    deselect and reselect it. Now the switch itself moves the pane to its registered
    position and offers a proposal there."""
    s, pair, calls, lid = _accepted_at_baseline(tmp_path, monkeypatch)
    a = s.assist
    assert s.active_lesion == lid
    s.show_timepoint([tp.label for tp in s.reading.timepoints][1])
    assert calls
    bpos = _shown_at_registered_position(s, pair, lid)
    assert "its registered position" in a.status
    # back at baseline: the lesion is shown where it was measured, no proposal offered
    s.show_timepoint("baseline")
    assert s.active_lesion == lid and a.target is None
    assert abs(s.nav.z(s.panes["current"]) - bpos[2]) < 2.6


def test_selecting_a_baseline_lesion_at_follow_up_jumps_to_its_registered_position(
    tmp_path, monkeypatch
):
    s, pair, calls = _session_on_pair(tmp_path, monkeypatch)
    a = s.assist
    jobs: list = []
    a.runner = lambda work, done, failed: jobs.append((work, done, failed))  # a worker
    base_c, fu_c = pair.centers_baseline[0], pair.centers_followup[0]
    assert np.linalg.norm(base_c - fu_c) > 15  # the same position would be wrong
    a.propose_at(s.panes["current"], tuple(base_c))
    work, done, _failed = jobs.pop()
    done(work())
    lid = a.accept()
    bpos = np.asarray(s.reading.lesion(lid).findings["baseline"].position_lps)
    fu = [tp.label for tp in s.reading.timepoints][1]
    s.show_timepoint(fu)
    s.select_lesion(lid)
    pane = s.panes["current"]
    # registering in the background: meanwhile the same patient position
    assert "registering" in a.status and len(jobs) == 1
    assert abs(s.nav.z(pane) - bpos[2]) < 2.6
    work, done, _failed = jobs.pop()
    done(work())  # the worker finished: the pane moves to the registered position
    assert calls and a.target is not None and a.target[0] == lid
    bpos = np.asarray(s.reading.lesion(lid).findings["baseline"].position_lps)
    assert np.linalg.norm(np.asarray(a.target[2]) - pair.transform.push(bpos)) < 2.0
    assert np.linalg.norm(np.asarray(a.target[2]) - fu_c) < 7.0  # 5 mm slices
    assert abs(s.nav.z(pane) - a.target[2][2]) < 1e-6
    assert any((tmp_path / "SYN-12.registrations").iterdir())  # cached next to the reading
    # selecting it again: no second registration (cached per series pair)
    s.select_lesion(None)
    s.select_lesion(lid)
    assert not jobs and len(calls) == 1
    a.runner = lambda work, done, failed: done(work())
    a.enter()  # Enter proposes there …
    assert a.has_pending
    a.enter()  # … and accepts
    assert not a.has_pending
    f = s.reading.lesion(lid).findings[fu]
    assert f.method == "assisted" and np.linalg.norm(np.asarray(f.position_lps) - fu_c) < 6.0


def test_an_alt_click_on_another_lesion_never_replaces_the_selected_one(session, truth):
    """A lesion accepted stays selected. An Alt+click on another lesion, then Enter,
    replaced that lesion's measurement (the reader measured L1 then L2 and was left
    with one lesion, holding L2's axes). Now it makes a new lesion; an Alt+click on
    the selected lesion itself still re-measures it."""
    s, a = session, session.assist
    l1, l2 = lesions_of(truth, 0)["L1"], lesions_of(truth, 0)["L2"]
    alt_click(s, "current", l1["center_lps"])
    t1 = a.accept()
    first = s.reading.lesion(t1).findings["baseline"].long_axis
    assert s.active_lesion == t1
    alt_click(s, "current", l2["center_lps"])
    t2 = a.accept()
    assert t2 != t1 and len(s.reading.lesions) == 2
    assert s.reading.lesion(t1).findings["baseline"].long_axis == first  # untouched
    assert abs(s.reading.lesion(t2).findings["baseline"].long_mm - l2["long_axis_mm"]) < 4
    # on the selected lesion itself: re-measured, no new lesion
    alt_click(s, "current", l2["center_lps"])
    assert a.accept() == t2 and len(s.reading.lesions) == 2


def test_a_non_target_selected_at_follow_up_is_shown_where_it_moved_and_offers_no_axes(
    tmp_path, monkeypatch
):
    """A non-target selected at follow-up was offered "Enter (or Propose) proposes its
    axes there", and Enter put a target's measurement on it. Its status is what is
    read: the pane moves to its registered position, the status line asks for the
    status, and Enter proposes nothing."""
    s, pair, _calls, lid = _accepted_at_baseline(tmp_path, monkeypatch)
    a = s.assist
    nt = s.update_lesion(lid, kind="non_target")
    assert nt is not None and s.reading.lesion(nt).kind == "non_target"
    bpos = np.asarray(s.reading.lesion(nt).findings["baseline"].position_lps)
    fu = [tp.label for tp in s.reading.timepoints][1]
    s.show_timepoint(fu)
    s.select_lesion(None)
    s.select_lesion(nt)
    # the known transform puts it here (the registration found agrees within 2 mm)
    assert abs(s.nav.z(s.panes["current"]) - pair.transform.push(bpos)[2]) < 2.0
    assert "its registered position" in a.status and "set its status" in a.status
    assert "proposes" not in a.status
    assert a.target is None and not a.can_enter()
    a.enter()
    assert not a.has_pending and fu not in s.reading.lesion(nt).findings
    # its status set, the line says so (it kept asking "set its status"), also when
    # it is selected again; undone, it asks again
    s.select_lesion(None)
    s.select_lesion(nt)
    head = a.status[: a.status.index("A non-target")]
    s.set_status("present", nt)
    assert a.status == head + (
        f"A non-target, present at {fu}: the buttons (Alt+I, Alt+0, Alt+U) change it"
    )
    s.select_lesion(None)
    s.select_lesion(nt)
    assert f"present at {fu}" in a.status and "set its status" not in a.status
    # an Alt+click on another lesion is not for it: it was, and Enter put that
    # lesion's axes on the non-target
    pane = s.panes["current"]
    other = np.asarray(pair.centers_followup[1], float)
    a.click(pane, other[::-1])
    assert a.has_pending and a.pending.lesion_id is None and a.pending.new
    assert "Proposal for a lesion to add" in a.status and nt not in a.status
    a.reject()
    assert s.reading.lesion(nt).findings[fu].long_axis is None
    a.click(pane, np.asarray(a.registered_position(nt, fu))[::-1])  # on it: for it
    assert a.pending.lesion_id == nt
    a.reject()
    s.select_lesion(None)
    s.select_lesion(nt)
    s.undo()
    s.select_lesion(None)
    s.select_lesion(nt)
    assert a.status == head + "A non-target: set its status with the buttons (Present " + (
        "Alt+I, Absent Alt+0, Progression Alt+U)"
    )


def test_selecting_a_lesion_measured_here_replaces_the_last_selections_status(
    tmp_path, monkeypatch
):
    """After a non-target was selected at follow-up ("NT…: set its status"), selecting
    a target measured there already left that text in place: the status line spoke of
    the other lesion. Now it speaks of the lesion selected, and a lesion with nothing
    to offer (at baseline) clears it."""
    s, pair, _calls, lid = _accepted_at_baseline(tmp_path, monkeypatch)
    a = s.assist
    a.propose_at(s.panes["current"], tuple(pair.centers_baseline[1]), new=True)
    nt = s.update_lesion(a.accept(), kind="non_target")
    fu = [tp.label for tp in s.reading.timepoints][1]
    s.show_timepoint(fu)
    s.select_lesion(None)
    s.select_lesion(lid)
    a.enter()
    assert a.has_pending
    assert a.accept() == lid and fu in s.reading.lesion(lid).findings
    s.select_lesion(nt)
    assert a.status.startswith(f"{nt}: its registered position") and "set its status" in a.status
    s.select_lesion(lid)
    assert a.status.startswith(f"{lid}: measured at {fu}") and nt not in a.status
    s.select_lesion(nt)
    assert "set its status" in a.status
    s.show_timepoint("baseline")
    s.select_lesion(lid)  # at baseline nothing is offered: the follow-up's text goes
    assert a.status == ""


def test_a_registration_arriving_under_a_pending_proposal_leaves_it_and_its_view(
    tmp_path, monkeypatch
):
    """Enter pressed while the follow-up still registers proposes at the same patient
    position. When the registration then arrived, it moved the pane away from that
    proposal and replaced its status ("… Enter proposes its axes there") while Enter
    would accept it. Now the proposal, its slice and its status stay; after Esc,
    Enter proposes at the registered position."""
    s, pair, calls = _session_on_pair(tmp_path, monkeypatch)
    a = s.assist
    jobs: list = []
    a.runner = lambda work, done, failed: jobs.append((work, done, failed))

    def run(i: int) -> None:
        work, done, _failed = jobs.pop(i)
        done(work())

    a.propose_at(s.panes["current"], tuple(pair.centers_baseline[0]))
    run(-1)
    lid = a.accept()
    fu = [tp.label for tp in s.reading.timepoints][1]
    s.show_timepoint(fu)
    s.select_lesion(lid)
    assert "registering" in a.status and len(jobs) == 1
    a.enter()  # meanwhile: a proposal at the same patient position
    run(-1)
    pane = s.panes["current"]
    assert a.has_pending and "Enter accepts" in a.status
    shown = (s.nav.z(pane), a.pending.proposal.long_axis_mm, a.status)
    run(0)  # the registration arrives
    assert calls and a.has_pending
    assert (s.nav.z(pane), a.pending.proposal.long_axis_mm, a.status) == shown
    bpos = np.asarray(s.reading.lesion(lid).findings["baseline"].position_lps)
    assert np.linalg.norm(np.asarray(a.target[2]) - pair.transform.push(bpos)) < 2.0
    a.reject()
    a.enter()  # proposes at the registered position
    run(-1)
    assert a.has_pending
    assert abs(s.nav.z(pane) - pair.centers_followup[0][2]) < 6.0


def test_a_lesion_drawn_by_hand_where_it_was_offered_is_no_longer_offered(tmp_path, monkeypatch):
    """At follow-up a selected baseline target is offered ("Enter (or Propose)
    proposes its axes there"). When the reader drew it by hand instead, the offer
    stayed: the status still said so and Enter proposed again, to replace the line
    just drawn. Now the status says it is measured and Enter does nothing."""
    s, pair, lid, fu = _selected_at_follow_up(tmp_path, monkeypatch)
    a = s.assist
    assert a.target is not None and "proposes its axes there" in a.status
    pane = s.panes["current"]
    c = np.asarray(pair.centers_followup[0], float)
    c[2] = s.nav.z(pane)  # drawn on the slice shown (the proposal's, registered)
    half = np.array([6.0, 0.0, 0.0])
    s.arm("long")
    napari_drag(pane.viewer, pane.layers.lines, world(c - half), world(c + half))
    f = s.reading.lesion(lid).findings[fu]
    assert f.long_mm == pytest.approx(12.0, abs=1.0) and f.method in (None, "manual")
    assert a.target is None and not a.can_enter()
    assert a.status.startswith(f"{lid}: measured at {fu}")


def test_undoing_a_follow_up_acceptance_offers_the_lesion_again(tmp_path, monkeypatch):
    """Ctrl+Z after Enter at follow-up took the measurement back, but Enter then did
    nothing (the offer had gone with the acceptance). Now Enter proposes again. And
    the offer's text ("… proposes its axes there") went on showing after a switch to
    baseline, where it is void: it goes."""
    s, _pair, lid, fu = _selected_at_follow_up(tmp_path, monkeypatch)
    a = s.assist
    a.enter()
    assert a.accept() == lid and fu in s.reading.lesion(lid).findings
    assert not a.can_enter()
    s.undo()
    assert fu not in s.reading.lesion(lid).findings
    assert a.status.startswith("Undone: accept proposal") and a.can_enter()
    a.enter()
    assert a.has_pending and a.pending.proposal is not None
    a.reject()
    s.select_lesion(None)
    s.select_lesion(lid)
    assert "proposes its axes there" in a.status
    s.show_timepoint("baseline")
    assert a.target is None and "proposes its axes there" not in a.status
