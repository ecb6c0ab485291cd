"""Fixtures of the GUI tests: the sample study, a private readings folder, notifications.

Run under a virtual display: ``xvfb-run -a .venv/bin/python -m pytest tests/napari_recist``.
"""

from __future__ import annotations

import json
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
    """Autosaves of every test go to its own folder."""
    path = tmp_path / "readings"
    monkeypatch.setenv("RECIST_READINGS_DIR", str(path))
    return path


@pytest.fixture
def notifications():
    """Notifications shown while the test runs (severity, message)."""
    from napari.utils.notifications import notification_manager

    seen: list[tuple[str, str]] = []

    def keep(n) -> None:
        seen.append((str(n.severity), n.message))

    notification_manager.notification_ready.connect(keep)
    yield seen
    notification_manager.notification_ready.disconnect(keep)


def add_sample(viewer, sample_layers) -> list:
    """Add the sample's layers as File > Open would (without reading the files again)."""
    out = []
    for data, kwargs, _ in sample_layers:
        out.append(viewer.add_image(data, **{**kwargs, "metadata": dict(kwargs["metadata"])}))
    return out


def drag(layer, start_world, end_world, steps: int = 4) -> None:
    """Press, drag and release the mouse on ``layer`` in its current mode (world mm)."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    start, end = np.asarray(start_world, float), np.asarray(end_world, float)
    common = {"dims_displayed": [1, 2], "view_direction": None}
    mouse_press_callbacks(
        layer, read_only_mouse_event(type="mouse_press", position=tuple(start), **common)
    )
    for t in np.linspace(0, 1, steps + 1)[1:]:
        pos = tuple(start + t * (end - start))
        mouse_move_callbacks(
            layer,
            read_only_mouse_event(type="mouse_move", is_dragging=True, position=pos, **common),
        )
    mouse_release_callbacks(
        layer, read_only_mouse_event(type="mouse_release", position=tuple(end), **common)
    )
