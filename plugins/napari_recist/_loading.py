"""Loading a study folder for the reading session, with the loader's choices.

:func:`load_study` reads every CT series under a folder with
:func:`recist_tool.dicom.load_series` and returns layer data for those it could read
and a :class:`SeriesProblem` for each it could not: the loader's reason in full,
and — where the loader offers one — the choice that reads it anyway: which
acquisition of a series holding two (``acquisition=N``), or resampling a gantry-tilted
series onto an orthogonal grid (``tilt="resample"``). The widget shows the reason
first and the choices as buttons; :func:`load_study` with ``options`` then loads the
series as chosen. What the loader corrected or skipped (its warnings) comes back as
notes. No Qt here.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from napari_recist._layers import image_layer_data
from recist_tool.errors import RecistError


@dataclass
class SeriesProblem:
    """A series that was not loaded: why, and what the reader can choose.

    Attributes
    ----------
    title : str
        ``#2 AXIAL 5mm · 2024-01-15`` (for the reader).
    reason : str
        The loader's message without its series/folder prefix (shown first, in full).
    options : list of (str, dict)
        Button text and the :func:`recist_tool.dicom.load_series` keywords that load
        the series that way (empty when nothing can be chosen).
    series_uid, folder, patient_id : str
        Shown last (identifiers).
    """

    title: str
    reason: str
    folder: str
    series_uid: str = ""
    patient_id: str = ""
    options: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def text(self) -> str:
        """Plain text: reason first, identifiers last."""
        lines = [f"{self.title}: not loaded.", self.reason]
        if self.options:
            lines.append("Choices: " + "; ".join(t for t, _ in self.options))
        lines.append(f"Folder {self.folder} · series UID {self.series_uid or 'unknown'}")
        return "\n".join(lines)


@dataclass
class LoadedStudy:
    """What :func:`load_study` read: layer data, problems, the loader's notes."""

    layers: list[tuple] = field(default_factory=list)
    problems: list[SeriesProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _title(number: Any, description: str, date: str) -> str:
    num = "" if number in (None, "") else f"#{number} "
    date = str(date or "")
    if len(date) == 8 and date.isdigit():
        date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    return f"Series {num}{description or 'unnamed'}" + (f" · {date}" if date else "")


def _reason(message: str, uid: str, folder: str) -> str:
    """The loader's message without the leading ``series … (uid) in folder:`` label."""
    for marker in (f"{folder}: ", f"({uid}): ", f"{uid}: "):
        if marker.strip() and marker in message:
            return message.split(marker, 1)[1].strip()
    return message.strip()


def _options(exc: Exception, info: Any, kw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    from recist_tool.dicom.errors import DuplicatePositionError, GantryTiltError

    if isinstance(exc, GantryTiltError) and kw.get("tilt") != "resample":
        return [("Resample onto an orthogonal grid", {**kw, "tilt": "resample"})]
    if isinstance(exc, DuplicatePositionError) and "acquisition" not in kw:
        headers = getattr(info, "headers", None) or []
        counts = Counter(getattr(h, "acquisition_number", None) for h in headers)
        numbers = sorted((n for n in counts if n is not None), key=str)
        if len(numbers) > 1:
            return [
                (f"Acquisition {n} ({counts[n]} images)", {**kw, "acquisition": n}) for n in numbers
            ]
    return []


def load_study(
    path: str | os.PathLike,
    options: dict[str, dict[str, Any]] | None = None,
    only: set[str] | None = None,
) -> LoadedStudy:
    """Load the CT series under ``path`` (see the module).

    Parameters
    ----------
    path : path-like
        A DICOM folder (or file).
    options : dict, optional
        Series UID -> :func:`recist_tool.dicom.load_series` keywords
        (``acquisition``, ``tilt``), as chosen by the reader.
    only : set of str, optional
        Load only these series (e.g. the one a choice was made for).

    Returns
    -------
    LoadedStudy
    """
    from recist_tool.dicom import load_series, scan
    from recist_tool.dicom.errors import DicomError, DicomWarning

    folder = os.fspath(path)
    options = options or {}
    out = LoadedStudy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DicomWarning)
        done = False
        if not options and only is None:
            try:  # one CT series: a single header pass
                out.layers.append(image_layer_data(load_series(folder, stream=True), folder=folder))
                done = True
            except DicomError:
                pass  # several series, or a problem: look at each
        if not done:
            try:
                found = scan(folder)
            except RecistError as exc:
                out.problems.append(SeriesProblem("This folder", str(exc), folder))
                found = []
            for info in found:
                uid = info.series_instance_uid
                if only is not None and uid not in only:
                    continue
                kw = dict(options.get(uid, {}))
                title = _title(info.series_number, info.series_description, info.study_date)
                try:
                    volume = load_series(folder, uid, stream=True, **kw)
                except DicomError as exc:
                    out.problems.append(
                        SeriesProblem(
                            title,
                            _reason(str(exc), uid, getattr(info, "folder", folder)),
                            getattr(info, "folder", folder),
                            uid,
                            str(info.patient_id or ""),
                            _options(exc, info, kw),
                        )
                    )
                    continue
                out.layers.append(image_layer_data(volume, folder=folder))
    for w in caught:
        if issubclass(w.category, DicomWarning):
            out.notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out
