"""npe2 reader: a DICOM file or folder -> one image layer per loadable CT series.

A thin layer over :mod:`recist_tool.dicom`; loader errors become napari
notifications. ``napari_get_reader`` returns None for anything that is not DICOM so
other readers still get their turn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error, show_warning

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
    """Load every loadable series under ``path`` as an image layer (HU, mm).

    A series that cannot be read is named in an error notification with the reason
    first (identifiers last); the RECIST widget's *Open study…* offers the loader's
    choices (which acquisition, resampling a tilted series) for it.
    """
    from napari_recist._loading import load_study

    path = os.fspath(path[0] if isinstance(path, list) else path)
    loaded = load_study(path)
    for note in loaded.notes:  # what the loader corrected or skipped, said once
        show_warning(f"recist: {note}")
    for problem in loaded.problems:
        if not problem.series_uid:  # the folder as a whole
            show_error(f"recist: {problem.reason}")
            continue
        hint = (
            " Open it with the RECIST widget's 'Open study…' to choose: "
            + "; ".join(t for t, _ in problem.options)
            + "."
            if problem.options
            else ""
        )
        show_error(
            f"recist: {problem.title} not loaded — {problem.reason}.{hint} "
            f"(series {problem.series_uid})"
        )
    if not loaded.layers and not loaded.problems:
        show_error(f"recist: {path}: no loadable CT series")
    return loaded.layers or _NULL
