"""A cohort read by several readers: finding the readings, their status, their responses.

The cohort folder is the worklist's (:mod:`recist_tool.worklist.layout`): readings at
``COHORT_DIR/readings/<reader>/<patient>.csv`` (the annotation format,
:mod:`recist_tool.annotations`), one patient per file; ``readings/adjudicated`` holds
the adjudicated readings. When the folder has a worklist (``cohort.json``,
``worklist.csv``, :class:`recist_tool.worklist.Worklist`), only readings ``done`` or
``signed`` there count (unless asked otherwise).

Reader assignment (``recist-tool worklist init --readers N`` or ``--assign CSV``) is
the worklist's: :func:`recist_tool.worklist.assign_readers` and
:func:`recist_tool.worklist.read_assignments`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recist_tool.annotations import read_annotations
from recist_tool.response import Evaluation, ResponseSettings, evaluate
from recist_tool.worklist import Worklist, WorklistError
from recist_tool.worklist.layout import (
    ADJUDICATED,
    COHORT_FILE,
    FINISHED,
    check_reader,
    readings_dir,
)


class ReadersError(WorklistError):
    """Bad multi-reader input (layout, decision, rules): names file, line and value."""


@dataclass
class CohortReadings:
    """The readings of a cohort, per reader, and their RECIST evaluation.

    Attributes
    ----------
    cohort_dir : pathlib.Path
    readers : list of str
        Reader folders under ``readings/`` (sorted; ``adjudicated`` excluded).
    files : pandas.DataFrame
        One row per reading: ``patient_id, reader, path, status, counted``
        (``counted``: finished, or unfinished readings were asked for).
    settings : ResponseSettings
    evaluations : dict of str to Evaluation
        Per reader, the engine's result over its counted readings.
    annotations : dict of str to pandas.DataFrame
        Per reader, the checked annotation rows of its counted readings.
    notes : list of str
    """

    cohort_dir: Path
    readers: list[str]
    files: pd.DataFrame
    settings: ResponseSettings
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    annotations: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def patients(self) -> pd.DataFrame:
        """Every reader's patients table (the engine's columns) with a ``reader`` column."""
        parts = []
        for r, ev in self.evaluations.items():
            p = ev.patients.copy()
            p.insert(0, "reader", r)
            parts.append(p)
        return _concat(parts)

    def timepoints(self) -> pd.DataFrame:
        """Every reader's time point table with a ``reader`` column."""
        parts = []
        for r, ev in self.evaluations.items():
            t = ev.timepoints.copy()
            t["patient_id"] = t["patient_id"].astype(str)
            t["timepoint"] = t["timepoint"].astype(str)
            t.insert(0, "reader", r)
            parts.append(t)
        return _concat(parts)

    def readers_of(self, patient_id: str) -> list[str]:
        """Readers with a counted reading of the patient, in reader order."""
        f = self.files
        return sorted(f.loc[(f["patient_id"] == patient_id) & f["counted"], "reader"].tolist())

    def path_of(self, patient_id: str, reader: str) -> Path:
        """The annotation file of a reading."""
        f = self.files
        hit = f[(f["patient_id"] == patient_id) & (f["reader"] == reader)]
        if hit.empty:
            raise ReadersError(
                f"{self.cohort_dir}: no reading of patient {patient_id!r} by reader {reader!r}"
            )
        return Path(hit["path"].iloc[0])


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    for c in ("patient_id", "timepoint"):
        if c in out.columns:
            out[c] = out[c].astype(str)
    return out


def worklist_status(cohort_dir: str | os.PathLike) -> dict[tuple[str, str], str] | None:
    """``(patient_id, reader) -> status`` from the cohort's worklist, through its API.

    ``None`` when the folder has no worklist (no ``cohort.json``: a folder of readings
    made elsewhere, where every reading counts).

    Raises
    ------
    recist_tool.worklist.WorklistError
        A damaged worklist (names the file, line and column).
    """
    if not (Path(cohort_dir) / COHORT_FILE).is_file():
        return None
    wl = Worklist.open(cohort_dir)
    return {(e.patient_id, e.reader): e.status for e in wl.entries() if e.reader}


