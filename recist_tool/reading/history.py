"""The history of a reading: snapshots of what a reader can change, their differences,
and the undo/redo stacks.

Every change of a :class:`~recist_tool.reading.model.Reading` runs as one
*operation* (:meth:`Reading._operation`): the editable state is captured before and
after (:func:`capture`, a shallow copy: lines and markers are immutable, ~0.1 ms for
8 lesions × 6 time points), the difference (:func:`diff`) becomes the audit trail's
entries and tells the lock policy which time points changed (:func:`touched`), and
the pair is pushed as one :class:`Step` on the undo stack. Undo and redo restore a
captured state (:func:`restore`). One mechanism, so nothing can change without being
recorded, undoable and checked against the locks.

The editable state is the reader's name, the time points (label, date), the time
point of each series, the lesions (id, kind, organ, nodal flag) and their findings.
Series records and geometry (what was loaded) are not part of it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recist_tool.reading.constants import LENGTH_DECIMALS
from recist_tool.reading.findings import Finding, Lesion, TimePoint

if TYPE_CHECKING:
    from recist_tool.reading.model import Reading

#: Steps kept on the undo stack.
MAX_UNDO = 1000


@dataclass(frozen=True)
class State:
    """What a reader can change in a reading, at one moment (compare with ``==``)."""

    reader: str
    timepoints: tuple[tuple[str, str], ...]
    assign: tuple[tuple[str, str | None], ...]
    lesions: tuple[tuple[str, str, str, bool, tuple[tuple[str, Finding], ...]], ...]
    auto: frozenset[str] = frozenset()


def capture(reading: Reading) -> State:
    """The editable state of ``reading`` (independent of later edits)."""
    return State(
        reading.reader,
        tuple((tp.label, tp.date) for tp in reading.timepoints),
        tuple((uid, s.timepoint) for uid, s in reading.series.items()),
        tuple(
            (
                le.lesion_id,
                le.kind,
                le.organ,
                le.nodal,
                tuple((tp, copy.copy(f)) for tp, f in le.findings.items()),
            )
            for le in reading.lesions
        ),
        frozenset(reading._auto_assigned),
    )


def restore(reading: Reading, state: State) -> None:
    """Put ``state`` back into ``reading`` (series unknown to it become unassigned)."""
    reading.reader = state.reader
    reading.timepoints = [TimePoint(label, date) for label, date in state.timepoints]
    assign = dict(state.assign)
    for uid, info in reading.series.items():
        info.timepoint = assign.get(uid)
    reading.lesions = [
        Lesion(lid, kind, organ, nodal, {tp: copy.copy(f) for tp, f in findings})
        for lid, kind, organ, nodal, findings in state.lesions
    ]
    reading._auto_assigned = set(state.auto)


def describe_finding(f: Finding | None) -> dict[str, Any] | None:
    """A finding as the audit trail shows it (sizes in mm, end points in LPS mm)."""
    if f is None:
        return None
    out: dict[str, Any] = {"status": f.status}
    for axis in ("long", "short"):
        line = getattr(f, f"{axis}_axis")
        size = getattr(f, f"{axis}_mm")
        if size is not None:
            out[f"{axis}_axis_mm"] = size
        if line is not None:
            out[f"{axis}_axis_lps"] = [
                [round(v, 2) for v in line.p1_lps],
                [round(v, 2) for v in line.p2_lps],
            ]
            if line.slice_index is not None:
                out[f"{axis}_axis_slice"] = line.slice_index
    if f.marker is not None:
        out["marker_lps"] = [round(v, 2) for v in f.marker.position_lps]
    if f.method is not None:
        out["method"] = f.method
    return out


def _lesion_attrs(kind: str, organ: str, nodal: bool) -> dict[str, Any]:
    return {"kind": kind, "organ": organ, "nodal": nodal}


def diff(
    before: State,
    after: State,
    tp_renames: dict[str, str] | None = None,
    lesion_renames: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What changed from ``before`` to ``after``: one dict per change.

    Each has ``what`` (``reader``, ``timepoint``, ``series``, ``lesion`` or
    ``finding``), ``lesion``, ``timepoint`` (labels of ``after``; a renamed one also
    says its old label), ``old`` and ``new``. Renames (old label -> new) are matched
    first so that a renamed time point or lesion is one change, not a removal and an
    addition.
    """
    tpr = dict(tp_renames or {})
    ler = dict(lesion_renames or {})
    out: list[dict[str, Any]] = []

    def tp(label: str | None) -> str | None:
        return None if label is None else tpr.get(label, label)

    def le(lid: str) -> str:
        return ler.get(lid, lid)

    def add(what: str, lesion: str | None, timepoint: str | None, old: Any, new: Any, **kw) -> None:
        out.append(
            {"what": what, "lesion": lesion, "timepoint": timepoint, "old": old, "new": new, **kw}
        )

    if before.reader != after.reader:
        add("reader", None, None, before.reader, after.reader)
    old_tps = {tp(label): (label, date) for label, date in before.timepoints}
    new_tps = dict(after.timepoints)
    for label, (was, date) in old_tps.items():
        if label not in new_tps:
            add("timepoint", None, label, {"label": was, "date": date}, None)
        elif was != label or date != new_tps[label]:
            add(
                "timepoint",
                None,
                label,
                {"label": was, "date": date},
                {"label": label, "date": new_tps[label]},
            )
    for label, date in after.timepoints:
        if label not in old_tps:
            add("timepoint", None, label, None, {"label": label, "date": date})
    old_assign = {uid: tp(label) for uid, label in before.assign}
    for uid, label in after.assign:
        was = old_assign.get(uid)
        if was != label:
            add("series", None, label or was, was, label, series=uid)
    old_les = {le(lid): (lid, (k, o, n), dict(fs)) for lid, k, o, n, fs in before.lesions}
    new_les = {lid: ((k, o, n), dict(fs)) for lid, k, o, n, fs in after.lesions}
    for lid, (was, attrs, _) in old_les.items():
        if lid not in new_les:
            add("lesion", lid, None, _lesion_attrs(*attrs), None)
        elif was != lid or attrs != new_les[lid][0]:
            old = {"lesion_id": was, **_lesion_attrs(*attrs)}
            add("lesion", lid, None, old, {"lesion_id": lid, **_lesion_attrs(*new_les[lid][0])})
    for lid, (attrs, _) in new_les.items():
        if lid not in old_les:
            add("lesion", lid, None, None, _lesion_attrs(*attrs))
    for lid in dict.fromkeys([*old_les, *new_les]):
        old_f = {tp(label): f for label, f in old_les[lid][2].items()} if lid in old_les else {}
        new_f = new_les[lid][1] if lid in new_les else {}
        for label in dict.fromkeys([*old_f, *new_f]):
            a, b = old_f.get(label), new_f.get(label)
            if a != b:
                add("finding", lid, label, describe_finding(a), describe_finding(b))
    return out


