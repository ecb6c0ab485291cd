"""Autosave: a recovery file at once, the full save off the UI thread.

After every change the session takes a :class:`recist_tool.reading.Snapshot` (an
independent copy, a few ms) and

1. writes it at once as the recovery file (:func:`recist_tool.reading.write_recovery`,
   atomic, no CSV: a few ms), so a crash from then on loses nothing —
   :meth:`recist_tool.reading.Reading.load` prefers a recovery file newer than the
   sidecar;
2. hands it to :class:`AutoSaver`, whose worker thread writes the CSV and sidecar
   (each atomic) once the response is shown, coalescing snapshots that arrive while
   it is busy, then removes the recovery file.

:meth:`AutoSaver.flush` waits for the last write; it runs when the widget or the
interpreter closes.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from recist_tool.reading import Snapshot, drop_recovery, write_recovery, write_snapshot

_LIVE: weakref.WeakSet[AutoSaver] = weakref.WeakSet()


class AutoSaver:
    """A single background writer for one session."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # Held while the recovery file is written or removed, so that the worker
        # never removes a recovery file newer than what it has just saved.
        self._recovery_lock = threading.Lock()
        self._pending: tuple[Snapshot, Path] | None = None
        self._before: Callable[[], None] | None = None
        self._busy = False
        self._errors: list[str] = []
        self._thread: threading.Thread | None = None
        self.writes = 0
        #: ``where(path) -> path``: where a save for ``path`` is written (in the writer
        #: thread, right before; e.g. elsewhere when ``path`` was changed by another
        #: program); ``written(path)`` after each write.
        self.where: Callable[[Path], Path] = lambda path: path
        self.written: Callable[[Path], None] = lambda path: None
        #: ``on_report(message)`` from the writer thread (see :meth:`report`).
        self.on_report: Callable[[str], None] | None = None
        _LIVE.add(self)

    def write_recovery(self, snapshot: Snapshot, csv_path: str | os.PathLike) -> None:
        """Write the recovery file now, on the calling thread."""
        with self._recovery_lock:
            write_recovery(snapshot, csv_path)

    def submit(
        self,
        snapshot: Snapshot,
        csv_path: str | os.PathLike,
        before: Callable[[], None] | None = None,
    ) -> None:
        """Write ``snapshot`` to ``csv_path`` (and its sidecar) as soon as possible;
        ``before()`` runs first in the writer (e.g. syncing the audit trail)."""
        with self._cond:
            self._pending = (snapshot, Path(csv_path))
            self._before = before
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="recist-autosave", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._pending is not None, timeout=5.0):
                    self._thread = None  # idle: end; submit starts a new one
                    return
                job, self._pending = self._pending, None
                before, self._before = self._before, None
                self._busy = True
            try:
                if before is not None:
                    before()
                target = self.where(job[1])
                write_snapshot(job[0], target)
                self.written(target)
                self.writes += 1
                with self._recovery_lock:  # the one just written (a conflict copy's too)
                    drop_recovery(target, int(job[0].doc.get("revision", 0)))
            except Exception as exc:  # reported on the UI thread by take_errors()
                self._errors.append(f"could not save the reading to {job[1]}: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted is on disk; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._pending is None and not self._busy, timeout=timeout
            )

    def report(self, message: str) -> None:
        """A message for the reader (from any thread): to :attr:`on_report` at once when
        set (it must hand it to the GUI thread), else with the next errors."""
        if self.on_report is not None:
            self.on_report(message)
        else:
            self._errors.append(message)

    def take_errors(self) -> list[str]:
        """Errors of the writes since the last call."""
        errors, self._errors = self._errors, []
        return errors


@atexit.register
def flush_all() -> None:
    """Wait for every session's pending autosave (also run at interpreter exit)."""
    for saver in list(_LIVE):
        saver.flush(timeout=10.0)
