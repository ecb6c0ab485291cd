"""Blinding: which files of a cohort a reader or an adjudicator may open.

Blinded independent review: a **reader** works only in ``readings/<own name>/`` (the
worklist shows a reader only their own rows, :meth:`recist_tool.worklist.Worklist.entries`) and
never sees another reader's measurements, responses or audit trail, the adjudicated
readings, ``adjudication.csv``, ``concordance.csv`` or the agreement results. An
**adjudicator** sees every reader's reading of the patients listed in
``adjudication.csv`` (and the adjudicated readings), nothing of the concordant ones.
Other files of the cohort (the worklist, image caches) are not restricted here.

The napari plugin asks before it opens or saves a file: :func:`cohort_root` tells
whether a path is a reading of a cohort (``COHORT_DIR/readings/<folder>/<file>``), and
an :class:`Access` (user and role in that cohort) says whether it may be opened; its
lists come from :func:`visible_readings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recist_tool.readers.cohort import ReadersError
from recist_tool.worklist.errors import WorklistError
from recist_tool.worklist.layout import (
    ADJUDICATED,
    ADJUDICATION_FILE,
    COHORT_FILE,
    READINGS,
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


def cohort_root(path: str | os.PathLike) -> Path | None:
    """The cohort folder a reading file belongs to, or None when it is not in one.

    A file ``ROOT/readings/<folder>/<file>`` belongs to the cohort ``ROOT`` when ROOT
    is recognisably a multi-reader cohort: it has a worklist (``cohort.json``) or an
    ``adjudication.csv``, or ``readings/`` holds at least two folders. Symbolic links
    and ``..`` are resolved first, so a link into another reader's folder is seen
    for what it is.
    """
    p = Path(path).resolve()
    if len(p.parts) < 4 or p.parent.parent.name != READINGS:
        return None
    root = p.parent.parent.parent
    if (root / COHORT_FILE).is_file() or (root / ADJUDICATION_FILE).is_file():
        return root
    try:
        folders = [d for d in (root / READINGS).iterdir() if d.is_dir() and d.name[:1] != "."]
    except OSError:
        return None
    return root if len(folders) >= 2 else None


def reader_of(path: str | os.PathLike) -> str | None:
    """The folder under ``readings/`` a cohort file is in (a reader, or ``adjudicated``)."""
    root = cohort_root(path)
    if root is None:
        return None
    return Path(path).resolve().parent.name


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


@dataclass(frozen=True)
class Access:
    """A user's access to the files of one cohort, in one role.

    Attributes
    ----------
    cohort_dir : pathlib.Path
    user : str
        The reader's (or adjudicator's) name.
    role : str
        ``"reader"`` or ``"adjudicator"``.
    """

    cohort_dir: Path
    user: str
    role: str

    def may_open(self, path: str | os.PathLike) -> bool:
        """Whether the user may open (or write) ``path`` (see :func:`may_open`)."""
        return may_open(self.cohort_dir, self.user, self.role, path)

    def check(self, path: str | os.PathLike) -> None:
        """Raise :class:`ReadersError` when the user may not open ``path``."""
        check_access(self.cohort_dir, self.user, self.role, path)

    def refusal(self, path: str | os.PathLike) -> str:
        """Why ``path`` may not be opened ("" when it may): a bad user name too."""
        try:
            self.check(path)
        except WorklistError as exc:  # ReadersError, or a user name unusable in a cohort
            return str(exc)
        return ""

    def readings(self) -> list[Path]:
        """The reading CSVs the user may open (:func:`visible_readings`)."""
        return visible_readings(self.cohort_dir, self.user, self.role)


def refusal(user: str, role: str, path: str | os.PathLike) -> str:
    """Why ``user`` in ``role`` may not open ``path`` ("" when they may, or when the
    path is not a reading of a cohort, :func:`cohort_root`)."""
    root = cohort_root(path)
    if root is None:
        return ""
    return Access(root, user, role).refusal(path)
