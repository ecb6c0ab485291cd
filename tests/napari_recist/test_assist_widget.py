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

from .conftest import pump, to_canvas, wait_until, world
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


def test_alt_click_then_enter_records_an_assisted_measurement(make_napari_viewer, qtbot, phantom):
    vol, lesions = phantom
    w = make_widget(make_napari_viewer)
    s, a = w.session, w.session.assist
    s.open_layers([image_layer_data(vol)])
    pump(50)
    liver = lesions[0]
    s.nav.set_z(s.panes["current"], float(liver.center_lps[2]))
    pump(30)
    # a rejected proposal first: Esc
    alt_click(w, liver.center_lps)
    assert wait_until(lambda: a.has_pending, 15000), a.status
    assert w.assist_panel.accept_btn.isEnabled() and "LA" in w.assist_panel.label.text()
    pump(30)
    label = w.assist_panel.label  # the whole (wrapped) text is shown, none cut off
    assert label.height() >= label.heightForWidth(label.width()) > 0
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
