"""Domain policy of a reading: lesion ids, time points by date, where a reading opens.

* :func:`next_lesion_id` — ids are unique per kind and never clash: ``T1``, ``NT1``
  and ``NL1`` (new lesion) numbered per kind, skipping every id in use (compared
  without case) and every id retired in this session (deleted or renamed), so an id
  never means two lesions in one audit trail.
* :func:`assign_by_date` — series not assigned yet go to the time point of their
  StudyDate: while nothing is measured, time points follow the date order (the
  earliest is ``baseline``, then ``FU1``, ``FU2`` …); afterwards a new date gets the
  next free ``FU`` label and existing assignments never move.
* :func:`still_to_assess` — the lesions a time point still needs: no status yet, or a
  target marked measured whose axis that counts is not drawn. A time point with one
  cannot be signed, and Alt+J goes to the next.
* :func:`opening_timepoint` — a study opens on baseline when nothing is measured yet,
  else on the first time point with a lesion still to assess, else the latest.
* :func:`kind_first_seen` — the kind of a lesion an edit creates: a new lesion cannot
  be at baseline.
* :func:`nothing_to_write` — a reading without any lesion is not written where no file
  is yet (a patient opened and left is no reading).

Each is used by :class:`~recist_tool.reading.model.Reading` and tested without a GUI.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from recist_tool.reading.constants import _ID_PREFIX, BASELINE_LABEL

if TYPE_CHECKING:
    from recist_tool.reading.model import Reading


def id_pattern(kind: str) -> re.Pattern[str]:
    """Ids :func:`next_lesion_id` makes for ``kind`` (``T`` + digits …)."""
    return re.compile(rf"{re.escape(_ID_PREFIX[kind])}(\d+)")


def is_generated_id(lesion_id: str, kind: str) -> bool:
    """Whether ``lesion_id`` has the form of a generated id of ``kind``."""
    return id_pattern(kind).fullmatch(lesion_id) is not None


def next_lesion_id(reading: Reading, kind: str) -> str:
    """The first free id of ``kind`` (``T1``, ``NT1``, ``NL1`` …)."""
    prefix = _ID_PREFIX[kind]
    used = {le.lesion_id.casefold() for le in reading.lesions}
    used |= {lid.casefold() for lid in reading._retired_ids}
    n = 1
    while f"{prefix}{n}".casefold() in used:
        n += 1
    return f"{prefix}{n}"


def _is_pristine(reading: Reading) -> bool:
    nothing_measured = not any(le.findings for le in reading.lesions)
    auto_only = all(
        s.timepoint is None or uid in reading._auto_assigned for uid, s in reading.series.items()
    )
    return nothing_measured and auto_only


def assign_by_date(reading: Reading) -> list[str]:
    """Assign the series without a time point by StudyDate (see the module); returns
    the UIDs assigned. Call through :meth:`Reading.assign_by_date` (recorded)."""
    r = reading
    if _is_pristine(r):
        for uid in r._auto_assigned:
            if uid in r.series:
                r.series[uid].timepoint = None
        r.timepoints.clear()
        r._auto_assigned.clear()
    todo = [s for s in r.series.values() if s.timepoint is None and s.study_date]
    todo.sort(key=lambda s: (s.study_date, s.series_number or 0, s.series_uid))
    done = []
    for s in todo:
        same = [tp for tp in r.timepoints if tp.date == s.study_date]
        if same:
            label = same[0].label
        elif not r.timepoints:
            label = BASELINE_LABEL
        else:
            n = 1
            while any(tp.label == f"FU{n}" for tp in r.timepoints):
                n += 1
            label = f"FU{n}"
        r.assign_series(s.series_uid, label)
        r._auto_assigned.add(s.series_uid)
        done.append(s.series_uid)
    return done


def still_to_assess(reading: Reading, timepoint: str) -> list[str]:
    """Ids of the lesions ``timepoint`` still needs, in the reading's order.

    A lesion to assess there (:meth:`Reading.lesions_for`; a new lesion only where it
    was recorded) with no status yet, or a target marked ``measured`` whose axis that
    counts (the long axis; a node's short axis) is not drawn. A lesion that cannot be
    assessed is done once it is marked not evaluated.

    Examples
    --------
    >>> from recist_tool.reading import Reading
    >>> still_to_assess(Reading(), "baseline")
    []
    """
    out = []
    for le in reading.lesions_for(timepoint):
        f = le.findings.get(timepoint)
        if le.kind == "new" and f is None:
            continue
        if f is None or f.status is None or le.missing_size(f):
            out.append(le.lesion_id)
    return out


def opening_timepoint(reading: Reading) -> str | None:
    """Where a reading opens (see the module); None without time points."""
    labels = [tp.label for tp in reading.timepoints]
    if not labels:
        return None
    if not any(le.findings for le in reading.lesions):
        return labels[0]
    for label in labels:
        if still_to_assess(reading, label):
            return label
    return labels[-1]


def kind_first_seen(reading: Reading, timepoint: str | None, kind: str) -> str:
    """The kind a lesion takes when an edit at ``timepoint`` creates it and the
    reader's form says ``kind``.

    A new lesion cannot be at baseline (RECIST 1.1: new lesions appear at follow-up):
    at baseline, or with no time point yet, ``"new"`` becomes ``"target"``. The form
    says "New" by default while a follow-up is read, and a lesion missed at baseline
    is drawn in the comparison pane unlocked on baseline. Elsewhere the form's kind
    stands: a target or non-target first recorded at a follow-up is the reader's
    choice, flagged by :meth:`Reading.unplaced_lesions` until it is measured at
    baseline or made new.

    Examples
    --------
    >>> from recist_tool.reading import Reading
    >>> kind_first_seen(Reading(), "baseline", "new")
    'target'
    >>> kind_first_seen(Reading(), "FU1", "new")
    'new'
    """
    base = reading.baseline.label if reading.baseline is not None else BASELINE_LABEL
    if kind == "new" and (timepoint is None or timepoint == base):
        return "target"
    return kind


def nothing_to_write(reading: Reading, path: str | os.PathLike) -> bool:
    """Whether saving ``reading`` to ``path`` should write nothing: it holds no lesion
    and no file is there yet. A patient opened and left (its series assigned, nothing
    recorded) left a CSV with a header only, which was then taken for a reading:
    signed by ``worklist sign --all`` and read by ``adjudicate``. A file already there
    is written (all lesions deleted is a change to keep).

    Examples
    --------
    >>> from recist_tool.reading import Reading
    >>> nothing_to_write(Reading(), "/nonexistent/DEMO-001.csv")
    True
    """
    return not reading.lesions and not Path(path).exists()
