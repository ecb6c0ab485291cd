"""Every layer the plugin adds is in mm, like the CT it sits on: napari warns
"Inconsistent units across layers; units will not be used for rendering" (and stops
using units) as soon as one layer of a viewer has other units. The proposal layers of
the measurement assistance once had none (pixels): this guards every viewer the
plugin fills — the reading session with a proposal shown, its comparison pane, and
the adjudicator's view."""

from __future__ import annotations

import pytest
from napari.components import ViewerModel
from napari_recist._adjudication import Adjudication

from .cohorts import make_double_read
from .conftest import lesions_of
from .test_assist import alt_click

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def assert_one_unit(viewer) -> None:
    units = {layer.name: tuple(str(u) for u in layer.units) for layer in viewer.layers}
    assert viewer.layers.extent.units is not None, units  # napari's test for the warning
    assert set(units.values()) == {("millimeter",) * 3}, units


def test_session_and_proposal_layers_are_in_mm(session, truth):
    s = session
    alt_click(s, "current", lesions_of(truth, 0)["L1"]["center_lps"])
    assert s.assist.has_pending
    assert any(layer.name == "RECIST proposal" for layer in s.panes["current"].viewer.layers)
    for pane in s.panes.values():
        assert_one_unit(pane.viewer)


def test_adjudication_layers_are_in_mm(tmp_path):
    viewer = ViewerModel()
    a = Adjudication(viewer, "dr_lee")
    assert a.open_cohort(make_double_read(tmp_path)) and a.open_patient("DEMO-001")
    assert len(a.layers) >= 5  # the image, each reader's lines, marks and labels
    assert_one_unit(viewer)
