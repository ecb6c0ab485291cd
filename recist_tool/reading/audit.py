"""The audit trail: an append-only file of JSON lines next to a reading.

One writer for every audit trail of the project: the edits of a
:class:`~recist_tool.reading.Reading` (:class:`AuditTrail`, a listener of the
reading), sign-off and amendments (:mod:`recist_tool.reading.signoff`), worklist
imports (:mod:`recist_tool.worklist`) and adjudication
(:mod:`recist_tool.readers.adjudication`). All of them go through
:func:`append_audit_lines` (or :func:`append_audit` for one entry).

The trail of ``<name>.csv`` is ``<name>.audit.jsonl`` (:func:`audit_path`). Each entry
is one JSON object on one line, written with a single ``write`` to a file opened with
``O_APPEND`` (concurrent writers never interleave inside a line), then ``fsync``'ed,
so an entry that returned is on disk. The file is never rewritten. The common keys
are ``time`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``), ``reader`` (who did it), ``action``,
``lesion``, ``timepoint``, ``old``, ``new`` and ``reason``; a writer may add keys of
its own (a reading's edits add ``v``, ``session``, ``op`` and ``what``; undo and redo
add ``undoes``/``redoes`` naming the operation).

:func:`read_audit` reads a trail back, skipping a line torn by a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recist_tool.reading.history import Event

try:  # POSIX; elsewhere writers do not take turns (O_APPEND still keeps lines whole)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: Suffix of an audit trail (``<name>.audit.jsonl`` beside ``<name>.csv``).
AUDIT_SUFFIX = ".audit.jsonl"

#: Schema version written in every line of a reading's edits.
AUDIT_VERSION = 1


def utc_now() -> str:
    """Now, UTC, to the second: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_path(csv_path: str | os.PathLike) -> Path:
    """The audit trail of an annotation CSV: ``<name>.audit.jsonl`` beside it."""
    p = Path(csv_path)
    return p.with_name(p.stem + AUDIT_SUFFIX)


def _record(entry: dict[str, Any]) -> dict[str, Any]:
    rest = {k: v for k, v in entry.items() if k != "time"}
    return {"time": entry.get("time") or utc_now(), **rest}


def append_audit_lines(
    path: str | os.PathLike, entries: Iterable[dict[str, Any]], fsync: bool = True
) -> list[dict[str, Any]]:
    """Append entries to an audit trail: JSON lines in one ``write``, then ``fsync``.

    Parameters
    ----------
    path : path-like
        The trail (``<name>.audit.jsonl``); created with its folder when missing.
    entries : iterable of dict
        JSON-serialisable values (others are written as ``str``). ``time`` is added
        (UTC now) to an entry without one.
    fsync : bool
        ``False`` leaves the ``fsync`` to a later :func:`sync_audit` (the lines are in
        the operating system already, so they survive the application's crash; the
        plugin syncs from its background writer right after).

    Returns
    -------
    list of dict
        The entries as written (``time`` first).

    Notes
    -----
    The lines are written with one ``write`` on an ``O_APPEND`` descriptor under an
    exclusive ``flock`` (concurrent writers take turns); a new file's folder is
    fsync'ed too. A torn last line left by a crash is closed with a
    newline first, so it never swallows the new entry.
    """
    records = [_record(e) for e in entries]
    if not records:
        return records
    p = Path(path)
    text = "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        for r in records
    )
    data = text.encode("utf-8")
    created = not p.exists()
    if created:
        p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # Writers take turns: the torn-line check below must not see another
        # writer's line half written (that would add an empty line).
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn line from a crash stays apart
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(p.parent)
    return records


def append_audit(path: str | os.PathLike, entry: dict[str, Any]) -> dict[str, Any]:
    """Append one entry to an audit trail: a JSON line, flushed and fsync'ed.

    Parameters
    ----------
    path : path-like
        The trail (``<name>.audit.jsonl``); created with its folder when missing.
    entry : dict
        JSON-serialisable values (others are written as ``str``). ``time`` is added
        (UTC now) unless the entry has one.

    Returns
    -------
    dict
        The entry as written (``time`` first).
    """
    return append_audit_lines(path, [entry])[0]


def sync_audit(path: str | os.PathLike) -> None:
    """``fsync`` an audit trail (after :func:`append_audit_lines` with ``fsync=False``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_audit(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of an audit trail, oldest first ([] when there is none).

    A line that is not a JSON object (a line torn by a crash) is skipped.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


class AuditTrail:
    """Appends the changes of a reading to its audit file (through
    :func:`append_audit_lines`, the one writer).

    Parameters
    ----------
    path : path-like, optional
        The ``.audit.jsonl`` file. While None (no file chosen yet), entries are kept
        in memory and written when :meth:`attach` names the file.
    reader : str
        Who is making the changes (written in every line).
    deferred_sync : bool
        Append at once (the line survives the application's crash), but leave the
        fsync (the line survives the machine's) to :meth:`sync`, called by a
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
            "time": utc_now(),
            "v": AUDIT_VERSION,
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
        try:
            append_audit_lines(self.path, lines, fsync=not self.deferred_sync)
            if self.deferred_sync:
                self._unsynced = self.path
        except OSError as exc:
            self._pending.extend(lines)  # kept: written with the next change that works
            self.errors.append(f"could not append to the audit trail {self.path}: {exc}")

    def sync(self) -> None:
        """fsync what was appended since the last sync (with ``deferred_sync``)."""
        path, self._unsynced = self._unsynced, None
        if path is None:
            return
        try:
            sync_audit(path)
        except OSError as exc:
            self.errors.append(f"could not sync the audit trail {path}: {exc}")

    def take_errors(self) -> list[str]:
        """Write errors since the last call."""
        errors, self.errors = self.errors, []
        return errors