def load_cohort(
    cohort_dir: str | os.PathLike,
    settings: ResponseSettings | None = None,
    include_unfinished: bool = False,
    readers: Sequence[str] | None = None,
) -> CohortReadings:
    """Find every reader's readings of a cohort and evaluate them with the RECIST engine.

    Parameters
    ----------
    cohort_dir : path-like
        The cohort folder (``readings/<reader>/<patient>.csv`` inside).
    settings : ResponseSettings, optional
        RECIST conventions (the same for every reader).
    include_unfinished : bool
        Count readings the worklist marks ``not_started`` or ``in_progress``.
    readers : sequence of str, optional
        Only these readers (default: every folder under ``readings/`` but
        ``adjudicated``).

    Raises
    ------
    ReadersError
        No ``readings`` folder, no reader, a file holding several patients, a patient
        read twice by one reader.
    recist_tool.errors.AnnotationError
        A malformed annotation file (names file, line, column, value).
    """
    settings = settings or ResponseSettings()
    root = Path(cohort_dir)
    rdir = readings_dir(root)
    if not rdir.is_dir():
        raise ReadersError(
            f"{root}: no readings folder ({rdir}); expected readings/<reader>/<patient>.csv"
        )
    found = sorted(
        p.name
        for p in rdir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != ADJUDICATED
    )
    if readers:
        wanted = [check_reader(r) for r in readers]
        unknown = [r for r in wanted if r not in found]
        if unknown:
            raise ReadersError(
                f"{rdir}: no folder for reader(s) {', '.join(unknown)} "
                f"(readers found: {', '.join(found) or 'none'})"
            )
        found = wanted
    if not found:
        raise ReadersError(f"{rdir}: no reader folder (readings/<reader>/<patient>.csv)")
    status = worklist_status(root)
    out = CohortReadings(root, found, pd.DataFrame(), settings)
    rows = []
    for reader in found:
        files = sorted(q for q in (rdir / reader).glob("*.csv") if q.is_file())
        if not files:
            out.notes.append(f"reader {reader}: no reading in {rdir / reader}")
            continue
        frame = read_annotations(files)
        per_file = (
            frame.groupby("_source", observed=True)["patient_id"]
            .agg(lambda s: sorted(set(map(str, s))))
            .to_dict()
        )
        owner: dict[str, str] = {}
        keep: list[str] = []
        for src, pids in per_file.items():
            if len(pids) != 1:
                raise ReadersError(
                    f"{src}: holds {len(pids)} patients ({', '.join(pids[:5])}); "
                    "a reading file holds one patient"
                )
            pid = pids[0]
            if pid in owner:
                raise ReadersError(
                    f"reader {reader}: patient {pid!r} is in two files: {owner[pid]} and {src}"
                )
            owner[pid] = str(src)
            st = status.get((pid, reader), "") if status is not None else ""
            counted = include_unfinished or st in FINISHED or st == ""
            rows.append((pid, reader, str(src), st, counted))
            if counted:
                keep.append(pid)
        if len(keep) < len(owner):
            out.notes.append(
                f"reader {reader}: {len(owner) - len(keep)} unfinished reading(s) left out "
                "(worklist status not done/signed)"
            )
        stray = sorted(p for p in owner if status is not None and (p, reader) not in status)
        if stray:
            out.notes.append(
                f"reader {reader}: {len(stray)} reading(s) of patients not assigned to "
                f"{reader} in the worklist counted ({', '.join(stray[:5])})"
            )
        sub = frame
        if len(keep) < len(owner):
            if not keep:
                continue
            sub = read_annotations([owner[p] for p in sorted(keep)])
        out.annotations[reader] = sub
        out.evaluations[reader] = evaluate(sub, settings)
    out.files = pd.DataFrame(rows, columns=["patient_id", "reader", "path", "status", "counted"])
    return out
