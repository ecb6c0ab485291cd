"""npe2 reader: a DICOM file or folder -> one image layer per loadable CT series.

A thin layer over :mod:`recist_tool.dicom`; loader errors become napari
notifications. ``napari_get_reader`` returns None for anything that is not DICOM so
other readers still get their turn.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error, show_warning

from napari_recist._layers import image_layer_data
from recist_tool.errors import RecistError

_NULL = [(None,)]  # napari's "read fine, nothing to add" sentinel
_PROBE_FILES = 50


def napari_get_reader(path: str | list[str]) -> Any:
    """Return :func:`read_dicom` when ``path`` is a DICOM file or a folder holding one."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        return read_dicom if _has_dicom(Path(path)) else None
    except OSError:
        return None


def _is_dicom_file(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(132)[128:132] == b"DICM"


def _has_dicom(p: Path) -> bool:
    if p.is_file():
        return _is_dicom_file(p)
    if not p.is_dir():
        return False
    seen = 0
    for root, dirs, files in os.walk(p):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if _is_dicom_file(Path(root, name)):
                return True
            seen += 1
            if seen >= _PROBE_FILES:
                return False
    return False


def read_dicom(path: str | list[str]) -> list[tuple]:
    """Load every loadable series under ``path`` as an image layer (HU, mm)."""
    from recist_tool.dicom.errors import DicomWarning

    path = os.fspath(path[0] if isinstance(path, list) else path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DicomWarning)
        try:
            layers = _load_all(path)
        except RecistError as exc:
            show_error(f"recist: {exc}")
            layers = _NULL
    for w in caught:  # what the loader corrected or skipped, said once in the viewer
        if issubclass(w.category, DicomWarning):
            show_warning(f"recist: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return layers


def _load_all(path: str) -> list[tuple]:
    from recist_tool.dicom import load_series, scan
    from recist_tool.dicom.errors import SeriesSelectionError

    try:  # one CT series: a single header pass
        return [image_layer_data(load_series(path), folder=path)]
    except SeriesSelectionError:
        pass  # several series: list them, load each
    found = scan(path)
    for s in found:
        if not s.loadable:
            show_warning(f"recist: series {s.series_description!r} skipped: {s.problem}")
    usable = [s for s in found if s.loadable]
    if not usable:
        raise RecistError(f"{path}: no loadable CT series")
    return [image_layer_data(load_series(path, s.series_instance_uid), folder=path) for s in usable]
