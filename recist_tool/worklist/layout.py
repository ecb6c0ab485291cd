"""The cohort folder's layout: file names, reader names, reader assignment.

The one definition used by the worklist (:class:`~recist_tool.worklist.Worklist`),
the multi-reader tools (:mod:`recist_tool.readers`) and the synthetic cohorts::

    COHORT_DIR/cohort.json, studies.csv, worklist.csv
    COHORT_DIR/readings/<reader>/<patient>.csv          (+ .json, .audit.jsonl, .signoff.json)
    COHORT_DIR/readings/adjudicated/<patient>.csv       (+ .json, .audit.jsonl)
    COHORT_DIR/adjudication.csv                         (discordant patients)

Nothing here reads images or imports pandas.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path

from recist_tool.worklist.errors import WorklistError

COHORT_FILE = "cohort.json"
STUDIES_FILE = "studies.csv"
WORKLIST_FILE = "worklist.csv"
#: The readings folder: ``readings/<reader>/<patient>.csv``.
READINGS = "readings"
#: The folder of adjudicated readings under ``readings/`` (not a reader).
ADJUDICATED = "adjudicated"
#: Reader names with a meaning of their own.
RESERVED_READERS = frozenset({ADJUDICATED})
#: The discordant patients, written by ``recist-tool adjudicate``.
ADJUDICATION_FILE = "adjudication.csv"
#: Status of a patient's reading by a reader (a row of ``worklist.csv``), in order.
STATUSES: tuple[str, ...] = ("not_started", "in_progress", "done", "signed")
#: Statuses of a finished reading (the multi-reader tools count only these).
FINISHED: tuple[str, ...] = ("done", "signed")

_READER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_reader(name: str, where: str = "reader name", allow_reserved: bool = False) -> str:
    """A reader's name, stripped, when usable as its folder name.

    Letters, digits, ``.``, ``_`` and ``-``, 1–64 characters starting with a letter or
    digit; ``adjudicated`` is reserved unless ``allow_reserved``.

    Parameters
    ----------
    name : str
    where : str
        Prefix of the message (e.g. ``"assign.csv: line 3: column reader"``).
    allow_reserved : bool

    Raises
    ------
    WorklistError
    """
    text = str(name).strip()
    if not _READER_RE.match(text):
        raise WorklistError(
            f"{where}: {text!r} is not a usable reader name (letters, digits, _ . -; "
            "1-64 characters, starting with a letter or digit)"
        )
    if text.lower() in RESERVED_READERS and not allow_reserved:
        raise WorklistError(f"{where}: {text!r} is reserved for adjudicated readings")
    return text


def patient_file_stem(patient_id: str) -> str:
    """File name (without suffix) of a patient's reading: the ID, made safe.

    IDs that need changing get 8 hex digits of their SHA-256, so two IDs never
    share a file.
    """
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in patient_id)
    safe = safe.lstrip(".") or "_"
    if safe != patient_id:
        safe += "-" + hashlib.sha256(patient_id.encode()).hexdigest()[:8]
    return safe


def readings_dir(cohort_dir: str | os.PathLike) -> Path:
    """``COHORT_DIR/readings``."""
    return Path(cohort_dir) / READINGS


def reader_dir(cohort_dir: str | os.PathLike, reader: str) -> Path:
    """``COHORT_DIR/readings/<reader>`` (``adjudicated`` allowed)."""
    return readings_dir(cohort_dir) / check_reader(reader, allow_reserved=True)


def reading_path(cohort_dir: str | os.PathLike, patient_id: str, reader: str) -> Path:
    """``COHORT_DIR/readings/<reader>/<patient>.csv`` (``reader`` may be ``adjudicated``)."""
    return reader_dir(cohort_dir, reader) / f"{patient_file_stem(patient_id)}.csv"


def assign_readers(
    patients: Sequence[str], readers: Sequence[str], per_patient: int = 1, start: int = 0
) -> list[tuple[str, str]]:
    """``(patient, reader)`` pairs: each patient to ``per_patient`` distinct readers, in turn.

    Patient ``i`` (in the order given) gets readers ``(start + i + j) mod R`` for
    ``j = 0 … per_patient-1``: with readers A, B, C and two per patient, P1 → A, B;
    P2 → B, C; P3 → C, A; … (each reader reads two thirds). With two readers and two
    per patient both read everyone. Without readers every patient gets one
    unassigned row (reader ``""``: the first reader who saves it takes it).

    Raises
    ------
    WorklistError
        An unusable or repeated reader name, a repeated patient, or ``per_patient``
        out of range.
    """
    pats = [str(p) for p in patients]
    twice = _repeated(pats)
    if twice:
        raise WorklistError(f"patient listed twice: {', '.join(twice[:5])}")
    if not readers:
        return [(p, "") for p in pats]
    names = [check_reader(r) for r in readers]
    twice = _repeated(names)
    if twice:
        raise WorklistError(f"reader named twice: {', '.join(twice)}")
    n = len(names)
    if not 1 <= per_patient <= n:
        raise WorklistError(
            f"--readers {per_patient}: needs between 1 and {n} reader(s) per patient "
            f"({n} reader(s) named)"
        )
    return [(p, names[(start + i + j) % n]) for i, p in enumerate(pats) for j in range(per_patient)]


def _repeated(items: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({x for x in items if x in seen or seen.add(x)})


def read_assignments(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(patient_id, reader)`` pairs from a CSV with those two columns, in file order.

    Raises
    ------
    WorklistError
        An unreadable file, missing columns, empty cells, unusable reader names or a
        repeated row: every problem (up to 20) named by file and line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorklistError(f"{p}: no such file (assignments)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorklistError(f"{p}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = [c.strip() for c in next(rows, [])]
        missing = [c for c in ("patient_id", "reader") if c not in header]
        if missing:
            raise WorklistError(f"{p}: line 1: missing column(s) {', '.join(missing)}")
        ip, ir = header.index("patient_id"), header.index("reader")
        seen: dict[tuple[str, str], int] = {}
        problems = []
        for row in rows:
            line = rows.line_num
            if not any(c.strip() for c in row):
                continue
            cells = [*row, "", ""]
            pid, reader = cells[ip].strip(), cells[ir].strip()
            if not pid:
                problems.append(f"{p}: line {line}: column patient_id: empty")
                continue
            try:
                check_reader(reader, f"{p}: line {line}: column reader")
            except WorklistError as exc:
                problems.append(str(exc))
                continue
            if (pid, reader) in seen:
                problems.append(
                    f"{p}: line {line}: {pid!r} assigned to {reader!r} again "
                    f"(first on line {seen[(pid, reader)]})"
                )
            seen.setdefault((pid, reader), line)
    except csv.Error as exc:
        raise WorklistError(f"{p}: line {rows.line_num}: not a readable CSV file ({exc})") from None
    if problems:
        raise WorklistError("\n  ".join(["bad assignments:", *problems[:20]]))
    if not seen:
        raise WorklistError(f"{p}: no assignment (expected rows of patient_id, reader)")
    return list(seen)


def adjudication_patients(cohort_dir: str | os.PathLike) -> list[str]:
    """Patients listed in ``COHORT_DIR/adjudication.csv`` ([] when there is none).

    Raises
    ------
    WorklistError
        The file exists but has no ``patient_id`` column or is not readable.
    """
    p = Path(cohort_dir) / ADJUDICATION_FILE
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise WorklistError(f"{p}: cannot read ({exc})") from None
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise WorklistError(f"{p}: not a readable CSV file ({exc})") from None
    if rows and "patient_id" not in rows[0]:
        raise WorklistError(f"{p}: line 1: missing column patient_id")
    return list(dict.fromkeys(str(r["patient_id"] or "").strip() for r in rows if r["patient_id"]))
