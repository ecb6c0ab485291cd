"""Saving the reading (mixed into ``ReadingSession``).

Where the session saves (the file the reader chose or loaded, else
``<readings_dir>/<patient_id>.csv``, with its JSON sidecar), the autosave after each
change (in line, or a recovery file now and the full write by the background
``AutoSaver`` of ``_autosave``), "save as", and waiting for the last write on close.
Write errors are shown as napari notifications; the reader's work stays in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from napari.utils.notifications import show_error

from recist_tool.errors import RecistError
from recist_tool.filenames import file_stem
from recist_tool.reading import Snapshot


class SavingMixin:
    """The saving part of :class:`napari_recist._session.ReadingSession`."""

    @property
    def save_path(self) -> Path | None:
        """Where the reading is saved (None until a patient is known)."""
        if self.csv_path is not None:
            return self.csv_path
        if not self.reading.patient_id:
            return None
        # unique and bounded: patients P/1 and P_1 never share a file (recist_tool.filenames)
        return self.readings_dir / f"{file_stem(self.reading.patient_id)}.csv"

    def save_as(self, csv_path: str | os.PathLike) -> None:
        """Save to another file; autosave continues there."""
        self.csv_path = Path(csv_path)
        self.flush()
        try:
            self.reading.save(self.csv_path)
        except (OSError, RecistError) as exc:
            show_error(f"recist: could not save the reading to {self.csv_path}: {exc}")

    def _save(self, frame: pd.DataFrame | None = None) -> tuple[Snapshot, Path] | None:
        """Save in line, or write the recovery file and return the snapshot for the
        background writer."""
        path = self.save_path
        if path is None:
            return None
        for err in self._saver.take_errors():
            show_error(f"recist: {err}")
        try:
            if not self.background_save:
                self.reading.save(path, frame)
                return None
            snapshot = self.reading.snapshot(frame)
            self._saver.write_recovery(snapshot, path)
            return snapshot, path
        except (OSError, RecistError) as exc:
            show_error(f"recist: could not save the reading to {path}: {exc}")
            return None

    def flush(self) -> None:
        """Wait until the last autosave is on disk (run on close and at exit)."""
        self._saver.flush()
        for err in self._saver.take_errors():
            show_error(f"recist: {err}")
