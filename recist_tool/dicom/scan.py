"""Header-only pass over a file or folder: one :class:`SeriesInfo` per series."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from recist_tool.dicom.decoders import choose_plugin, syntax_name
from recist_tool.dicom.errors import (
    DicomError,
    InvalidHeaderError,
    NoDicomFoundError,
    SkippedFileWarning,
)
from recist_tool.dicom.geometry import plan_volume
from recist_tool.dicom.headers import ImageHeader, read_header

SKIP_NAMES = frozenset({"DICOMDIR"})


@dataclass
class SeriesInfo:
    """One series found by :func:`scan`.

    ``image_count`` counts image objects (files); ``frame_count`` their frames.
    ``loadable`` is True when :func:`~recist_tool.dicom.load_series` would build a
    volume from it; otherwise ``problem`` says why. ``headers`` (not shown in
    ``repr``) are reused by the loader so files are parsed once.
    """

    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    patient_id: str
    study_date: str
    study_instance_uid: str
    study_description: str
    image_count: int
    frame_count: int
    rows: int
    columns: int
    slice_thickness: float | None
    transfer_syntax: str
    folder: str
    loadable: bool
    problem: str | None = None
    unreadable: list[str] = field(default_factory=list)
    headers: list[ImageHeader] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record (no headers)."""
        return {
            k: getattr(self, k)
            for k in (
                "patient_id",
                "study_date",
                "study_instance_uid",
                "study_description",
                "series_instance_uid",
                "series_number",
                "series_description",
                "modality",
                "image_count",
                "frame_count",
                "rows",
                "columns",
                "slice_thickness",
                "transfer_syntax",
                "folder",
                "loadable",
                "problem",
                "unreadable",
            )
        }


def iter_files(path: str | os.PathLike) -> list[str]:
    """All regular files under ``path`` (or ``path`` itself), sorted, hidden ones skipped."""
    p = os.fspath(path)
    if os.path.isfile(p):
        return [p]
    if not os.path.isdir(p):
        raise NoDicomFoundError(f"{p}: no such file or folder")
    out = []
    for root, dirs, files in os.walk(p):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [
            os.path.join(root, f)
            for f in sorted(files)
            if not f.startswith(".") and f not in SKIP_NAMES
        ]
    return out


def read_headers(
    path: str | os.PathLike,
) -> tuple[list[ImageHeader], list[tuple[str, str]]]:
    """Headers of every DICOM image under ``path`` and the damaged files.

    Non-DICOM files and non-image objects are skipped silently; damaged DICOM files
    are returned as ``(path, reason)`` (the caller decides whether to warn).
    """
    headers, bad = [], []
    for f in iter_files(path):
        try:
            h = read_header(f)
        except InvalidHeaderError as exc:  # a claim or value that cannot be trusted
            bad.append((f, exc.reason))
            continue
        except Exception as exc:  # damaged file: pydicom raises many types
            bad.append((f, f"unreadable ({type(exc).__name__}: {exc})"))
            continue
        if h is not None:
            headers.append(h)
    return headers, bad


def no_image_error(path: str, damaged: list[tuple[str, str]]) -> NoDicomFoundError:
    """The error for a path without a usable image, naming a skipped file if any."""
    extra = (
        f"; {len(damaged)} DICOM file(s) left out as damaged or untrustworthy, e.g. "
        f"{damaged[0][0]}: {damaged[0][1]}"
        if damaged
        else ""
    )
    return NoDicomFoundError(f"{path}: no DICOM image found{extra}")


def warn_skipped(skipped: list[tuple[str, str]], where: str, suffix: str = "") -> None:
    """One :class:`SkippedFileWarning` per file, or one summary when there are many."""
    if len(skipped) <= 3:
        for p, why in skipped:
            warnings.warn(f"skipped {p}: {why}{suffix}", SkippedFileWarning, stacklevel=3)
        return
    names = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped[:3])
    warnings.warn(
        f"{where}: skipped {len(skipped)} unreadable file(s){suffix}, e.g. {names}",
        SkippedFileWarning,
        stacklevel=3,
    )


def group_series(headers: list[ImageHeader]) -> dict[str, list[ImageHeader]]:
    """Headers grouped by SeriesInstanceUID, in file order."""
    groups: dict[str, list[ImageHeader]] = {}
    for h in headers:
        groups.setdefault(h.series_instance_uid, []).append(h)
    return groups


def _most_common(values):
    values = [v for v in values if v not in (None, "")]
    return Counter(values).most_common(1)[0][0] if values else None


def describe_series(headers: list[ImageHeader], damaged: list[tuple[str, str]]) -> SeriesInfo:
    """Summarise one series and check whether it is loadable (no pixel read)."""
    good = [h for h in headers if h.problem is None]
    skipped = [(os.path.basename(h.path), h.problem) for h in headers if h.problem]
    skipped += [(os.path.basename(p), why) for p, why in damaged]
    unreadable = [f"{name}: {why}" for name, why in skipped]
    h0 = headers[0]
    problem = None
    try:
        if not good:
            raise DicomError("no readable image")
        for ts in sorted({h.transfer_syntax for h in good}):
            choose_plugin(ts, where=os.path.dirname(good[0].path))
        plan = plan_volume(good, skipped=skipped)
        folder = plan.folder
    except DicomError as exc:
        problem = str(exc)
        folder = os.path.dirname(h0.path)
    syntaxes = sorted({syntax_name(h.transfer_syntax) for h in headers})
    return SeriesInfo(
        series_instance_uid=h0.series_instance_uid,
        series_number=h0.series_number,
        series_description=h0.series_description,
        modality=h0.modality,
        patient_id=h0.patient_id,
        study_date=h0.study_date,
        study_instance_uid=h0.study_instance_uid,
        study_description=h0.study_description,
        image_count=len(headers),
        frame_count=sum(len(h.frames) for h in headers),
        rows=_most_common(h.rows for h in headers) or 0,
        columns=_most_common(h.columns for h in headers) or 0,
        slice_thickness=_most_common(f.slice_thickness for h in headers for f in h.frames),
        transfer_syntax=" + ".join(syntaxes),
        folder=folder,
        loadable=problem is None,
        problem=problem,
        unreadable=unreadable,
        headers=headers,
    )


def scan(path: str | os.PathLike) -> list[SeriesInfo]:
    """Find the image series under ``path`` by reading headers only.

    Parameters
    ----------
    path : path-like
        A DICOM file or a folder (walked recursively).

    Returns
    -------
    list of SeriesInfo
        One record per SeriesInstanceUID, sorted by study date, study and series
        number.  Non-DICOM files and non-image objects (SR, RTSTRUCT, PR, SEG …)
        are skipped.

    Raises
    ------
    NoDicomFoundError
        When ``path`` holds no DICOM image at all.
    """
    headers, damaged = read_headers(path)
    if not headers:
        raise no_image_error(os.fspath(path), damaged)
    warn_skipped(damaged, os.fspath(path))
    groups = group_series(headers)
    # A damaged file cannot be attributed to a series; attach it to its folder's series.
    infos = []
    for hs in groups.values():
        folders = {os.path.dirname(h.path) for h in hs}
        mine = [d for d in damaged if os.path.dirname(d[0]) in folders]
        infos.append(describe_series(hs, mine))
    infos.sort(
        key=lambda s: (
            s.study_date,
            s.study_instance_uid,
            s.series_number or 0,
            s.series_instance_uid,
        )
    )
    return infos
