"""The *Open from PACS…* dialog (``recist.open_pacs``).

Fields: the server's DICOMweb URL (remembered in the settings), patient ID (``*`` and
``?`` wildcards), study date from/to, modality. *Search* and *Open* run in napari
worker threads (:func:`napari.qt.threading.create_worker`); the table lists the
studies found, a click on a study lists its series, *Open* pulls the chosen studies'
series of the modality into the cache with a progress bar and *Cancel*, then opens
each study folder through the widget's normal open path (time points by date).
Errors (server down, 401, bad date) are shown as the core words them, reason first,
without a traceback. Every control has an ``objectName`` ``recist.pacs_<what>``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, QSettings, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from napari_recist import _pacs_open as pacs
from napari_recist._qt.tables import fmt, make_table, set_rows
from recist_tool.errors import RecistError

_SETTINGS = ("recist-tool", "napari-recist")


def error_text(exc: BaseException) -> str:
    """What the reader reads for a failure: the core's message (no traceback)."""
    if isinstance(exc, RecistError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Relay(QObject):
    """Carries progress from a worker thread to the dialog (queued connection)."""

    progress = Signal(int, int, str)


class PacsDialog(QDialog):
    """Search a PACS and open studies from it (see the module).

    Parameters
    ----------
    open_folder : callable
        ``open_folder(path)``: the widget's normal open path.
    cache_dir : callable, optional
        Returns the cache folder (default :func:`napari_recist._pacs_open.default_cache_dir`).
    parent : QWidget, optional
    """

    def __init__(
        self,
        open_folder: Callable[[Path], Any],
        cache_dir: Callable[[], Path] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("recist.pacs_dialog")
        self.setWindowTitle("Open from PACS")
        self._open_folder = open_folder
        self._cache_dir = cache_dir or pacs.default_cache_dir
        self.studies: list[Any] = []
        self.worker: Any = None
        self._stop = threading.Event()
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self.opened: list[Path] = []
        self._build()

    # ------------------------------------------------------------------ layout

    def _edit(self, name: str, text: str = "", placeholder: str = "") -> QLineEdit:
        e = QLineEdit(text)
        e.setObjectName(f"recist.pacs_{name}")
        e.setPlaceholderText(placeholder)
        return e

    def _button(self, text: str, name: str, tip: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(f"recist.pacs_{name}")
        b.setToolTip(tip)
        b.setAutoDefault(False)
        return b

    def _build(self) -> None:
        settings = QSettings(*_SETTINGS)
        form = QFormLayout()
        self.url = self._edit(
            "url", str(settings.value("pacs_url", "") or ""), "http://host:8042/dicom-web"
        )
        self.url.setToolTip(
            "DICOMweb root. Credentials: RECIST_PACS_USER / RECIST_PACS_PASSWORD or "
            "RECIST_PACS_TOKEN, or ~/.config/recist-tool/pacs.toml"
        )
        self.patient = self._edit("patient", "", "patient ID (* and ? wildcards)")
        self.date_from = self._edit("date_from", "", "YYYY-MM-DD")
        self.date_to = self._edit("date_to", "", "YYYY-MM-DD")
        self.modality = self._edit("modality", "CT")
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        form.addRow("Server URL", self.url)
        form.addRow("Patient ID", self.patient)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality)
        self.search_btn = self._button("Search", "search", "Search studies (QIDO-RS)")
        self.search_btn.setDefault(True)
        self.search_btn.clicked.connect(self.search)
        for e in (self.url, self.patient, self.date_from, self.date_to, self.modality):
            e.returnPressed.connect(self.search)
        self.table = make_table(
            ("Patient", "Date", "Modalities", "Description", "Series", "Images"), stretch=3
        )
        self.table.setObjectName("recist.pacs_results")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(lambda *_: self.open_selected())
        self.series_label = QLabel("")
        self.series_label.setObjectName("recist.pacs_series")
        self.series_label.setWordWrap(True)
        self.series_label.setStyleSheet("color: gray")
        self.progress = QProgressBar()
        self.progress.setObjectName("recist.pacs_progress")
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("recist.pacs_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cache_label = QLabel(f"Cache: {self._cache_dir()}")
        self.cache_label.setObjectName("recist.pacs_cache")
        self.cache_label.setStyleSheet("color: gray")
        self.open_btn = self._button(
            "Open", "open", "Pull the selected studies' series into the cache and open them"
        )
        self.open_btn.setEnabled(False)
        self.open_btn.clicked.connect(self.open_selected)
        self.cancel_btn = self._button("Close", "cancel", "Stop the search or pull; else close")
        self.cancel_btn.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.search_btn)
        buttons.addStretch(1)
        buttons.addWidget(self.open_btn)
        buttons.addWidget(self.cancel_btn)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addLayout(buttons)
        col.addWidget(self.table, 1)
        col.addWidget(self.series_label)
        col.addWidget(self.progress)
        col.addWidget(self.status)
        col.addWidget(self.cache_label)
        self.resize(760, 520)

    # ------------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        """Whether a search or pull is running."""
        return self.worker is not None

    def _set_busy(self, worker: Any, text: str) -> None:
        self.worker = worker
        self.cancel_btn.setText("Cancel" if worker is not None else "Close")
        self.search_btn.setEnabled(worker is None)
        self.open_btn.setEnabled(worker is None and bool(self._selected()))
        if text:
            self.show_status(text)

    def show_status(self, text: str, error: bool = False) -> None:
        """One line (or a paragraph) for the reader; errors in red."""
        self.status.setStyleSheet("color: #c0392b" if error else "")
        self.status.setText(text)

    def _run(self, fn: Callable[..., Any], done: Callable[[Any], None], text: str, *args) -> None:
        self._stop.clear()
        worker = create_worker(fn, *args, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(done)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._set_busy(None, ""))
        self._set_busy(worker, text)
        worker.start()

    def _on_error(self, exc: BaseException) -> None:
        from recist_tool.pacs import PullCancelled

        self.progress.setVisible(False)
        if isinstance(exc, PullCancelled):
            self.show_status("Cancelled: what was pulled stays in the cache (Open resumes).")
        else:
            self.show_status(error_text(exc), error=True)

    def cancel(self) -> None:
        """Stop the running pull (between instances) or close the dialog."""
        if self.busy:
            self._stop.set()
            self.show_status("Cancelling…")
        else:
            self.reject()

    def closeEvent(self, event: Any) -> None:
        self._stop.set()
        super().closeEvent(event)

    # ------------------------------------------------------------------ search

    def query(self) -> pacs.Query:
        """The fields as a :class:`~napari_recist._pacs_open.Query`."""
        return pacs.Query(
            self.url.text().strip(),
            self.patient.text().strip(),
            self.date_from.text().strip(),
            self.date_to.text().strip(),
            self.modality.text().strip(),
        )

    def search(self) -> None:
        """Search the server (worker thread); the table fills when it answers."""
        if self.busy:
            return
        q = self.query()
        if q.url:
            QSettings(*_SETTINGS).setValue("pacs_url", q.url)
        self.series_label.setText("")
        self._run(pacs.search, self._on_found, f"Searching {q.url} …", q)

    def _on_found(self, studies: list[Any]) -> None:
        self.studies = list(studies)
        rows = [
            [
                s.patient_id,
                s.study_date,
                "/".join(s.modalities),
                s.description,
                fmt(s.series_count),
                fmt(s.instance_count),
            ]
            for s in self.studies
        ]
        set_rows(self.table, rows, tooltips=[s.study_uid for s in self.studies])
        n = len(self.studies)
        self.show_status(
            f"{n} stud{'y' if n == 1 else 'ies'} found. Select one (or several of one patient: "
            "baseline and follow-up) and Open."
            if n
            else "No study matches."
        )

    def _selected(self) -> list[Any]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.studies[r] for r in rows if r < len(self.studies)]

    def _on_selection(self) -> None:
        chosen = self._selected()
        self.open_btn.setEnabled(not self.busy and bool(chosen))
        if len(chosen) == 1 and not self.busy:
            uid = chosen[0].study_uid
            self._run(
                pacs.list_series,
                lambda found, u=uid: self._on_series(u, found),
                "",
                self.query().url,
                uid,
            )

    def _on_series(self, study_uid: str, series: list[Any]) -> None:
        chosen = self._selected()
        if len(chosen) != 1 or chosen[0].study_uid != study_uid:
            return
        mod = self.query().modality.upper()
        parts = [
            f"#{fmt(s.series_number)} {s.modality} {s.description or ''} ({fmt(s.instance_count)})"
            + ("" if not mod or s.modality == mod else " – not opened")
            for s in series
        ]
        self.series_label.setText("Series: " + "; ".join(parts))

    # ------------------------------------------------------------------ open

    def open_selected(self) -> None:
        """Pull the selected studies into the cache (worker thread), then open them."""
        chosen = self._selected()
        if self.busy or not chosen:
            return
        patients = {s.patient_id for s in chosen}
        if len(patients) > 1:
            self.show_status(
                "Choose studies of one patient (a reading holds one patient).", error=True
            )
            return
        q = self.query()
        cache = self._cache_dir()
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        uids = [s.study_uid for s in chosen]
        self._run(self._pull_all, self._on_pulled, "Pulling into the cache …", q, uids, cache)

    def _pull_all(self, q: pacs.Query, uids: list[str], cache: Path) -> list[Path]:
        folders = []
        for i, uid in enumerate(uids):

            def report(p: Any, i: int = i) -> None:
                self._relay.progress.emit(p.done, p.total, f"study {i + 1} of {len(uids)}")

            folders.append(
                pacs.pull(
                    q.url,
                    uid,
                    cache,
                    modality=q.modality or None,
                    progress=report,
                    should_stop=self._stop.is_set,
                )
            )
        return folders

    def _on_progress(self, done: int, total: int, what: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{what}: %v of %m images")

    def _on_pulled(self, folders: list[Path]) -> None:
        self.progress.setVisible(False)
        self.show_status("Opening from the cache …")
        for folder in folders:
            self._open_folder(folder)
            self.opened.append(Path(folder))
        self.show_status(f"Opened {len(folders)} stud{'y' if len(folders) == 1 else 'ies'}.")
        self.accept()
