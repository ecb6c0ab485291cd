"""Where and how the reading is kept on disk: autosave and the audit trail.

:class:`Persistence` knows the file (the one the reader chose or loaded, else
``<readings_dir>/<patient_id>.csv``), writes after every change — a recovery file at
once and the CSV + sidecar from the background :class:`~napari_recist._autosave.AutoSaver`
— and appends each change to ``<reading>.audit.jsonl`` through a
:class:`recist_tool.reading.AuditTrail` listening to the reading (changes made before
the file is known are written once it is). Errors are returned as texts for the
session to show; the reader's work stays in memory. No Qt here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from napari_recist._autosave import AutoSaver
from recist_tool.errors import RecistError
from recist_tool.filenames import file_stem
from recist_tool.reading import (
    AuditTrail,
    Reading,
    Snapshot,
    audit_path,
    changed_elsewhere,
    csv_state,
    recovery_path,
)
from recist_tool.reading.policy import nothing_to_write


class Persistence:
    """Autosave and audit trail of the session's reading.

    Parameters
    ----------
    readings_dir : path-like
        Default folder (``<readings_dir>/<patient_id>.csv``).
    reader : str
        Who makes the changes (each audit line names them).
    guard : callable, optional
        ``guard(path)`` says why the reading may not be written to (or its audit trail
        appended at) ``path`` ("" when it may): blinded reading in a cohort
        (:class:`napari_recist._blinding.Blinding`).
    """

    def __init__(
        self,
        readings_dir: str | os.PathLike,
        reader: str = "",
        guard: Callable[[Path], str] | None = None,
    ) -> None:
        self.readings_dir = Path(readings_dir)
        self.guard = guard or (lambda path: "")
        self._refused: Path | None = None
        #: Saved readings that could not be read back (path → why): never written
        #: over by autosave, so what was saved there is not lost (Save as… elsewhere).
        self.unreadable: dict[Path, str] = {}
        self.csv_path: Path | None = None
        self.autosave = True
        #: Write the CSV + sidecar in a background thread (False: in line).
        self.background = True
        self.saver = AutoSaver()
        self.saver.where, self.saver.written = self._where, self._written
        #: The CSV of each file as this session last read or wrote it
        #: (:func:`recist_tool.reading.csv_state`).
        self._seen: dict[Path, str] = {}
        #: Files changed by another program while open → where the reading goes now.
        self.moved: dict[Path, Path] = {}
        # Appended and flushed at once; fsynced by the writer thread right after (an
        # fsync costs 5-15 ms here, which the reader would otherwise wait for).
        self.audit = AuditTrail(reader=reader, deferred_sync=True)
        self._reading: Reading | None = None

    def bind(self, reading: Reading) -> None:
        """Follow ``reading`` (a newly opened or loaded one)."""
        if self._reading is not None:
            self._reading.unsubscribe(self.audit)
        self._reading = reading
        reading.subscribe(self.audit)
        path = self.path_for(reading)
        if path is not None:
            self._seen[path] = csv_state(path)  # as it was loaded
        self._attach()

    def set_reader(self, name: str) -> None:
        """Who makes the changes from now on."""
        self.audit.reader = name

    def path_for(self, reading: Reading) -> Path | None:
        """Where ``reading`` is saved (None until a patient is known)."""
        if self.csv_path is not None:
            return self.csv_path
        if not reading.patient_id:
            return None
        # unique and bounded: patients P/1 and P_1 never share a file (recist_tool.filenames)
        return self.readings_dir / f"{file_stem(reading.patient_id)}.csv"

    def _attach(self) -> None:
        r = self._reading
        path = None if r is None else self.path_for(r)
        if path is not None and self.guard(path):
            return  # not this reader's file: no audit line goes there
        if path is not None and self.audit.path != audit_path(path):
            self.audit.attach(audit_path(path))

    def save(self, reading: Reading, frame: pd.DataFrame | None = None) -> tuple[list[str], object]:
        """Save after a change: in line, or the recovery file now and a job for
        :meth:`submit` once the response is shown. Returns (errors, job)."""
        self._attach()
        errors = self.saver.take_errors() + self.audit.take_errors()
        path = self.path_for(reading)
        if path is None or not self.autosave:
            return errors, None
        if nothing_to_write(reading, path):  # opened, its series assigned, nothing recorded
            return errors, None
        refused = self.guard(path) or self.unreadable.get(path, "")
        if refused:  # said once per path; the reading stays in memory (Save as… elsewhere)
            first, self._refused = self._refused != path, path
            return [*errors, f"not saved: {refused}"] if first else errors, None
        try:
            if not self.background:
                target = self._where(path)
                reading.save(target, frame)
                self._written(target)
                self.audit.sync()
                return errors + self.saver.take_errors(), None
            snapshot = reading.snapshot(frame, lazy=frame is None)
            self.saver.write_recovery(snapshot, self.moved.get(path, path))
            return errors, (snapshot, path)
        except (OSError, RecistError) as exc:
            return [*errors, f"could not save the reading to {path}: {exc}"], None

    def _where(self, path: Path) -> Path:
        """Where a save for ``path`` goes: there, unless another program changed the
        file since this session read or wrote it (a hand edit while the patient is
        open); then a conflict copy beside it, from then on, and the reader is told.
        The file is not written over: what was written there is not lost."""
        if path in self.moved:
            return self.moved[path]
        if changed_elsewhere(path, self._seen.get(path)):
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = path.with_name(f"{path.stem}.conflict-{stamp}.csv")
            self.moved[path] = target
            recovery_path(path).unlink(missing_ok=True)  # reopening loads the file as it is
            self.saver.report(
                f"{path.name} was changed on disk by another program while this reading "
                f"was open: it is not written over; this reading is saved as "
                f"{target.name} from now on (reopening the patient loads {path.name} as "
                "it is now)"
            )
            return target
        return path

    def _written(self, path: Path) -> None:
        self._seen[path] = csv_state(path)

    def submit(self, job: object) -> None:
        """Hand a job from :meth:`save` to the background writer."""
        if job is not None:
            snapshot, path = job  # type: ignore[misc]
            assert isinstance(snapshot, Snapshot)
            self.saver.submit(snapshot, path, before=self.audit.sync)

    def save_as(self, reading: Reading, csv_path: str | os.PathLike) -> list[str]:
        """Save to another file; autosave and the audit trail continue there."""
        refused = self.guard(Path(csv_path))
        if refused:
            return [f"not saved: {refused}"]
        old = self.audit.path
        self.csv_path = Path(csv_path)
        self.flush()
        self._attach()
        self.audit.note("save_as", previous=None if old is None else str(old))
        try:
            reading.save(self.csv_path)
        except (OSError, RecistError) as exc:
            return [f"could not save the reading to {self.csv_path}: {exc}"]
        return []

    def flush(self) -> list[str]:
        """Wait until the last autosave is on disk; returns write errors."""
        self.saver.flush()
        self.audit.sync()
        return self.saver.take_errors() + self.audit.take_errors()
