"""The reading: everything a reader did on one patient's study.

:class:`Reading` holds the series and their time points, the lesions and their
findings; it edits them (time points, series assignment, lines, markers, statuses,
lesions, the reader's name), checks them (:meth:`Reading.notes`), converts to the
annotation table and the JSON sidecar, and saves and loads both (:meth:`Reading.save`,
:meth:`Reading.load`, :func:`load_sidecar`; the file writing itself is in
:mod:`recist_tool.reading.storage`).

Every edit runs through one path, :meth:`Reading._operation`: the editable state is
captured before and after (:mod:`recist_tool.reading.history`), the time points it
changed are checked against the lock policy (:mod:`recist_tool.reading.locks`; a
refused edit is rolled back whole and raises
:class:`~recist_tool.reading.errors.TimePointLockedError`), the step goes on the undo
stack (:meth:`Reading.undo`, :meth:`Reading.redo`) and listeners (the audit trail,
:mod:`recist_tool.reading.audit`, and the plugin) are told what changed. Several edits
that are one action for the reader go in one :meth:`Reading.transaction`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from recist_tool import annotations as ann
from recist_tool.reading import policy
from recist_tool.reading.assist import assist_columns, assist_fields
from recist_tool.reading.checks import axis_checks
from recist_tool.reading.constants import (
    _DEFAULT_STATUS,
    _SIZELESS_TARGET,
    BASELINE_LABEL,
    LENGTH_DECIMALS,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
)
from recist_tool.reading.dates import _check_date
from recist_tool.reading.errors import ReadingError, TimePointLockedError
from recist_tool.reading.findings import (
    Finding,
    Fragment,
    Lesion,
    Note,
    SeriesInfo,
    TimePoint,
)
from recist_tool.reading.geometry import Line, Marker, SeriesGeometry
from recist_tool.reading.history import (
    Event,
    Journal,
    Step,
    capture,
    diff,
    restore,
    touched,
)
from recist_tool.reading.locks import Locks
from recist_tool.reading.storage import (
    Snapshot,
    _revision,
    _sha256,
    recovery_path,
    sidecar_path,
    write_snapshot,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def _edit(action: str, system: bool = False) -> Callable[[_F], _F]:
    """Run a method as one recorded, lock-checked, undoable operation."""

    def deco(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(self: Reading, *args: Any, **kwargs: Any) -> Any:
            with self._operation(action, system=system):
                return fn(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


@dataclass
class Reading:
    """Everything a reader did on one patient's study.

    Time points are kept sorted by date; the earliest is the baseline. Findings are
    keyed by time point label. Change a reading only through its methods: each is
    one undoable, audited operation checked against :attr:`locks`.
    """

    patient_id: str = ""
    reader: str = ""
    study_path: str = ""
    series: dict[str, SeriesInfo] = field(default_factory=dict)
    timepoints: list[TimePoint] = field(default_factory=list)
    lesions: list[Lesion] = field(default_factory=list)
    #: What :meth:`load` had to reconcile (empty when everything came back exactly).
    load_notes: list[str] = field(default_factory=list, compare=False, repr=False)
    #: Which time points may be changed (see :mod:`recist_tool.reading.locks`).
    locks: Locks = field(default_factory=Locks, compare=False, repr=False)
    _journal: Journal = field(default_factory=Journal, compare=False, repr=False)
    _listeners: list[Callable[[Event], None]] = field(
        default_factory=list, compare=False, repr=False
    )
    _auto_assigned: set[str] = field(default_factory=set, compare=False, repr=False)
    _retired_ids: set[str] = field(default_factory=set, compare=False, repr=False)

    # -------------------------------------------------------------- the one edit path

    @contextlib.contextmanager
    def _operation(self, action: str, system: bool = False) -> Iterator[None]:
        """Run the enclosed edits as one operation (nested ones join the outer one).

        The state before is restored when the edits raise or when they change a time
        point the lock policy refuses; otherwise the step is recorded and listeners
        are told.
        """
        j = self._journal
        if j.depth or not j.tracking:
            j.depth += 1
            try:
                yield
            finally:
                j.depth -= 1
            return
        before = capture(self)
        j.depth, j.tp_renames, j.lesion_renames = 1, {}, {}
        try:
            yield
            after = capture(self)
            if after == before:
                return
            changes = diff(before, after, j.tp_renames, j.lesion_renames)
            labels = touched(before, changes, j.tp_renames, j.lesion_renames)
            message, locked = self.locks.refusal(labels, system=system)
            if message:
                raise TimePointLockedError(f"nothing changed: {message}", locked)
        except BaseException:
            restore(self, before)
            raise
        finally:
            j.depth = 0
        step = Step(
            j.next_number(),
            action,
            before,
            after,
            changes,
            dict(j.tp_renames),
            dict(j.lesion_renames),
        )
        for old, new in step.tp_renames.items():
            self.locks.rename(old, new)
        j.push(step)
        self._emit(Event("do", action, changes, step))

    def transaction(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Group edits into one undoable operation named ``action``::

        with reading.transaction("draw line"):
            lid = reading.add_lesion("target", "liver").lesion_id
            reading.set_line(lid, "baseline", "long", line)
        """
        return self._operation(action)

    @contextlib.contextmanager
    def _untracked(self) -> Iterator[None]:
        """Edits that build a reading (loading): not recorded, not lock-checked."""
        j = self._journal
        was, j.tracking = j.tracking, False
        try:
            yield
        finally:
            j.tracking = was

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener(event)`` after every change (see :class:`history.Event`)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Event], None]) -> None:
        """Stop calling ``listener``."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    # --------------------------------------------------------------------- undo / redo

    @property
    def can_undo(self) -> bool:
        """Whether there is an operation to undo."""
        return bool(self._journal.undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone operation to redo."""
        return bool(self._journal.redo)

    @property
    def undo_step(self) -> Step | None:
        """The operation :meth:`undo` would undo (None when none)."""
        return self._journal.undo[-1] if self._journal.undo else None

    @property
    def redo_step(self) -> Step | None:
        """The operation :meth:`redo` would redo (None when none)."""
        return self._journal.redo[-1] if self._journal.redo else None

    def undo(self) -> Step | None:
        """Undo the last operation; returns it (None when there is nothing to undo).

        Raises
        ------
        TimePointLockedError
            When undoing would change a read-only time point (nothing is changed).
        """
        return self._travel(self._journal.undo, self._journal.redo, "undo")

    def redo(self) -> Step | None:
        """Redo the last undone operation; returns it (None when there is none).

        Raises
        ------
        TimePointLockedError
            When redoing would change a read-only time point (nothing is changed).
        """
        return self._travel(self._journal.redo, self._journal.undo, "redo")

    def _travel(self, source: list[Step], target: list[Step], kind: str) -> Step | None:
        if not source:
            return None
        if self._journal.depth:
            raise ReadingError(f"cannot {kind} in the middle of an operation")
        step = source[-1]
        if kind == "undo":
            start, end = step.after, step.before
            tpr = {new: old for old, new in step.tp_renames.items()}
            ler = {new: old for old, new in step.lesion_renames.items()}
        else:
            start, end = step.before, step.after
            tpr, ler = step.tp_renames, step.lesion_renames
        current = capture(self)
        if current != start:  # an untracked edit happened since: do not lose it
            raise ReadingError(
                f"cannot {kind} '{step.summary()}': the reading was changed outside its "
                "history since"
            )
        changes = diff(start, end, tpr, ler)
        message, locked = self.locks.refusal(touched(start, changes, tpr, ler))
        if message:
            raise TimePointLockedError(f"nothing {kind}ne: {message}", locked)
        restore(self, end)
        for old, new in tpr.items():
            self.locks.rename(old, new)
        source.pop()
        target.append(step)
        self._emit(Event(kind, step.action, changes, step))
        return step

    def clear_history(self) -> None:
        """Forget the undo and redo stacks (e.g. once a study is opened)."""
        self._journal.clear()

    # -------------------------------------------------------------------------- locks

    def focus(self, label: str | None) -> None:
        """Read ``label``: edits may change it; every other time point is read-only
        unless unlocked (None: no focus, every time point not hard-locked is editable).
        Unlocks made for another focus are dropped."""
        if label != self.locks.focus:
            self.locks.focus = label
            self.locks.unlocked.clear()

    def unlock(self, label: str) -> None:
        """Make ``label`` editable while another time point is in focus (audited)."""
        self.timepoint(label)
        if label in self.locks.unlocked:
            return
        self.locks.unlocked.add(label)
        self._emit(Event("unlock", "unlock", timepoint=label, reason="unlocked by the reader"))

    def relock(self, label: str) -> None:
        """Undo :meth:`unlock`: ``label`` is read-only again while not in focus."""
        if label in self.locks.unlocked:
            self.locks.unlocked.discard(label)
            self._emit(Event("lock", "relock", timepoint=label, reason="locked again"))

    def lock(self, label: str, reason: str) -> None:
        """Close ``label`` for editing whatever the focus (e.g. signed off), with a reason."""
        self.timepoint(label)
        self.locks.hard[label] = reason
        self._emit(Event("lock", "lock", timepoint=label, reason=reason))

    def release(self, label: str) -> None:
        """Remove the lock set by :meth:`lock`."""
        if self.locks.hard.pop(label, None) is not None:
            self._emit(Event("unlock", "release", timepoint=label, reason="lock released"))

    def is_editable(self, label: str) -> bool:
        """Whether an edit may change time point ``label`` now."""
        return self.locks.is_editable(label)

    def lock_reason(self, label: str) -> str | None:
        """Why ``label`` is read-only (None when editable)."""
        lock = self.locks.lock_of(label)
        return None if lock is None else lock[1]

    # ----------------------------------------------------------- time points / series

    @property
    def baseline(self) -> TimePoint | None:
        """The earliest time point (None while none is defined)."""
        return self.timepoints[0] if self.timepoints else None

    def timepoint(self, label: str) -> TimePoint:
        """The time point labelled ``label``."""
        for tp in self.timepoints:
            if tp.label == label:
                return tp
        raise ReadingError(f"no time point labelled {label!r}")

    @_edit("set_reader")
    def set_reader(self, name: str) -> None:
        """Set the reader's name (the annotation table's ``reader`` column)."""
        self.reader = str(name).strip()

    @_edit("set_timepoint")
    def set_timepoint(self, label: str, date: str) -> TimePoint:
        """Add a time point, or change the date of an existing one."""
        label = str(label).strip()
        if not label:
            raise ReadingError("a time point needs a label")
        date = _check_date(date)
        for tp in self.timepoints:
            if tp.label == label:
                tp.date = date
                break
        else:
            self.timepoints.append(TimePoint(label, date))
        self._sort_timepoints()
        return self.timepoint(label)

    @_edit("rename_timepoint")
    def rename_timepoint(self, old: str, new: str) -> None:
        """Change a time point's label, keeping its findings and series."""
        new = str(new).strip()
        if not new:
            raise ReadingError("a time point needs a label")
        if new == old:
            return
        if any(tp.label == new for tp in self.timepoints):
            raise ReadingError(f"a time point labelled {new!r} exists already")
        self.timepoint(old).label = new
        for s in self.series.values():
            if s.timepoint == old:
                s.timepoint = new
        for lesion in self.lesions:
            if old in lesion.findings:
                lesion.findings[new] = lesion.findings.pop(old)
        j = self._journal
        first = next((k for k, v in j.tp_renames.items() if v == old), old)
        j.tp_renames[first] = new

    def _sort_timepoints(self) -> None:
        self.timepoints.sort(key=lambda tp: (tp.date, tp.label != BASELINE_LABEL, tp.label))

    def add_series(self, info: SeriesInfo) -> SeriesInfo:
        """Register a series (an existing record with that UID keeps its assignment).

        Registering what was loaded is not an edit: it is not recorded.
        """
        old = self.series.get(info.series_uid)
        if old is not None:
            info.timepoint = old.timepoint if info.timepoint is None else info.timepoint
            if info.geometry is None:
                info.geometry = old.geometry
        self.series[info.series_uid] = info
        return info

    @_edit("assign_series")
    def assign_series(self, series_uid: str, label: str | None, date: str | None = None) -> None:
        """Assign a series to a time point (created when new; date defaults to StudyDate).

        ``label=None`` unassigns the series. A time point left without series and
        without findings is removed.
        """
        if series_uid not in self.series:
            raise ReadingError(f"unknown series {series_uid}")
        info = self.series[series_uid]
        old = info.timepoint
        if label is not None:
            label = str(label).strip()
            exists = any(tp.label == label for tp in self.timepoints)
            if date is None and not exists:
                if not info.study_date:
                    raise ReadingError(
                        f"series {info.description or series_uid} has no StudyDate: "
                        "give the time point a date"
                    )
                date = info.study_date
            if date is not None:
                self.set_timepoint(label, date)
        info.timepoint = label
        self._auto_assigned.discard(series_uid)
        if old and old != label:
            self._drop_if_unused(old)

    @_edit("assign_by_date", system=True)
    def assign_by_date(self) -> list[str]:
        """Assign series without a time point by StudyDate
        (:func:`recist_tool.reading.policy.assign_by_date`); returns their UIDs."""
        return policy.assign_by_date(self)

    def opening_timepoint(self) -> str | None:
        """The time point a reading opens on
        (:func:`recist_tool.reading.policy.opening_timepoint`)."""
        return policy.opening_timepoint(self)

    def still_to_assess(self, timepoint: str) -> list[str]:
        """Ids of the lesions ``timepoint`` still needs
        (:func:`recist_tool.reading.policy.still_to_assess`)."""
        return policy.still_to_assess(self, timepoint)

    def _drop_if_unused(self, label: str) -> None:
        used = any(s.timepoint == label for s in self.series.values()) or any(
            label in lesion.findings for lesion in self.lesions
        )
        if not used:
            self.timepoints = [tp for tp in self.timepoints if tp.label != label]

    def series_of(self, label: str) -> list[SeriesInfo]:
        """Series assigned to a time point, by series number then UID."""
        out = [s for s in self.series.values() if s.timepoint == label]
        return sorted(out, key=lambda s: (s.series_number or 0, s.series_uid))

    def geometries(self) -> dict[str, SeriesGeometry]:
        """Known series geometries by series UID."""
        return {uid: s.geometry for uid, s in self.series.items() if s.geometry is not None}

    # ----------------------------------------------------------------------- lesions

    def lesion(self, lesion_id: str) -> Lesion:
        """The lesion with this id."""
        for lesion in self.lesions:
            if lesion.lesion_id == lesion_id:
                return lesion
        raise ReadingError(f"no lesion {lesion_id!r}")

    def next_lesion_id(self, kind: str) -> str:
        """First free id of the form T1, NT1, NL1 (by kind; see
        :func:`recist_tool.reading.policy.next_lesion_id`)."""
        return policy.next_lesion_id(self, _check_kind(kind))

    @_edit("add_lesion")
    def add_lesion(
        self,
        kind: str = "target",
        organ: str = "",
        nodal: bool = False,
        lesion_id: str | None = None,
    ) -> Lesion:
        """Add a lesion; its id defaults to :meth:`next_lesion_id`."""
        kind = _check_kind(kind)
        lesion_id = (lesion_id or self.next_lesion_id(kind)).strip()
        if any(lesion.lesion_id.casefold() == lesion_id.casefold() for lesion in self.lesions):
            raise ReadingError(f"lesion id {lesion_id!r} is used already")
        lesion = Lesion(lesion_id=lesion_id, kind=kind, organ=organ.strip(), nodal=bool(nodal))
        self.lesions.append(lesion)
        return lesion

    @_edit("delete_lesion")
    def remove_lesion(self, lesion_id: str) -> None:
        """Remove a lesion at every time point (its id is not given out again)."""
        self.lesion(lesion_id)
        self.lesions = [lesion for lesion in self.lesions if lesion.lesion_id != lesion_id]
        self._retired_ids.add(lesion_id)

    @_edit("clear_finding")
    def clear_finding(self, lesion_id: str, timepoint: str) -> None:
        """Remove what was recorded for a lesion at one time point (lines, marker,
        status); the lesion and its other time points stay."""
        self.lesion(lesion_id).findings.pop(timepoint, None)

    @_edit("rename_lesion")
    def rename_lesion(self, lesion_id: str, new_id: str) -> Lesion:
        """Give a lesion another id (unique; the old id is not given out again)."""
        lesion = self.lesion(lesion_id)
        new_id = str(new_id).strip()
        if not new_id:
            raise ReadingError("a lesion needs an id")
        if new_id == lesion_id:
            return lesion
        if any(le.lesion_id.casefold() == new_id.casefold() for le in self.lesions):
            raise ReadingError(f"lesion id {new_id!r} is used already")
        lesion.lesion_id = new_id
        self._retired_ids.add(lesion_id)
        j = self._journal
        first = next((k for k, v in j.lesion_renames.items() if v == lesion_id), lesion_id)
        j.lesion_renames[first] = new_id
        return lesion

    @_edit("update_lesion")
    def update_lesion(
        self,
        lesion_id: str,
        *,
        kind: str | None = None,
        organ: str | None = None,
        nodal: bool | None = None,
    ) -> Lesion:
        """Change a lesion's kind, organ or nodal flag.

        Statuses invalid for a new kind are reset to the kind's default. A lesion
        whose id was generated for its old kind (``T4``) gets a generated id of the
        new one (``NL1``), so that an id always says the kind.
        """
        lesion = self.lesion(lesion_id)
        if kind is not None and _check_kind(kind) != lesion.kind:
            old_kind, lesion.kind = lesion.kind, _check_kind(kind)
            for f in lesion.findings.values():
                if f.status is not None and f.status not in ann.STATUSES[lesion.kind]:
                    f.status = _DEFAULT_STATUS[lesion.kind]
            if policy.is_generated_id(lesion_id, old_kind):
                lesion = self.rename_lesion(lesion_id, self.next_lesion_id(lesion.kind))
        if organ is not None:
            lesion.organ = organ.strip()
        if nodal is not None:
            lesion.nodal = bool(nodal)
        return lesion

    def _finding(self, lesion_id: str, timepoint: str) -> tuple[Lesion, Finding]:
        self.timepoint(timepoint)
        lesion = self.lesion(lesion_id)
        return lesion, lesion.findings.setdefault(timepoint, Finding())

    @_edit("set_line")
    def set_line(
        self,
        lesion_id: str,
        timepoint: str,
        axis: str,
        line: Line | None,
        part: str | None = None,
    ) -> Finding:
        """Set (or with None clear) the ``"long"`` or ``"short"`` axis of a finding.

        Drawing a line on a target marks it ``measured``; on a non-target or new
        lesion it keeps the status (``present`` when none was set).

        ``part`` names another part of a lesion that split (``"b"``, ``"c"`` …,
        :meth:`Finding.next_part`): its line is set instead; a part not there yet is
        added (the first part becomes ``"a"``), and a part left without a size goes
        (with the last one, the lesion is one part again).
        """
        if axis not in ("long", "short"):
            raise ReadingError(f"axis must be 'long' or 'short', not {axis!r}")
        lesion, f = self._finding(lesion_id, timepoint)
        if part and part != (f.fragment or "a"):
            return self._set_part_line(lesion, timepoint, f, axis, line, part.strip())
        if line is not None:
            f.merged_into = ""  # measured on its own again
        if f.method == "assisted" and line != (f.long_axis if axis == "long" else f.short_axis):
            f.method = "assisted_edited"  # a proposed line changed by hand
        if axis == "long":
            f.long_axis, f.long_axis_mm = line, None
        else:
            f.short_axis, f.short_axis_mm = line, None
        if line is not None:
            if lesion.kind == "target":
                f.status = "measured"
            elif f.status is None:
                f.status = _DEFAULT_STATUS[lesion.kind]
        self._prune(lesion, timepoint)
        return f

    def _set_part_line(
        self, lesion: Lesion, timepoint: str, f: Finding, axis: str, line: Line | None, part: str
    ) -> Finding:
        if lesion.kind != "target":
            raise ReadingError(
                f"lesion {lesion.lesion_id}: only a target is measured in parts (a split "
                f"lesion's diameters add up); it is {lesion.kind}"
            )
        old = f.part(part) or Fragment(part)
        new = dataclasses.replace(
            old,
            **(
                {"long_axis": line, "long_axis_mm": None}
                if axis == "long"
                else {"short_axis": line, "short_axis_mm": None}
            ),
        )
        keep = new.long_mm is not None or new.short_mm is not None
        others = tuple(fr for fr in f.fragments if fr.label != part)
        at = [fr.label for fr in f.fragments].index(part) if f.part(part) else len(others)
        f.fragments = others[:at] + ((new,) if keep else ()) + others[at:]
        f.fragment = (f.fragment or "a") if f.fragments else ""
        if line is not None:
            f.status = "measured"
        self._prune(lesion, timepoint)
        return f

    @_edit("set_marker")
    def set_marker(self, lesion_id: str, timepoint: str, marker: Marker | None) -> Finding:
        """Set (or clear) the point marker of a finding (non-target and new lesions)."""
        lesion, f = self._finding(lesion_id, timepoint)
        f.marker = marker
        if marker is not None and f.status is None:
            f.status = _DEFAULT_STATUS[lesion.kind]
        self._prune(lesion, timepoint)
        return f

    @_edit("set_merged")
    def set_merged(self, lesion_id: str, timepoint: str, into: str | None) -> Finding:
        """Record that a target coalesced with target ``into`` at ``timepoint``: it is
        measured 0 mm there, and ``into``'s long axis is the whole lesion's (RECIST 1.1
        convention, ``recist11.md`` §2). ``into=None`` takes that back (the lesion is
        to be measured again).

        Raises
        ------
        ReadingError
            When either is not a target, a node, the same lesion, or ``into`` coalesced
            itself at that time point.
        """
        lesion, f = self._finding(lesion_id, timepoint)
        if into is None:
            f.merged_into, f.long_axis_mm, f.status = "", None, None
            self._prune(lesion, timepoint)
            return f
        ids = {le.lesion_id: le for le in self.lesions}
        other = ids.get(into)
        if other is None or other is lesion:
            raise ReadingError(f"lesion {lesion_id}: {into!r} is not another lesion")
        for le in (lesion, other):
            if le.kind != "target" or le.nodal:
                raise ReadingError(
                    f"lesion {le.lesion_id}: only non-nodal targets coalesce into one "
                    "measurement (a node is measured by its own short axis)"
                )
        g = other.findings.get(timepoint)
        if g is not None and g.merged_into:
            raise ReadingError(
                f"lesion {into} coalesced into {g.merged_into} at {timepoint}: give "
                f"{lesion_id} to {g.merged_into}"
            )
        f.status, f.merged_into = "measured", into
        f.long_axis, f.short_axis, f.marker = None, None, None
        f.long_axis_mm, f.short_axis_mm = 0.0, None
        f.fragment, f.fragments, f.method, f.volume_ml, f.mean_hu = "", (), None, None, None
        return f

    @_edit("set_status")
    def set_status(self, lesion_id: str, timepoint: str, status: str | None) -> Finding:
        """Set the status of a finding (None: back to not assessed).

        ``too_small``/``disappeared``/``not_evaluated`` drop the long axis line of a
        target (the size is then implied); a node keeps its short axis. They also drop
        the other parts of a split lesion (the status is the whole lesion's).
        """
        lesion, f = self._finding(lesion_id, timepoint)
        if status is not None and status not in ann.STATUSES[lesion.kind]:
            allowed = ", ".join(ann.STATUSES[lesion.kind])
            raise ReadingError(
                f"lesion {lesion_id}: {status!r} is not a status of a {lesion.kind} lesion "
                f"(expected one of {allowed})"
            )
        f.status = status
        if lesion.kind == "target" and status in _SIZELESS_TARGET:
            f.long_axis, f.long_axis_mm = None, None
            if not lesion.nodal or status != "disappeared":
                f.short_axis, f.short_axis_mm = None, None
            f.fragment, f.fragments = "", ()
        f.merged_into = ""
        self._prune(lesion, timepoint)
        return f

    def _prune(self, lesion: Lesion, timepoint: str) -> None:
        f = lesion.findings.get(timepoint)
        if f is not None and f == Finding():
            del lesion.findings[timepoint]

    def lesions_for(self, timepoint: str) -> list[Lesion]:
        """Lesions to assess at a time point: baseline ones everywhere, new ones where
        first seen and later."""
        labels = [tp.label for tp in self.timepoints]
        pos = labels.index(timepoint) if timepoint in labels else len(labels)
        out = []
        for lesion in self.lesions:
            if lesion.kind != "new":
                out.append(lesion)
                continue
            seen = [labels.index(t) for t in lesion.findings if t in labels]
            if not seen or min(seen) <= pos:
                out.append(lesion)
        return out

    # ----------------------------------------------------------------------- checks

    def notes(self) -> list[Note]:
        """Checks of the drawing itself: node axes, incomplete findings, lesions whose
        kind does not fit where they were recorded (see :meth:`unplaced_lesions`)."""
        out: list[Note] = []
        labels = {tp.label for tp in self.timepoints}
        for lesion in self.lesions:
            for label, f in lesion.findings.items():
                if label not in labels:
                    continue
                out.extend(Note(lesion.lesion_id, label, sev, msg) for sev, msg in axis_checks(f))
                if lesion.missing_size(f):
                    what = "short axis" if lesion.nodal else "long axis"
                    out.append(Note(lesion.lesion_id, label, "warning", f"{what} not drawn yet"))
                into = self._lesion_or_none(f.merged_into)
                if f.merged_into and (into is None or into.findings.get(label) is None):
                    out.append(
                        Note(
                            lesion.lesion_id,
                            label,
                            "warning",
                            f"coalesced into {f.merged_into}, which is not measured at "
                            f"{label}: measure the whole lesion there",
                        )
                    )
        for lid, (label, message) in self.unplaced_lesions().items():
            out.append(Note(lid, label, "error", message))
        return out

    def _lesion_or_none(self, lesion_id: str) -> Lesion | None:
        return next((le for le in self.lesions if le.lesion_id == lesion_id), None)

    def unplaced_lesions(self) -> dict[str, tuple[str, str]]:
        """Lesions the RECIST engine cannot take as they are, with (time point, why).

        A target with findings at follow-up but none at baseline (targets are chosen
        at baseline: it is a new lesion, or its baseline is not drawn yet), and a new
        lesion recorded at baseline. :func:`recist_tool.reading.evaluate_reading`
        leaves them out, so the response of the rest stays visible.
        """
        base = self.baseline.label if self.baseline else None
        labels = {tp.label for tp in self.timepoints}
        out: dict[str, tuple[str, str]] = {}
        for lesion in self.lesions:
            assessed = [
                t for t, f in lesion.findings.items() if t in labels and f.status is not None
            ]
            if not assessed:
                continue
            if lesion.kind == "target" and base not in assessed:
                first = min(assessed, key=[tp.label for tp in self.timepoints].index)
                out[lesion.lesion_id] = (
                    first,
                    f"{lesion.lesion_id} is a target first recorded at {first}, not at "
                    f"baseline: a lesion first seen at follow-up is a new lesion (make it "
                    f"New), or measure it at baseline first — left out of the response "
                    f"until then",
                )
            elif lesion.kind == "new" and base in assessed:
                out[lesion.lesion_id] = (
                    base,
                    "a new lesion cannot be at baseline: make it a target or non-target "
                    "— left out of the response until then",
                )
        return out

    # ------------------------------------------------------------------ annotations

    def to_measurements(self) -> list[ann.Measurement]:
        """Rows of the annotation table for every assessed, complete finding.

        A target marked ``measured`` whose relevant axis is not drawn yet is left out
        (:meth:`notes` reports it).
        """
        rows: list[ann.Measurement] = []
        for tp in self.timepoints:
            tp_series = self.series_of(tp.label)
            for lesion in self.lesions:
                f = lesion.findings.get(tp.label)
                if f is None or f.status is None:
                    continue
                if lesion.missing_size(f):
                    continue
                uid = f.series_uid or (tp_series[0].series_uid if tp_series else "")
                info = self.series.get(uid)
                extra = {
                    "slice_thickness_mm": ""
                    if info is None or info.slice_thickness_mm is None
                    else f"{info.slice_thickness_mm:g}",
                    "modality": "" if info is None else info.modality,
                    "reader": self.reader,
                    "series_uid": uid,
                    **assist_columns(f),
                }
                rows.append(
                    ann.Measurement(
                        patient_id=self.patient_id,
                        timepoint=tp.label,
                        date=tp.date,
                        lesion_id=lesion.lesion_id,
                        kind=lesion.kind,
                        organ=lesion.organ,
                        nodal=lesion.nodal,
                        long_axis_mm=f.long_mm,
                        short_axis_mm=f.short_mm,
                        status=f.status,
                        extra={
                            **extra,
                            **({"fragment": f.fragment} if f.fragments else {}),
                            **({"merged_into": f.merged_into} if f.merged_into else {}),
                        },
                    )
                )
                blank = dict.fromkeys(assist_columns(Finding()), "")
                for fr in f.fragments:  # the other parts of a split lesion: a row each
                    rows.append(
                        dataclasses.replace(
                            rows[-1],
                            long_axis_mm=fr.long_mm,
                            short_axis_mm=fr.short_mm,
                            extra={**extra, **blank, "fragment": fr.label},
                        )
                    )
        return rows

    def to_frame(self) -> pd.DataFrame:
        """The annotation table (columns of :data:`recist_tool.annotations.COLUMNS`
        plus ``slice_thickness_mm``, ``modality``, ``reader``, ``series_uid``)."""
        rows = self.to_measurements()
        frame = ann.to_frame(rows)
        for col in ann.OPTIONAL_COLUMNS:
            if col not in frame.columns:
                frame[col] = pd.Series(dtype=object)
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Reading:
        """A reading from an annotation table of one patient (sizes without lines).

        Raises
        ------
        ReadingError
            When the table holds several patients or one lesion with two kinds.
        """
        records = ann.from_frame(frame)
        patients = sorted({m.patient_id for m in records})
        if len(patients) > 1:
            raise ReadingError(
                f"a reading holds one patient; the table has {len(patients)}: "
                + ", ".join(patients[:5])
            )
        reading = cls(patient_id=patients[0] if patients else "")
        reading._journal.tracking = False  # building, not editing: nothing to undo
        for m in records:
            reading.reader = reading.reader or m.extra.get("reader", "")
            if not any(tp.label == m.timepoint for tp in reading.timepoints):
                reading.set_timepoint(m.timepoint, m.date)
            uid = m.extra.get("series_uid", "")
            if uid and uid not in reading.series:
                thick = m.extra.get("slice_thickness_mm", "")
                reading.add_series(
                    SeriesInfo(
                        series_uid=uid,
                        modality=m.extra.get("modality", ""),
                        study_date=m.date,
                        slice_thickness_mm=float(thick) if thick else None,
                        timepoint=m.timepoint,
                    )
                )
            try:
                lesion = reading.lesion(m.lesion_id)
            except ReadingError:
                lesion = reading.add_lesion(m.kind, m.organ, m.nodal, m.lesion_id)
            if lesion.kind != m.kind:
                raise ReadingError(
                    f"lesion {m.lesion_id} is {lesion.kind} at one time point and "
                    f"{m.kind} at {m.timepoint}"
                )
            part = str(m.extra.get("fragment") or "").strip()
            first = lesion.findings.get(m.timepoint)
            if first is not None:  # another part of a split lesion (or a duplicate)
                labels = [first.fragment, *(fr.label for fr in first.fragments)]
                if not part or not first.fragment or part in labels:
                    raise ReadingError(
                        f"lesion {m.lesion_id} is given twice at {m.timepoint}: the rows "
                        f"of a split lesion need distinct fragment labels (column "
                        f"'fragment'; found {', '.join(repr(x) for x in [*labels, part])})"
                    )
                first.fragments += (Fragment(part, m.long_axis_mm, m.short_axis_mm),)
                continue
            lesion.findings[m.timepoint] = Finding(
                status=m.status,
                long_axis_mm=m.long_axis_mm,
                short_axis_mm=m.short_axis_mm,
                fragment=part,
                merged_into=str(m.extra.get("merged_into") or "").strip(),
                **assist_fields(m.extra),
            )
        for lesion in reading.lesions:  # a label on a lesion that did not split: none
            for f in lesion.findings.values():
                if not f.fragments:
                    f.fragment = ""
        reading._journal.tracking = True
        return reading

    # ------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        """The sidecar document (see ``docs/annotation_format.md``, "JSON sidecar")."""
        geos = self.geometries()
        labels = [tp.label for tp in self.timepoints]
        return {
            "format": SIDECAR_FORMAT,
            "version": SIDECAR_VERSION,
            "patient_id": self.patient_id,
            "reader": self.reader,
            "study_path": self.study_path,
            "timepoints": [
                {
                    "label": tp.label,
                    "date": tp.date,
                    "baseline": i == 0,
                    "series_uids": [s.series_uid for s in self.series_of(tp.label)],
                }
                for i, tp in enumerate(self.timepoints)
            ],
            "series": [s.to_dict() for s in self.series.values()],
            "lesions": [
                {
                    "lesion_id": lesion.lesion_id,
                    "kind": lesion.kind,
                    "organ": lesion.organ,
                    "nodal": lesion.nodal,
                    "findings": [
                        {"timepoint": label, **lesion.findings[label].to_dict(geos)}
                        for label in sorted(
                            lesion.findings,
                            key=lambda t: labels.index(t) if t in labels else len(labels),
                        )
                    ],
                }
                for lesion in self.lesions
            ],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], source: str = "<sidecar>") -> Reading:
        """A reading from a sidecar document.

        Raises
        ------
        ReadingError
            Naming ``source`` and the key that is wrong.
        """
        if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
            raise ReadingError(f"{source}: not a recist-tool reading sidecar (no format key)")
        where = "header"
        try:
            if int(doc.get("version", 0)) > SIDECAR_VERSION:
                raise ReadingError(
                    f"sidecar version {doc.get('version')} is newer than this "
                    f"recist-tool understands ({SIDECAR_VERSION})"
                )
            reading = cls(
                patient_id=str(doc.get("patient_id", "")),
                reader=str(doc.get("reader", "")),
                study_path=str(doc.get("study_path", "")),
            )
            reading._journal.tracking = False  # building, not editing: nothing to undo
            for i, tp in enumerate(doc.get("timepoints", [])):
                where = f"timepoints[{i}]"
                reading.timepoints.append(TimePoint(str(tp["label"]), _check_date(tp["date"])))
            reading._sort_timepoints()
            for i, s in enumerate(doc.get("series", [])):
                where = f"series[{i}]"
                info = SeriesInfo.from_dict(s)
                reading.series[info.series_uid] = info
            for i, le in enumerate(doc.get("lesions", [])):
                where = f"lesions[{i}]"
                lesion = reading.add_lesion(
                    le["kind"], le.get("organ", ""), bool(le.get("nodal")), le["lesion_id"]
                )
                for j, f in enumerate(le.get("findings", [])):
                    where = f"lesions[{i}].findings[{j}]"
                    finding = Finding.from_dict(f)
                    if (
                        finding.status is not None
                        and finding.status not in ann.STATUSES[lesion.kind]
                    ):
                        raise ReadingError(f"unknown status {finding.status!r}")
                    lesion.findings[str(f["timepoint"])] = finding
        except ReadingError as exc:
            raise ReadingError(f"{source}: {where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ReadingError(f"{source}: {where}: missing or bad value ({exc})") from None
        reading._journal.tracking = True
        return reading

    # ------------------------------------------------------------------------ files

    def save(
        self, csv_path: str | os.PathLike, frame: pd.DataFrame | None = None
    ) -> tuple[Path, Path]:
        """Write the annotation CSV and its JSON sidecar, each atomically.

        The CSV is written first; the sidecar records the CSV's SHA-256 so that
        :meth:`load` can tell whether the CSV was edited afterwards. ``frame`` is
        :meth:`to_frame` when the caller has it already.

        Returns
        -------
        (Path, Path)
            The CSV and sidecar paths.
        """
        return write_snapshot(self.snapshot(frame), csv_path)

    def snapshot(self, frame: pd.DataFrame | None = None, lazy: bool = False) -> Snapshot:
        """An independent copy of what :meth:`save` writes (for saving elsewhere, e.g.
        in a background thread while the reading keeps changing), stamped with a
        revision (nanoseconds since the epoch) that orders saves and recovery files.

        With ``lazy``, the annotation table is built from copied rows only when the
        snapshot is written (off the caller's thread).
        """
        doc = self.to_json()
        doc["revision"] = time.time_ns()
        if frame is not None:
            return Snapshot(frame.copy(), doc)
        if lazy:
            return Snapshot(None, doc, tuple(self.to_measurements()))
        return Snapshot(self.to_frame(), doc)

    @classmethod
    def load(cls, csv_path: str | os.PathLike) -> Reading:
        """Restore a reading saved by :meth:`save` (or any one-patient annotation CSV).

        With an intact sidecar, everything comes back exactly; a recovery file
        (:func:`write_recovery`) newer than the sidecar wins over both, since it holds
        changes whose save a crash interrupted. When the CSV was
        edited after the sidecar was written, the CSV's statuses and sizes win and
        a line is kept only where its length still matches the CSV (0.05 mm);
        :attr:`load_notes` says what was dropped. Without a sidecar, sizes come
        without lines.
        """
        csv_path = Path(csv_path)
        side = sidecar_path(csv_path)
        recovered = _newer_recovery(csv_path)
        if recovered is not None:
            return recovered
        if not side.exists():
            reading = cls.from_frame(ann.read_annotations(csv_path))
            reading.load_notes = [f"{side.name} not found: sizes restored without lines"]
            return reading
        try:
            saved, doc_sha = _read_sidecar(side)
        except ReadingError as exc:
            if not csv_path.exists():
                raise
            # A damaged sidecar: the CSV's sizes and statuses, without lines.
            reading = cls.from_frame(ann.read_annotations(csv_path))
            reading.load_notes = [f"{exc}; sizes restored from {csv_path.name} without lines"]
            return reading
        if not csv_path.exists() or doc_sha == _sha256(csv_path):
            return saved
        edited = cls.from_frame(ann.read_annotations(csv_path))
        return _merge_edited(saved, edited, csv_path.name)


def _merge_edited(saved: Reading, edited: Reading, name: str) -> Reading:
    """CSV values with the sidecar's time points, series and the lines that still fit."""
    notes = [f"{name} was changed after its sidecar was written: using the CSV's values"]
    out = Reading(
        patient_id=edited.patient_id or saved.patient_id,
        reader=edited.reader or saved.reader,
        study_path=saved.study_path,
        series=dict(saved.series),
        timepoints=[TimePoint(tp.label, tp.date) for tp in edited.timepoints],
    )
    for uid, info in edited.series.items():
        out.series.setdefault(uid, info)
    for lesion in edited.lesions:
        try:
            old = saved.lesion(lesion.lesion_id)
        except ReadingError:
            old = None
        for label, f in lesion.findings.items():
            prev = old.findings.get(label) if old else None
            if prev is None:
                continue
            for axis in ("long", "short"):
                line = getattr(prev, f"{axis}_axis")
                want = getattr(f, f"{axis}_axis_mm")
                if line is None:
                    continue
                if want is not None and abs(round(line.length_mm, LENGTH_DECIMALS) - want) < 0.05:
                    setattr(f, f"{axis}_axis", line)
                    setattr(f, f"{axis}_axis_mm", None)
                else:
                    notes.append(f"{lesion.lesion_id} at {label}: {axis} axis line dropped")
            f.marker = prev.marker
        out.lesions.append(lesion)
    out.load_notes = notes
    return out


def _newer_recovery(csv_path: Path) -> Reading | None:
    rec = recovery_path(csv_path)
    if not rec.exists() or _revision(rec) <= _revision(sidecar_path(csv_path)):
        return None
    try:
        reading = _read_sidecar(rec)[0]
    except ReadingError:
        return None  # a torn recovery file: the sidecar stands
    reading.load_notes = [f"restored changes not saved before a crash from {rec.name}"]
    return reading


def load_sidecar(path: str | os.PathLike) -> Reading:
    """Read a JSON sidecar (the full reading, with every line and marker).

    Raises
    ------
    ReadingError
        When the file cannot be read, is not JSON, or not a reading sidecar.
    """
    return _read_sidecar(Path(path))[0]


def _read_sidecar(path: Path) -> tuple[Reading, str | None]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReadingError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ReadingError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise ReadingError(
            f"{path}: byte {exc.start}: not UTF-8 text (a damaged or foreign file)"
        ) from None
    except RecursionError:
        raise ReadingError(f"{path}: nested too deeply to be a reading sidecar") from None
    return Reading.from_json(doc, source=str(path)), doc.get("csv_sha256")


def _check_kind(kind: str) -> str:
    kind = str(kind).strip().lower()
    if kind not in ann.KINDS:
        raise ReadingError(f"unknown lesion kind {kind!r} (expected one of {', '.join(ann.KINDS)})")
    return kind