def touched(
    before: State,
    changes: Iterable[dict[str, Any]],
    tp_renames: dict[str, str] | None = None,
    lesion_renames: dict[str, str] | None = None,
) -> list[str]:
    """Time points (labels of ``before``) whose content the changes alter.

    A finding changed at a time point; a time point's date or label changed, or the
    time point removed; a series moved from or to an existing time point; a lesion's
    kind, organ, nodal flag or id changed, or the lesion removed: every time point
    where it had a finding. A time point or lesion that did not exist before is not
    touched (creating one changes nothing anyone read).
    """
    back_tp = {new: old for old, new in (tp_renames or {}).items()}
    back_le = {new: old for old, new in (lesion_renames or {}).items()}
    existing = {label for label, _ in before.timepoints}
    where = {lid: [label for label, _ in fs] for lid, _, _, _, fs in before.lesions}
    out: list[str] = []

    def mark(label: str | None) -> None:
        label = back_tp.get(label, label) if label is not None else None
        if label is not None and label in existing:
            out.append(label)

    for c in changes:
        what = c["what"]
        if what == "finding":
            mark(c["timepoint"])
        elif what == "timepoint" and c["old"] is not None:
            mark(c["old"]["label"])
        elif what == "series":
            mark(c["old"])
            mark(c["new"])
        elif what == "lesion" and c["old"] is not None:
            lid = back_le.get(c["lesion"], c["lesion"])
            out.extend(where.get(lid, []))
    return list(dict.fromkeys(out))


@dataclass
class Step:
    """One operation on the undo stack: the states around it and what it changed."""

    number: int
    action: str
    before: State
    after: State
    changes: list[dict[str, Any]]
    tp_renames: dict[str, str] = field(default_factory=dict)
    lesion_renames: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """A short description for a status bar: ``set_line T1 at FU1``."""
        lesions = list(dict.fromkeys(c["lesion"] for c in self.changes if c["lesion"]))
        tps = list(dict.fromkeys(c["timepoint"] for c in self.changes if c["timepoint"]))
        text = self.action.replace("_", " ")
        if lesions:
            text += " " + ", ".join(lesions[:3]) + ("…" if len(lesions) > 3 else "")
        if tps:
            text += " at " + ", ".join(tps[:3]) + ("…" if len(tps) > 3 else "")
        return text


@dataclass
class Event:
    """What listeners of a reading are told after each change.

    ``kind`` is ``do``, ``undo``, ``redo`` (with ``step`` and ``changes``: for undo,
    from the step's after to its before state), or ``lock``/``unlock`` (``timepoint``
    and ``reason``).
    """

    kind: str
    action: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    step: Step | None = None
    timepoint: str | None = None
    reason: str = ""


@dataclass
class Journal:
    """Undo and redo stacks and the operation in progress (not saved, not compared)."""

    undo: list[Step] = field(default_factory=list)
    redo: list[Step] = field(default_factory=list)
    depth: int = 0
    tracking: bool = True
    counter: int = 0
    tp_renames: dict[str, str] = field(default_factory=dict)
    lesion_renames: dict[str, str] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget every step (a freshly opened reading has nothing to undo)."""
        self.undo.clear()
        self.redo.clear()

    def push(self, step: Step) -> None:
        self.undo.append(step)
        del self.undo[:-MAX_UNDO]
        self.redo.clear()

    def next_number(self) -> int:
        self.counter += 1
        return self.counter


def finding_mm(f: Finding | None, nodal: bool) -> str:
    """The size a finding counts with, as a short text (``41.9 mm``), for messages."""
    if f is None:
        return "not assessed"
    size = f.short_mm if nodal else f.long_mm
    if size is not None:
        return f"{size:.{LENGTH_DECIMALS}f} mm"
    if f.marker is not None:
        return f"marked, {f.status or 'no status'}"
    return f.status or "not assessed"
