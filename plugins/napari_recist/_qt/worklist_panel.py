"""The worklist panel (``recist.worklist``): a cohort's patients for this reader.

*Open cohort…* opens ``COHORT_DIR`` (``recist-tool worklist init`` made it). The
table lists the reader's patients with status, time points and signature time; the
header says ``n of N finished``; status check boxes and a text field filter it.
*Next patient* (Alt+→ anywhere in the window) or a double-click saves the current
reading and opens the patient — pulled from the PACS into the cohort cache first
when needed, in a worker thread with a progress bar — with its time points assigned.
*Mark done*, *Sign time point* (the current one) and *Sign patient* act on the
current patient. A thin Qt view over
:class:`napari_recist._worklist.WorklistController`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from napari_recist._qt.pacs_dialog import error_text
from napari_recist._qt.panels import MessagePanel, button
from napari_recist._qt.tables import make_table, set_rows
from napari_recist._worklist import STATUSES, PreparedPatient, WorklistController
from recist_tool.errors import RecistError

STATUS_COLORS = {
    k: QColor(v)
    for k, v in {"in_progress": "#d68910", "done": "#1e8449", "signed": "#1f618d"}.items()
}


def choose_cohort(parent: QWidget) -> str:
    """Ask for a cohort folder (tests replace this); "" when cancelled."""
    return QFileDialog.getExistingDirectory(parent, "Open a cohort folder (worklist)")


class _Relay(QObject):
    progress = Signal(int, int)


class WorklistPanel(QWidget):
    """The worklist of the session's reader (see the module).

    Parameters
    ----------
    session : ReadingSession
    notify : callable
        ``notify(severity, text)``: the widget's message panel (shown in this panel too).
    problems : callable, optional
        ``problems(list)``: series that could not be loaded (the widget's panel).
    opened : callable, optional
        Called once a patient is shown (the widget brings its reading tab forward).
    """

    def __init__(
        self,
        session: Any,
        notify: Callable[[str, str], None],
        problems: Callable[[list], None] | None = None,
        opened: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("recist.worklist")
        self._opened = opened or (lambda: None)
        self.session = session
        self.ctl = WorklistController(session)
        self.messages = MessagePanel("worklist_messages")

        def both(severity: str, text: str) -> None:
            # in this tab too: the reading's messages are behind it
            self.messages.add(severity, text)
            notify(severity, text)

        self._notify = both
        self._problems = problems or (lambda found: None)
        self.worker: Any = None
        self._stop = threading.Event()
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._ids: list[str] = []
        #: Seconds the last patient switch took (save + open), for the benchmark.
        self.last_switch_s = 0.0
        self._build()
        self.refresh()

    def _build(self) -> None:
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        self.open_btn = button("Open cohort…", "worklist_open", "Open a COHORT_DIR")
        self.open_btn.clicked.connect(self._choose)
        row.addWidget(self.open_btn)
        self.cohort_label = QLabel("No cohort open")
        self.cohort_label.setObjectName("recist.worklist_cohort")
        self.cohort_label.setStyleSheet("color: gray")
        row.addWidget(self.cohort_label, 1)
        col.addLayout(row)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("recist.worklist_progress")
        self.progress_label.setStyleSheet("font-weight: bold")
        col.addWidget(self.progress_label)
        row = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("recist.worklist_filter")
        self.filter_edit.setPlaceholderText("filter patient ID")
        self.filter_edit.textChanged.connect(lambda *_: self.refresh())
        row.addWidget(self.filter_edit, 1)
        self.status_boxes: dict[str, QCheckBox] = {}
        for status in STATUSES:
            b = QCheckBox(status.replace("_", " "))
            b.setObjectName(f"recist.worklist_status_{status}")
            b.setChecked(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.toggled.connect(lambda *_: self.refresh())
            row.addWidget(b)
            self.status_boxes[status] = b
        col.addLayout(row)
        self.table = make_table(("Patient", "Status", "Time points", "Signed at"), stretch=2)
        self.table.setObjectName("recist.worklist_table")
        self.table.setToolTip("Double-click a patient to read them (the current one is saved)")
        self.table.doubleClicked.connect(self._on_double_click)
        col.addWidget(self.table, 1)
        self.bar = QProgressBar()
        self.bar.setObjectName("recist.worklist_fetch")
        self.bar.setVisible(False)
        self.stop_btn = button("Stop", "worklist_stop", "Stop pulling (what was pulled stays)")
        self.stop_btn.clicked.connect(self.stop)
        self.stop_btn.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.stop_btn)
        col.addLayout(row)
        grid = QHBoxLayout()
        self.next_btn = button(
            "Next patient (Alt+→)",
            "next_patient",
            "Save this reading, open the next unfinished patient",
        )
        self.next_btn.clicked.connect(self.next_patient)
        self.done_btn = button("Mark done", "mark_done", "Save and mark this patient done")
        self.done_btn.clicked.connect(self.mark_done)
        grid.addWidget(self.next_btn)
        grid.addWidget(self.done_btn)
        col.addLayout(grid)
        grid = QHBoxLayout()
        self.sign_tp_btn = button(
            "Sign time point",
            "sign_timepoint",
            "Sign the current time point: locked; a change afterwards asks for a reason",
        )
        self.sign_tp_btn.clicked.connect(lambda: self.sign(self.session.current_tp))
        self.sign_pt_btn = button("Sign patient", "sign_patient", "Sign every time point")
        self.sign_pt_btn.clicked.connect(lambda: self.sign(None))
        grid.addWidget(self.sign_tp_btn)
        grid.addWidget(self.sign_pt_btn)
        col.addLayout(grid)
        self.signed_label = QLabel("")
        self.signed_label.setObjectName("recist.signed")
        self.signed_label.setWordWrap(True)
        col.addWidget(self.signed_label)
        col.addWidget(self.messages)

    # ------------------------------------------------------------------ cohort

    def _choose(self) -> None:
        folder = choose_cohort(self)
        if folder:
            self.open_cohort(folder)

    def open_cohort(self, folder: str) -> bool:
        """Open a cohort folder; False (and a message) when it cannot be."""
        try:
            wl = self.ctl.open(folder)
        except RecistError as exc:
            self._notify("error", str(exc))
            return False
        self.cohort_label.setText(f"{wl.root} · reader {self.ctl.reader}")
        self.refresh()
        return True

    @property
    def busy(self) -> bool:
        """Whether a patient is being opened."""
        return self.worker is not None

    def refresh(self) -> None:
        """Show the worklist's rows, progress and the sign-off state."""
        s = self.session
        tp = s.current_tp
        signed = s.signing.signed_at(tp)
        has_reading = s.save_path is not None and tp is not None
        self.sign_tp_btn.setEnabled(has_reading and not signed)
        self.sign_pt_btn.setEnabled(has_reading)
        if has_reading:
            state = [
                f"{t.label}: signed {s.signing.signed_at(t.label)} (locked)"
                if s.signing.is_signed(t.label)
                else f"{t.label}: not signed"
                for t in s.reading.timepoints
            ]
            self.signed_label.setText(" · ".join(state))
        else:
            self.signed_label.setText("")
        wl = self.ctl.wl
        self.next_btn.setEnabled(wl is not None and not self.busy)
        self.done_btn.setEnabled(wl is not None and self.ctl.current is not None)
        if wl is None:
            self.progress_label.setText("")
            set_rows(self.table, [])
            self._ids = []
            return
        want = {st for st, b in self.status_boxes.items() if b.isChecked()}
        try:
            rows = self.ctl.rows(want, self.filter_edit.text())
            self.progress_label.setText(self.ctl.progress_text())
        except RecistError as exc:
            self._notify("error", str(exc))
            return
        data, colors = [], []
        for e in rows:
            mark = "▶ " if e.patient_id == self.ctl.current else ""
            data.append(
                [
                    mark + e.patient_id,
                    e.status.replace("_", " "),
                    ", ".join(f"{lb} {d}" for lb, d in e.timepoints),
                    e.signed_at,
                ]
            )
            colors.append([None, STATUS_COLORS.get(e.status), None, None])
        set_rows(self.table, data, colors)
        self._ids = [e.patient_id for e in rows]

    # ------------------------------------------------------------------ patients

    def _on_double_click(self, index: Any) -> None:
        if 0 <= index.row() < len(self._ids):
            self.open_patient(self._ids[index.row()])

    def next_patient(self) -> None:
        """Save, then open the reader's next unfinished patient (Alt+→)."""
        if self.ctl.wl is None:
            self._notify("warning", "Open a cohort first (Worklist › Open cohort…)")
            return
        if self.busy:
            return
        e = self.ctl.next_entry()
        if e is None:
            self._notify("info", "Every patient of your worklist is finished.")
            self.refresh()
            return
        self.open_patient(e.patient_id)

    def open_patient(self, patient_id: str) -> None:
        """Save the current reading, then open ``patient_id`` (files read in a worker)."""
        import time

        if self.busy:
            return
        self._t0 = time.perf_counter()
        try:
            self.ctl.save_current()
            fetch = self.ctl.needs_fetch(patient_id)
        except RecistError as exc:
            self._notify("error", str(exc))
            return
        self._stop.clear()
        if fetch:
            self.bar.setVisible(True)
            self.stop_btn.setVisible(True)
            self.bar.setRange(0, 0)
        worker = create_worker(
            self._prepare, patient_id, fetch, _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(self._on_prepared)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.refresh()
        worker.start()

    def _prepare(self, patient_id: str, fetch: bool) -> PreparedPatient:
        if fetch:
            self.ctl.fetch(
                patient_id,
                progress=lambda p: self._relay.progress.emit(p.done, p.total),
                should_stop=self._stop.is_set,
            )
        return self.ctl.prepare(patient_id)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        self.bar.setFormat("pulling from the PACS: %v of %m images")

    def _on_prepared(self, prepared: PreparedPatient) -> None:
        import time

        try:
            self.ctl.show(prepared)
        except RecistError as exc:
            self._notify("error", str(exc))
            return
        self._problems(prepared.problems)
        self.last_switch_s = time.perf_counter() - self._t0
        self._opened()

    def _on_error(self, exc: BaseException) -> None:
        from recist_tool.pacs import PullCancelled

        if isinstance(exc, PullCancelled):
            self._notify("info", "Stopped: what was pulled stays in the cache (open it again).")
        else:
            self._notify("error", error_text(exc))

    def _on_finished(self) -> None:
        self.worker = None
        self.bar.setVisible(False)
        self.stop_btn.setVisible(False)
        self.refresh()

    def stop(self) -> None:
        """Stop a running fetch (between instances)."""
        self._stop.set()

    # ------------------------------------------------------------------ status

    def mark_done(self) -> None:
        """Save and mark the current patient done."""
        try:
            self.ctl.mark_done()
        except RecistError as exc:
            self._notify("error", str(exc))
        else:
            r = self.session.reading
            left = [
                f"{tp.label}: {', '.join(ids)}"
                for tp in r.timepoints
                if (ids := r.still_to_assess(tp.label))
            ]
            if left:
                self._notify(
                    "warning",
                    f"{r.patient_id} marked done with lesions still to assess "
                    f"({'; '.join(left)}): it cannot be signed until they are",
                )
        self.refresh()

    def sign(self, timepoint: str | None) -> None:
        """Sign a time point (None: the patient)."""
        try:
            self.ctl.sign(timepoint)
        except RecistError as exc:
            self._notify("error", str(exc))
            return
        what = f"time point {timepoint}" if timepoint else "every time point"
        self._notify("info", f"Signed {what}: a change there now asks for a reason.")
        self.refresh()
