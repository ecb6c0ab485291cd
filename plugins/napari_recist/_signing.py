"""Sign-off in the reading session: signed time points are locked; a change asks why.

:class:`SignGuard` follows the session's reading and its annotation CSV. The sign-off
state is the core's :class:`recist_tool.reading.signoff.SignOff` (``<name>.signoff.json``
beside the CSV); a signed time point is a *hard lock* of the reading
(:attr:`recist_tool.reading.Reading.locks`), so the reading's one edit path refuses a
change of it with :class:`~recist_tool.reading.TimePointLockedError`, whatever the
pane. :meth:`SignGuard.run` wraps every edit of the session (the form's buttons, lines
drawn on the canvas, undo and redo): when the only locks in the way are signatures, it
asks the reader for a reason (``ask_reason``, a dialog in the Qt widget), runs the edit
again with those locks lifted for that one operation, and records the amendment with
its reason in the audit trail (:meth:`SignOff.record_change`). Without a reason nothing
changes. :meth:`SignGuard.stamp` fills the CSV's ``signed_at`` column on every save.
No Qt here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from recist_tool.errors import RecistError
from recist_tool.reading import Reading, Step, TimePointLockedError
from recist_tool.reading.signoff import Signature, SignOff

T = TypeVar("T")

#: ``ask_reason(message, timepoints) -> reason`` ("" or None: the change is dropped).
AskReason = Callable[[str, tuple[str, ...]], "str | None"]


def lock_text(sig: Signature) -> str:
    """The hard-lock reason shown for a signed time point."""
    return f"signed by {sig.reader} at {sig.signed_at}"


class SignGuard:
    """Sign-off state of the session's reading and the guard of its edits.

    Parameters
    ----------
    reader : callable
        Returns who reads now (the signature's and the amendment's author).
    ask_reason : callable, optional
        ``ask_reason(message, timepoints)``; without it a change of a signed time point
        is refused.
    """

    def __init__(self, reader: Callable[[], str], ask_reason: AskReason | None = None) -> None:
        self._reader = reader
        self.ask_reason = ask_reason
        self.signoff: SignOff | None = None
        self._reading: Reading | None = None
        self._path: Path | None = None
        #: Messages for the reader (e.g. ``verify`` findings on load).
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ following

    def follow(self, reading: Reading, csv_path: Path | None) -> None:
        """Track ``reading`` saved at ``csv_path`` (cheap when nothing changed)."""
        path = None if csv_path is None else Path(csv_path)
        if reading is self._reading and path == self._path:
            return
        self._reading, self._path = reading, path
        self.signoff = None
        if path is None:
            return
        try:
            self.signoff = SignOff(path)
        except RecistError as exc:
            self.warnings.append(str(exc))
            return
        self.apply_locks()
        if self.signoff.signatures:
            self.warnings.extend(self.signoff.verify(reading))

    def apply_locks(self) -> None:
        """Hard-lock each signed time point of the reading (no audit line: the
        signature is recorded already)."""
        r, so = self._reading, self.signoff
        if r is None or so is None:
            return
        labels = {tp.label for tp in r.timepoints}
        for label, sig in so.signatures.items():
            if label in labels:
                r.locks.hard[label] = lock_text(sig)

    # ------------------------------------------------------------------ queries

    def is_signed(self, label: str | None) -> bool:
        """Whether ``label`` is signed."""
        return bool(label) and self.signoff is not None and self.signoff.is_signed(label)

    def signed_at(self, label: str | None) -> str:
        """When ``label`` was signed ("" when not)."""
        if not label or self.signoff is None:
            return ""
        return self.signoff.signed_at(label) or ""

    def stamp(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The annotation table with ``signed_at`` (unchanged when nothing is signed)."""
        if self.signoff is None or not self.signoff.signatures or frame.empty:
            return frame
        return self.signoff.stamp(frame)

    @property
    def any_signed(self) -> bool:
        """Whether the reading has a signed time point."""
        return self.signoff is not None and bool(self.signoff.signatures)

    # ------------------------------------------------------------------ actions

    def sign(self, reading: Reading, timepoint: str | None = None) -> list[Signature]:
        """Sign ``timepoint`` (None: every time point) and lock it.

        Raises
        ------
        RecistError
            No file yet, nothing to sign, or an error at the time point.
        """
        if self.signoff is None:
            raise RecistError("the reading has no file yet: open a study first")
        made = self.signoff.sign(reading, self._reader(), timepoint)
        self.apply_locks()
        return made

    def reopen(self, timepoint: str, reason: str) -> None:
        """Remove a signature (audited with ``reason``); the time point is editable."""
        if self.signoff is None or self._reading is None:
            return
        self.signoff.reopen(timepoint, self._reader(), reason)
        self._reading.locks.hard.pop(timepoint, None)

    @contextlib.contextmanager
    def _lifted(self, labels: tuple[str, ...]) -> Iterator[None]:
        r = self._reading
        assert r is not None
        kept = {lb: r.locks.hard.pop(lb) for lb in labels if lb in r.locks.hard}
        try:
            yield
        finally:
            for lb, why in kept.items():
                if any(tp.label == lb for tp in r.timepoints):
                    r.locks.hard[lb] = why

    def run(self, edit: Callable[[], T], action: str) -> T:
        """Run ``edit``; when signatures refuse it, ask a reason and amend.

        Raises what ``edit`` raises; a change of a signed time point without a reason
        raises :class:`~recist_tool.reading.signoff.SignedTimepointError`.
        """
        try:
            return edit()
        except TimePointLockedError as exc:
            signed = tuple(t for t in exc.timepoints if self.is_signed(t))
            if not signed or len(signed) != len(exc.timepoints):
                raise
            return self._amend(edit, action, signed)

    def _amend(self, edit: Callable[[], T], action: str, signed: tuple[str, ...]) -> T:
        from recist_tool.reading.signoff import SignedTimepointError

        so, r = self.signoff, self._reading
        assert so is not None and r is not None
        who = ", ".join(f"{t} ({lock_text(so.signatures[t])})" for t in signed)
        what = action.replace("_", " ")
        message = f"Time point {who}. This change ({what}) needs a reason."
        reason = self.ask_reason(message, signed) if self.ask_reason else None
        reason = (reason or "").strip()
        if not reason:
            raise SignedTimepointError(f"nothing changed: {who} is signed and no reason was given")
        before = r.undo_step
        with self._lifted(signed):
            result = edit()
        if isinstance(result, Step):  # undo / redo
            step: Step | None = result
        else:
            step = r.undo_step if r.undo_step is not before else None
        lesion, old, new = _what(step, signed)
        for label in signed:
            so.record_change(r, label, self._reader(), reason, action, lesion, old, new)
        return result


def _what(step: Step | None, labels: tuple[str, ...]) -> tuple[str | None, Any, Any]:
    """(lesion, old, new) of the operation's first change at a signed time point."""
    changes = [] if step is None else list(step.changes)
    found = [c for c in changes if c.get("timepoint") in labels] or changes
    if not found:
        return None, None, None
    c = found[0]
    return c.get("lesion"), c.get("old"), c.get("new")
