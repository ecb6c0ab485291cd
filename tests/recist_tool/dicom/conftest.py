"""Small generated series (64 × 64 × 20) shared by the DICOM tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from recist_tool.synth.phantom import write_series


@pytest.fixture(scope="session")
def series_dir(tmp_path_factory):
    """``series_dir(name, **options)`` writes (once per session) a generated series."""
    root = tmp_path_factory.mktemp("series")
    made: dict[str, tuple[Path, object]] = {}

    def make(name: str, **kw) -> Path:
        if name not in made:
            folder = root / name
            made[name] = (folder, write_series(folder, **kw))
        return made[name][0]

    make.truth = lambda name: made[name][1]  # type: ignore[attr-defined]
    return make


@pytest.fixture
def no_warnings():
    """Fail on any warning raised inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
