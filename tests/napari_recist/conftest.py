"""Fixtures of the plugin tests: the sample study, private folders, real input events.

Run under a virtual display: ``xvfb-run -a .venv/bin/python -m pytest tests/napari_recist``.
The GUI tests drive napari's canvases with real Qt mouse, wheel and key events
(``QTest`` on the vispy canvas widget), as a reader's hand would; those helpers live in
``napari_recist._testing`` (shared with ``scripts/walkthrough.py``) and are re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from napari_recist._testing import (  # noqa: F401  (re-exported for the tests)
    in_sight,
    pump,
    real_click,
    real_drag,
    real_wheel,
    to_canvas,
    wait_until,
    world,
)

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


@pytest.fixture
def session(sample_layers):
    """A reading session by "dr a" on a bare ``ViewerModel`` (no Qt) with the sample open."""
    from napari.components import ViewerModel
    from napari_recist._session import ReadingSession

    s = ReadingSession(ViewerModel(), reader="dr a")
    s.open_layers(fresh(sample_layers))
    return s


def add_sample(viewer, sample_layers) -> list:
    """Add the sample's layers as File > Open would (without reading the files again)."""
    out = []
    for data, kwargs, _ in fresh(sample_layers):
        out.append(viewer.add_image(data, **kwargs))
    return out


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
