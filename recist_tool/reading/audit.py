"""The audit trail of a reading: ``<reading>.audit.jsonl`` next to the annotation CSV.

:class:`AuditTrail` listens to a :class:`~recist_tool.reading.model.Reading` and
appends one JSON line per change: UTC time, reader, session, operation number,
action, what changed (``finding``, ``lesion``, ``timepoint``, ``series``, ``reader``),
lesion, time point, old and new value. Undo and redo are entries too (``action``
``undo``/``redo``, ``undoes``/``redoes`` naming the operation), and so are explicit
unlocks of a read-only time point. The file is only ever appended to (opened in
append mode, flushed and fsynced after each change); nothing rewrites it.

:func:`read_audit` reads it back (tolerating a torn last line after a crash).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from recist_tool.reading.errors import ReadingError
from recist_tool.reading.history import Event

#: Schema version written in every line.
AUDIT_VERSION = 1


def audit_path(csv_path: str | os.PathLike) -> Path:
    """The audit trail of an annotation CSV: ``<name>.audit.jsonl`` beside it."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".audit.jsonl")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditTrail:
    """Appends the changes of a reading to its audit file.

    Parameters
    ----------
    path : path-like, optional
        The ``.audit.jsonl`` file. While None (no file chosen yet), entries are kept
        in memory and written when :meth:`attach` names the file.
    reader : str
        Who is making the changes (written in every line).
    deferred_sync : bool
        Append and flush at once (the line survives the application's crash), but leave
        the fsync (the line survives the machine's) to :meth:`sync`, called by a
        background writer right after; default: fsync with every append.
    """

    def __init__(
        self, path: str | os.PathLike | None = None, reader: str = "", deferred_sync: bool = False
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.reader = reader
        self.session = secrets.token_hex(4)
        self.deferred_sync = deferred_sync
        self._unsynced: Path | None = None
        self._pending: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def attach(self, path: str | os.PathLike) -> None:
        """Write to ``path`` from now on (entries held in memory are written first)."""
        self.path = Path(path)
        if self._pending:
            pending, self._pending = self._pending, []
            self._write(pending)

    def __call__(self, event: Event) -> None:
        """Listener for :meth:`Reading.subscribe`: append the event's lines."""
        self._write(self.lines(event))

    def note(self, action: str, **fields: Any) -> None:
        """Append one line that is not a change of the reading (e.g. ``save_as``)."""
        self._write([self._base(action, None) | fields])

    def _base(self, action: str, op: int | None) -> dict[str, Any]:
        return {
            "v": AUDIT_VERSION,
            "time": _now(),
            "reader": self.reader,
            "session": self.session,
            "op": op,
            "action": action,
        }

    def lines(self, event: Event) -> list[dict[str, Any]]:
        """The audit lines of one event."""
        step = event.step
        number = None if step is None else step.number
        if event.kind in ("lock", "unlock"):
            return [
                self._base(event.action, number)
                | {"what": "lock", "timepoint": event.timepoint, "reason": event.reason}
            ]
        base = self._base(event.action if event.kind == "do" else event.kind, number)
        if event.kind in ("undo", "redo") and step is not None:
            base[f"{event.kind}es"] = {"op": step.number, "action": step.action}
        return [base | change for change in event.changes]

    def _write(self, lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        if self.path is None:
            self._pending.extend(lines)
            return
        text = "".join(json.dumps(x, ensure_ascii=False, default=str) + "\n" for x in lines)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                if self.deferred_sync:
                    self._unsynced = self.path
                else:
                    os.fsync(fh.fileno())
        except OSError as exc:
            self._pending.extend(lines)  # kept: written with the next change that works
            self.errors.append(f"could not append to the audit trail {self.path}: {exc}")

    def sync(self) -> None:
        """fsync what was appended since the last sync (with ``deferred_sync``)."""
        path, self._unsynced = self._unsynced, None
        if path is None:
            return
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self.errors.append(f"could not sync the audit trail {path}: {exc}")

    def take_errors(self) -> list[str]:
        """Write errors since the last call."""
        errors, self.errors = self.errors, []
        return errors


def read_audit(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of an audit trail, oldest first.

    A last line cut short by a crash is ignored; any other line that is not JSON
    raises :class:`ReadingError` naming the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReadingError(f"{path}: cannot read the audit trail ({exc.strerror or exc})") from exc
    rows = text.split("\n")
    out = []
    for i, line in enumerate(rows, start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i == len(rows):  # torn last line (no newline written yet)
                break
            raise ReadingError(f"{path}: line {i}: not valid JSON ({exc.msg})") from None
    return out
