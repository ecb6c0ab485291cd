"""Files of a reading: snapshots, the JSON sidecar path and the recovery file.

A :class:`Snapshot` is what a save writes (the annotation table and the sidecar
document); :func:`write_snapshot` writes both atomically, the sidecar carrying the
CSV's SHA-256. :func:`write_recovery` writes the sidecar document alone as a recovery
file after each change and :func:`drop_recovery` removes it once a save caught up.
These know paths and bytes, not the model: reading a sidecar back into a
:class:`~recist_tool.reading.model.Reading` is in :mod:`recist_tool.reading.model`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recist_tool import annotations as ann
from recist_tool._atomic import atomic_write_text


@dataclass(frozen=True)
class Snapshot:
    """What a save writes: the annotation table and the sidecar document.

    ``frame`` may be given as the table's rows instead (``rows``, a list of
    :class:`recist_tool.annotations.Measurement`): the table is then built when first
    asked for, e.g. in the thread that writes it.
    """

    table: pd.DataFrame | None
    doc: dict[str, Any]
    rows: tuple[Any, ...] | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The annotation table."""
        if self.table is not None:
            return self.table
        frame = _rows_frame(list(self.rows or ()))
        object.__setattr__(self, "table", frame)
        return frame


def _rows_frame(rows: list[Any]) -> pd.DataFrame:
    frame = ann.to_frame(rows)
    for col in ann.OPTIONAL_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series(dtype=object)
    return frame


def write_snapshot(snapshot: Snapshot, csv_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write a :class:`Snapshot` as annotation CSV + JSON sidecar (each atomically)."""
    csv_path = Path(csv_path)
    ann.write_annotations(snapshot.frame, csv_path)
    doc = dict(snapshot.doc)
    doc["csv_file"] = csv_path.name
    doc["csv_sha256"] = _sha256(csv_path)
    side = sidecar_path(csv_path)
    # Compact JSON: the C encoder is ~10x faster than an indented dump, and the
    # sidecar is rewritten after every change.
    atomic_write_text(side, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    return csv_path, side


def recovery_path(csv_path: str | os.PathLike) -> Path:
    """The recovery file of an annotation CSV: ``<name>.recovery.json``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".recovery.json")


def write_recovery(snapshot: Snapshot, csv_path: str | os.PathLike) -> Path:
    """Write the snapshot's sidecar document as the recovery file (atomically).

    Cheaper than a full save (no CSV); an application writes it at once after each
    change and the full save afterwards, so a crash in between loses nothing:
    :meth:`Reading.load` prefers a recovery file newer than the sidecar.
    """
    path = recovery_path(csv_path)
    atomic_write_text(path, json.dumps(snapshot.doc, ensure_ascii=False, separators=(",", ":")))
    return path


def drop_recovery(csv_path: str | os.PathLike, saved_revision: int) -> None:
    """Remove the recovery file once a save of ``saved_revision`` or later is done."""
    path = recovery_path(csv_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if int(doc.get("revision", 0)) <= saved_revision:
            path.unlink()
    except (OSError, ValueError):
        pass


def _revision(path: Path) -> int:
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("revision", 0))
    except (OSError, ValueError, AttributeError):
        return -1


def sidecar_path(csv_path: str | os.PathLike) -> Path:
    """The sidecar of an annotation CSV: same folder and name, ``.json`` suffix."""
    return Path(csv_path).with_suffix(".json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def csv_state(csv_path: str | os.PathLike) -> str:
    """The SHA-256 of an annotation CSV as it is on disk ("" when there is none)."""
    p = Path(csv_path)
    try:
        return _sha256(p)
    except FileNotFoundError:
        return ""


def changed_elsewhere(csv_path: str | os.PathLike, seen: str | None) -> bool:
    """Whether a reading's CSV was written since a program read or wrote it (its
    :func:`csv_state` then was ``seen``) by something that did not write its sidecar
    with it: a hand edit, a spreadsheet, another program. A save (CSV + sidecar) by
    this or another recist-tool process is not (the sidecar records the CSV it was
    written with), nor a CSV that is not there. Such a CSV must not be written over.
    """
    now = csv_state(csv_path)
    if not now or now == seen:
        return False
    try:
        doc = json.loads(sidecar_path(csv_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return not (isinstance(doc, dict) and doc.get("csv_sha256") == now)
