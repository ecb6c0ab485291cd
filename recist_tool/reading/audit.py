"""The audit trail: an append-only file of JSON lines next to a reading.

One writer for every audit trail of the project: sign-off and amendments
(:mod:`recist_tool.reading.signoff`), worklist imports
(:mod:`recist_tool.worklist`), adjudication (:mod:`recist_tool.readers.adjudication`)
and, from issue 9, the edits of a :class:`~recist_tool.reading.Reading`.

The trail of ``<name>.csv`` is ``<name>.audit.jsonl`` (:func:`audit_path`). Each entry
is one JSON object on one line, written by :func:`append_audit` with a single
``write`` to a file opened with ``O_APPEND`` (concurrent writers never interleave
inside a line), then ``fsync``'ed, so an entry that returned is on disk. The file is
never rewritten. The common keys are ``time`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``),
``reader`` (who did it), ``action``, ``lesion``, ``timepoint``, ``old``, ``new`` and
``reason``; a writer may add keys of its own.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path
from typing import Any

#: Suffix of an audit trail (``<name>.audit.jsonl`` beside ``<name>.csv``).
AUDIT_SUFFIX = ".audit.jsonl"


def utc_now() -> str:
    """Now, UTC, to the second: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_path(csv_path: str | os.PathLike) -> Path:
    """The audit trail of an annotation CSV: ``<name>.audit.jsonl`` beside it."""
    p = Path(csv_path)
    return p.with_name(p.stem + AUDIT_SUFFIX)


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

    Notes
    -----
    The line is written with one ``write`` on an ``O_APPEND`` descriptor, then
    ``fsync``; a new file's folder is fsync'ed too. A torn last line left by a crash
    is closed with a newline first, so it never swallows the new entry.
    """
    p = Path(path)
    rest = {k: v for k, v in entry.items() if k != "time"}
    record = {"time": entry.get("time") or utc_now(), **rest}
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    data = (line + "\n").encode("utf-8")
    created = not p.exists()
    if created:
        p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # Writers of one trail take turns: another's append in progress could otherwise
        # look like a torn line here (its size grows while its bytes are copied).
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn line from a crash stays apart
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(p.parent)
    return record


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

    A line that is not a JSON object (a torn line from a crash) is skipped.
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
