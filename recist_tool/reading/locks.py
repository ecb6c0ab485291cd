"""Which time points of a reading may be changed: the edit-routing policy.

A reader reads one time point at a time. :class:`Locks` holds

* the **focus**: the time point being read (the one shown in the pane the reader
  works in). While a focus is set, every other time point is read-only unless the
  reader unlocked it explicitly (:meth:`Locks.unlock`);
* **hard locks** with a reason (e.g. a signed-off time point): never editable, whatever
  the focus, until released (:meth:`Locks.lock` / :meth:`Locks.release`). Sign-off
  (issue 13) plugs in here.

Without a focus (scripts, the CLI, tests), every time point not hard-locked is
editable. :class:`~recist_tool.reading.model.Reading` asks :meth:`Locks.refusal` after
every operation which time points the operation changed; one refusal undoes the whole
operation and raises :class:`~recist_tool.reading.errors.TimePointLockedError`. That
is the one place that decides whether an edit may land: no mutator checks by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: Kind of a lock: the reader is looking elsewhere (``view``) or the time point is
#: closed (``hard``: sign-off and the like).
VIEW, HARD = "view", "hard"


@dataclass
class Locks:
    """The edit-routing policy of one reading (view state: not saved, not undone)."""

    focus: str | None = None
    unlocked: set[str] = field(default_factory=set)
    hard: dict[str, str] = field(default_factory=dict)

    def lock_of(self, label: str) -> tuple[str, str] | None:
        """``(kind, reason)`` of the lock on ``label``, None when it is editable."""
        if label in self.hard:
            return HARD, f"{label} is locked: {self.hard[label]}"
        if self.focus is not None and label != self.focus and label not in self.unlocked:
            return (
                VIEW,
                f"{label} is read-only while you read {self.focus} "
                f"(make {label} the current time point, or unlock it, to change it)",
            )
        return None

    def is_editable(self, label: str) -> bool:
        """Whether an edit may change time point ``label``."""
        return self.lock_of(label) is None

    def refusal(self, labels: Iterable[str], system: bool = False) -> tuple[str, tuple[str, ...]]:
        """The message refusing a change of ``labels`` ("" when allowed) and the locked ones.

        ``system`` changes (e.g. assigning a newly loaded series by its date) ignore the
        focus but not hard locks.
        """
        locked, reasons = [], []
        for label in dict.fromkeys(labels):
            lock = self.lock_of(label)
            if lock is None or (system and lock[0] == VIEW):
                continue
            locked.append(label)
            reasons.append(lock[1])
        return "; ".join(reasons), tuple(locked)

    def rename(self, old: str, new: str) -> None:
        """Follow a time point's new label."""
        if self.focus == old:
            self.focus = new
        if old in self.unlocked:
            self.unlocked.discard(old)
            self.unlocked.add(new)
        if old in self.hard:
            self.hard[new] = self.hard.pop(old)
