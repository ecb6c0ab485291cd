"""Blinding: which files of a cohort a reader or an adjudicator may open.

Blinded independent review: a **reader** works only in ``readings/<own name>/`` (the
worklist shows a reader only their own rows, :meth:`recist_tool.worklist.Worklist.entries`) and
never sees another reader's measurements, responses or audit trail, the adjudicated
readings, ``adjudication.csv``, ``concordance.csv`` or the agreement results. An
**adjudicator** sees every reader's reading of the patients listed in
``adjudication.csv`` (and the adjudicated readings), nothing of the concordant ones.
Other files of the cohort (the worklist, image caches) are not restricted here.

The napari plugin asks :func:`check_access` before it opens a file and lists only
:func:`visible_readings` (the plugin side is issue 9's).
"""

from __future__ import annotations

import os
from pathlib import Path

from recist_tool.readers.cohort import ReadersError
from recist_tool.worklist.layout import (
    ADJUDICATED,
    ADJUDICATION_FILE,
    adjudication_patients,
    check_reader,
    patient_file_stem,
    readings_dir,
)

ROLES = ("reader", "adjudicator")
#: Files of a reading: the CSV, its sidecar, recovery file, audit trail and sign-off.
READING_SUFFIXES = (".audit.jsonl", ".recovery.json", ".signoff.json", ".csv", ".json")
#: Cohort-level results that would unblind a reader.
RESULTS = (ADJUDICATION_FILE, "concordance.csv", "adjudication_rules.json", "agreement")


def patient_of(path: str | os.PathLike) -> str:
    """The patient id a reading file belongs to (``P7.audit.jsonl`` -> ``P7``)."""
    name = Path(path).name
    for suffix in READING_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def may_open(cohort_dir: str | os.PathLike, user: str, role: str, path: str | os.PathLike) -> bool:
    """Whether ``user`` in ``role`` may open ``path`` of the cohort."""
    if role not in ROLES:
        raise ReadersError(f"unknown role {role!r} (expected {', '.join(ROLES)})")
    user = check_reader(user, "user")
    root = Path(cohort_dir).resolve()
    p = Path(path).resolve()
    try:
        rel = p.relative_to(root)
    except ValueError:
        return True  # not a cohort file
    parts = rel.parts
    if not parts:
        return True
    if parts[0] in RESULTS:
        return role == "adjudicator"
    if parts[0] != readings_dir(root).name or len(parts) < 2:
        return True
    folder = parts[1]
    if role == "reader":
        return folder == user
    if folder == ADJUDICATED:
        return True
    if len(parts) < 3:
        return True  # listing a reader's folder name is not reading it
    return patient_of(p) in {patient_file_stem(x) for x in adjudication_patients(root)}


def check_access(cohort_dir: str | os.PathLike, user: str, role: str, path: str | os.PathLike):
    """Raise :class:`ReadersError` when ``user`` in ``role`` may not open ``path``."""
    if not may_open(cohort_dir, user, role, path):
        raise ReadersError(f"{path}: blinded: {role} {user!r} may not open this file")


def visible_readings(cohort_dir: str | os.PathLike, user: str, role: str) -> list[Path]:
    """The reading CSVs ``user`` in ``role`` may open, sorted."""
    rdir = readings_dir(cohort_dir)
    if not rdir.is_dir():
        return []
    return sorted(
        p for p in rdir.glob("*/*.csv") if p.is_file() and may_open(cohort_dir, user, role, p)
    )
