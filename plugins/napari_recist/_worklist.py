"""The worklist in the reading session: a cohort's patients, one after another.

:class:`WorklistController` is a thin layer over :class:`recist_tool.worklist.Worklist`
for the session's reader: the rows and progress the panel shows, opening a patient
(its PACS studies pulled into the cohort cache first when needed, its proposed series
loaded and assigned to the worklist's time points by date, its saved reading
continued), *Next patient* (the reader's next unfinished one; the current reading is
saved first), *Mark done* and sign-off. The reading is kept at
``COHORT_DIR/readings/<reader>/<patient>.csv`` (+ sidecar, audit trail, sign-off
state): the session autosaves there after every change, and
:meth:`Worklist.save_reading` (CSV with ``signed_at``, worklist status) runs on every
switch, sign-off and *Mark done*.

Opening a patient is split for the Qt panel's worker thread: :meth:`prepare` (files,
network, decoding: no napari calls) then :meth:`show` (on the UI thread). No Qt here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_recist._loading import SeriesProblem, load_study
from recist_tool.errors import RecistError
from recist_tool.reading import Reading
from recist_tool.worklist import Worklist
from recist_tool.worklist.model import Entry

#: Status filter choices (worklist statuses).
STATUSES = ("not_started", "in_progress", "done", "signed")


@dataclass
class PreparedPatient:
    """What :meth:`WorklistController.prepare` read for a patient (no napari objects)."""

    patient_id: str
    reading: Reading
    csv_path: Path
    layers: list[tuple] = field(default_factory=list)
    problems: list[SeriesProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Series of the studies that were not proposed (listed for the reader, not loaded).
    others: list[str] = field(default_factory=list)
    #: Series UID -> the worklist's time point label.
    assign: dict[str, str] = field(default_factory=dict)


class WorklistController:
    """The worklist of the session's reader (see the module).

    Parameters
    ----------
    session : ReadingSession
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.wl: Worklist | None = None
        self.current: str | None = None

    # ------------------------------------------------------------------ cohort

    @property
    def reader(self) -> str:
        """The session's reader (the worklist's reader name)."""
        return str(self.session.reader or "").strip()

    def open(self, cohort_dir: str | os.PathLike) -> Worklist:
        """Open a cohort folder (``recist-tool worklist init`` made it)."""
        from recist_tool.worklist.layout import check_reader

        check_reader(self.reader)
        self.wl = Worklist.open(cohort_dir)
        self.current = None
        return self.wl

    def _need(self) -> Worklist:
        if self.wl is None:
            raise RecistError("no worklist open: open a cohort folder first")
        return self.wl

    def rows(self, statuses: set[str] | None = None, text: str = "") -> list[Entry]:
        """The reader's rows, filtered by status and patient ID text."""
        wl = self._need()
        wl.reload()
        return wl.entries(
            reader=self.reader,
            status=sorted(statuses) if statuses is not None else None,
            text=text.strip() or None,
        )

    def progress_text(self) -> str:
        """``2 of 5 finished (1 in progress, 1 signed)``."""
        p = self._need().progress(self.reader)
        extra = [f"{p.get(k, 0)} {k.replace('_', ' ')}" for k in ("in_progress", "signed")]
        return f"{p.get('finished', 0)} of {p.get('total', 0)} finished ({', '.join(extra)})"

    # ------------------------------------------------------------------ patients

    def needs_fetch(self, patient_id: str) -> bool:
        """Whether a study of the patient is on the PACS and not in the cache yet."""
        return any(not tp.local for tp in self._need().plan(patient_id))

    def fetch(
        self,
        patient_id: str,
        progress: Callable[[Any], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Path]:
        """Pull the patient's PACS studies into the cohort cache (worker thread)."""
        return self._need().fetch(patient_id, progress=progress, should_stop=should_stop)

    def prepare(self, patient_id: str) -> PreparedPatient:
        """Read the patient's saved reading (or a new one with its time points) and
        the proposed series of each time point (worker thread: no napari calls)."""
        wl = self._need()
        reading = wl.load_reading(patient_id, self.reader)
        out = PreparedPatient(patient_id, reading, wl.reading_path(patient_id, self.reader))
        out.notes += list(reading.load_notes)
        for choice in wl.series_to_open(patient_id):
            info = choice.info
            if not choice.proposed:
                out.others.append(
                    f"{choice.timepoint}: #{info.series_number} {info.series_description}"
                )
                continue
            out.assign[info.series_instance_uid] = choice.timepoint
            loaded = load_study(info.folder, only={info.series_instance_uid})
            out.layers += loaded.layers
            out.problems += loaded.problems
            out.notes += loaded.notes
        return out

    def show(self, prepared: PreparedPatient) -> list[str]:
        """Make the prepared patient the session's reading (UI thread)."""
        self.save_current()
        s = self.session
        added = s.start_patient(
            prepared.reading, prepared.csv_path, prepared.layers, prepared.assign
        )
        self.current = prepared.patient_id
        for note in prepared.notes:
            s._notify("warning", note)
        if prepared.others:
            s._notify(
                "info",
                "Not opened (not proposed for their time point): " + "; ".join(prepared.others),
            )
        return added

    def open_patient(self, patient_id: str) -> PreparedPatient:
        """Save the current patient, then open ``patient_id`` (fetching it when needed)."""
        self.save_current()
        if self.needs_fetch(patient_id):
            self.fetch(patient_id)
        prepared = self.prepare(patient_id)
        self.show(prepared)
        return prepared

    def next_entry(self) -> Entry | None:
        """The reader's next unfinished patient after the current one (None: all done)."""
        self._need().reload()
        return self._need().next_patient(self.reader, after=self.current)

    def next_patient(self) -> Entry | None:
        """Save, then open the next unfinished patient (None when every one is finished)."""
        e = self.next_entry()
        if e is not None:
            self.open_patient(e.patient_id)
        return e

    # ------------------------------------------------------------------ saving, status

    def _reading_is_current(self) -> bool:
        s = self.session
        return (
            self.wl is not None
            and self.current is not None
            and s.reading.patient_id == self.current
            and s.csv_path is not None
            and Path(s.csv_path) == self._need().reading_path(self.current, self.reader)
        )

    def save_current(self) -> Path | None:
        """Save the current patient's reading through the worklist (CSV with
        ``signed_at``, sidecar; status in_progress). None when no patient is open."""
        if not self._reading_is_current():
            return None
        s = self.session
        s.flush()
        return self._need().save_reading(s.reading, self.reader)

    def mark_done(self) -> Entry:
        """Save and mark the current patient done."""
        if self.save_current() is None:
            raise RecistError("no worklist patient is open")
        return self._need().mark(self.current, self.reader, "done")  # type: ignore[arg-type]

    def sign(self, timepoint: str | None = None) -> Entry | None:
        """Sign a time point (None: the whole patient) of the session's reading: locked
        from now on; the CSV records ``signed_at``. For a worklist patient the row
        becomes ``signed`` when every time point is (returned; None outside a cohort)."""
        s = self.session
        cohort = self.save_current() is not None
        if not cohort:
            s.flush()
        s.signing.sign(s.reading, timepoint)
        s._after_change()
        if not cohort:
            return None
        self.save_current()
        return self._need().entry(self.current, self.reader)  # type: ignore[arg-type]
