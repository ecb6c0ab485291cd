"""A cohort read by several readers: finding the readings, their status, their responses.

Readings live at ``COHORT_DIR/readings/<reader>/<patient>.csv`` (the annotation
format, :mod:`recist_tool.annotations`), one patient per file; the folder
``readings/adjudicated`` is reserved for adjudicated readings. When
``COHORT_DIR/worklist.csv`` records a status per patient and reader, only readings
``done`` or ``signed`` count (unless asked otherwise).

Reader assignment (the worklist's ``--readers N`` or an assignment CSV) is the pure
function :func:`assign_readers` and the reader :func:`read_assignments`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recist_tool.annotations import read_annotations
from recist_tool.errors import RecistError
from recist_tool.response import Evaluation, ResponseSettings, evaluate

#: Folder name under ``readings/`` holding the adjudicated readings (not a reader).
ADJUDICATED = "adjudicated"
#: Worklist statuses of a finished reading.
FINISHED = ("done", "signed")
#: Worklist statuses (issue 13).
STATUSES = ("not_started", "in_progress", "done", "signed")
_READER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class ReadersError(RecistError):
    """Bad multi-reader input (layout, assignment, decision): names file, line and value."""


def check_reader_name(name: str, where: str = "reader") -> str:
    """Return ``name`` stripped when it is a usable reader name (also a folder name).

    Letters, digits, ``_``, ``.`` and ``-`` (1–64 characters, starting with a letter or
    digit); ``adjudicated`` is reserved.

    Raises
    ------
    ReadersError
    """
    text = str(name).strip()
    if not _READER_RE.match(text):
        raise ReadersError(
            f"{where}: {text!r} is not a usable reader name (letters, digits, _ . -; "
            "1-64 characters, starting with a letter or digit)"
        )
    if text.lower() == ADJUDICATED:
        raise ReadersError(f"{where}: {text!r} is reserved for adjudicated readings")
    return text


def assign_readers(
    patients: Sequence[str], readers: Sequence[str], per_patient: int = 2, start: int = 0
) -> pd.DataFrame:
    """Assign each patient to ``per_patient`` distinct readers, round-robin.

    Patient ``i`` (in the order given) gets readers ``(start + i + j) mod R`` for
    ``j = 0 … per_patient-1``: with two readers both read everyone; with three and
    ``per_patient = 2`` the pairs rotate and each reader gets 2/3 of the patients.

    Parameters
    ----------
    patients : sequence of str
        Patient ids (unique).
    readers : sequence of str
        Reader names (unique; see :func:`check_reader_name`).
    per_patient : int
        Readers per patient (2 for double reading), at most ``len(readers)``.
    start : int
        Rotation offset.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, reader``, one row per assignment, patient order kept.

    Raises
    ------
    ReadersError
        Duplicate or unusable names, or ``per_patient`` out of range.
    """
    names = [check_reader_name(r) for r in readers]
    if len(set(names)) != len(names):
        raise ReadersError(f"reader named twice: {', '.join(sorted(_dupes(names)))}")
    pats = [str(p) for p in patients]
    if len(set(pats)) != len(pats):
        raise ReadersError(f"patient listed twice: {', '.join(sorted(_dupes(pats))[:5])}")
    if not 1 <= per_patient <= len(names):
        raise ReadersError(
            f"--readers {per_patient}: needs between 1 and {len(names)} reader(s) per patient "
            f"({len(names)} reader(s) given)"
        )
    rows = [
        (p, names[(start + i + j) % len(names)])
        for i, p in enumerate(pats)
        for j in range(per_patient)
    ]
    return pd.DataFrame(rows, columns=["patient_id", "reader"])


def read_assignments(path: str | os.PathLike) -> pd.DataFrame:
    """Read an assignment CSV: columns ``patient_id, reader``, one row per assignment.

    Raises
    ------
    ReadersError
        Missing columns, empty cells, unusable reader names or a repeated row, naming
        the file and line.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ReadersError(f"{path}: no such file (assignments)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReadersError(f"{path}: not a readable CSV file: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in ("patient_id", "reader") if c not in frame.columns]
    if missing:
        raise ReadersError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    problems = []
    seen: dict[tuple[str, str], int] = {}
    for i, (pid, reader) in enumerate(zip(frame["patient_id"], frame["reader"], strict=True)):
        line = i + 2
        pid, reader = pid.strip(), reader.strip()
        if not pid:
            problems.append(f"{path}: line {line}: column patient_id: empty")
            continue
        try:
            check_reader_name(reader, f"{path}: line {line}: column reader")
        except ReadersError as exc:
            problems.append(str(exc))
            continue
        if (pid, reader) in seen:
            problems.append(
                f"{path}: line {line}: {pid!r} assigned to {reader!r} again "
                f"(first on line {seen[(pid, reader)]})"
            )
        seen.setdefault((pid, reader), line)
    if problems:
        raise ReadersError("\n  ".join(["bad assignments:", *problems[:20]]))
    return pd.DataFrame(list(seen), columns=["patient_id", "reader"])


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


def _dupes(items: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    return {x for x in items if x in seen or seen.add(x)}


def readings_dir(cohort_dir: str | os.PathLike) -> Path:
    """``COHORT_DIR/readings``."""
    return Path(cohort_dir) / "readings"


def worklist_status(cohort_dir: str | os.PathLike) -> dict[tuple[str, str], str]:
    """``(patient_id, reader) -> status`` from ``COHORT_DIR/worklist.csv``, if it has them.

    The worklist (issue 13) names the patient column ``patient`` or ``patient_id``;
    a worklist without ``reader`` and ``status`` columns gives no statuses.
    """
    path = Path(cohort_dir) / "worklist.csv"
    if not path.is_file():
        return {}
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReadersError(f"{path}: not a readable CSV file: {exc}") from None
    pcol = "patient_id" if "patient_id" in frame.columns else "patient"
    if not {pcol, "reader", "status"} <= set(frame.columns):
        return {}
    out = {}
    for pid, reader, status in zip(frame[pcol], frame["reader"], frame["status"], strict=True):
        for r in re.split(r"[;|]", reader):  # several readers in one cell
            if r.strip():
                out[(pid.strip(), r.strip())] = status.strip().lower()
    return out


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
        wanted = [check_reader_name(r) for r in readers]
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
            st = status.get((pid, reader), "")
            counted = include_unfinished or not status or st in FINISHED or st == ""
            rows.append((pid, reader, str(src), st, counted))
            if counted:
                keep.append(pid)
        if len(keep) < len(owner):
            out.notes.append(
                f"reader {reader}: {len(owner) - len(keep)} unfinished reading(s) left out "
                "(worklist status not done/signed)"
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
