"""The real-input helpers exist once: the GUI tests and the walkthrough share them."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import napari_recist._testing as shared

from . import conftest

WALKTHROUGH = Path(__file__).resolve().parents[2] / "scripts" / "walkthrough.py"
HELPERS = ("pump", "to_canvas", "real_drag", "real_click", "real_wheel", "world")


def _walkthrough_module():
    spec = importlib.util.spec_from_file_location("walkthrough_under_test", WALKTHROUGH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_tests_and_the_walkthrough_use_one_set_of_input_helpers():
    walk = _walkthrough_module()
    for name in HELPERS:
        assert getattr(conftest, name) is getattr(shared, name), name
        assert getattr(walk, name) is getattr(shared, name), name
    # nothing that sends events is written again in the script
    own = {
        n for n, f in vars(walk).items() if inspect.isfunction(f) and f.__module__ == walk.__name__
    }
    assert own <= {"run", "main"}, own


def test_world_is_lps_reversed():
    assert shared.world([1.0, 2.0, 3.0]).tolist() == [3.0, 2.0, 1.0]
