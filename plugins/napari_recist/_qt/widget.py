"""The "RECIST measurement" dock widget: a Qt view over :class:`ReadingSession`.

Everything shown comes from the session (and through it from the core); the widget
turns clicks and keys into session calls, shows the session's messages, the series
that could not be loaded with the loader's choices, the lesions with their checks
and the engine's response with its reason. It owns the Qt parts the session cannot:
the comparison canvas (:mod:`napari_recist._qt.compare`), application-level
shortcuts (:mod:`napari_recist._qt.keys`) and right-drag window/level
(:mod:`napari_recist._qt.canvas`). Every control has an ``objectName``
``recist.<action>``; buttons never take the keyboard focus, so the arrow keys keep
paging slices after a click.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from napari.qt import QtViewer
from qtpy.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from napari_recist._layers import WINDOWS
from napari_recist._loading import LoadedStudy, SeriesProblem
from napari_recist._qt.assist import AssistPanel, thread_runner
from napari_recist._qt.canvas import AfterFirstPaint, WindowLevelDrag
from napari_recist._qt.compare import ComparisonPane
from napari_recist._qt.keys import ShortcutFilter
from napari_recist._qt.pacs_dialog import PacsDialog
from napari_recist._qt.panels import (
    SEVERITY_HTML,
    MessagePanel,
    ProblemPanel,
    ancestor,
    button,
    esc,
    response_html,
)
from napari_recist._qt.tables import KIND_COLORS, SEVERITY_COLORS, fmt, make_table, set_rows
from napari_recist._qt.vispy_fixes import install as install_vispy_fixes
from napari_recist._session import DEFAULT_ORGANS, READER_ENV, ReadingSession

KIND_NAMES = {"target": "Target", "non_target": "Non-target", "new": "New"}
STATUS_NAMES = {
    "measured": "measured",
    "too_small": "too small",
    "disappeared": "disappeared",
    "not_evaluated": "not evaluated",
    "present": "present",
    "absent": "absent",
    "progression": "progression",
    "equivocal": "equivocal",
    "equivocal_progression": "equivocal progression",
}
#: Status buttons (status, label) in display order.
STATUS_BUTTONS = (
    ("too_small", "Too small"),
    ("disappeared", "Disappeared"),
    ("not_evaluated", "Not evaluated"),
    ("present", "Present"),
    ("absent", "Absent"),
    ("progression", "Progression"),
    ("equivocal", "Equivocal"),
)
#: The keys of the status buttons (see ``RecistWidget._shortcuts``).
STATUS_KEYS = {
    "too_small": "Alt+M",
    "disappeared": "Alt+0",
    "absent": "Alt+0",
    "not_evaluated": "Alt+E",
    "present": "Alt+I",
    "progression": "Alt+U",
}
ORGANS_ENV = "RECIST_ORGANS"
TIMEPOINT_CHOICES = ("", "baseline", "FU1", "FU2", "FU3", "FU4", "FU5", "FU6")
_SETTINGS = ("recist-tool", "napari-recist")


def _size(f: Any, axis: str, counts: str) -> str:
    """A finding's axis for the lesion table. A lesion that split: the axis that
    counts (``counts``) of its parts added up (the engine's size) and how many parts
    (the row's tooltip lists them); the other axis is not a size of the lesion (—)."""
    if f is None:
        return fmt(None)
    if not f.fragments:
        return fmt(f.long_mm if axis == "long" else f.short_mm)
    if axis != counts:
        return "—"
    return f"{fmt(f.added_up(axis))} ({1 + len(f.fragments)})"


def choose_output_folder(parent: QWidget, title: str, start: str = "") -> str:
    """Ask for an output folder (tests replace this); "" when cancelled."""
    return QFileDialog.getExistingDirectory(parent, title, start)


def confirm(parent: QWidget, title: str, text: str) -> bool:
    """Ask a yes/no question (default no)."""
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def button_status(kind: str, status: str) -> str:
    """The status a status button gives a lesion of ``kind``: *Equivocal* is a
    non-target's equivocal progression (the engine dates a progression confirmed
    later back to it, RECIST 1.1 §4.4.4), a new lesion's equivocal new lesion."""
    return "equivocal_progression" if kind == "non_target" and status == "equivocal" else status


def status_for(kind: str, status: str) -> str:
    """The status a key gives a lesion of ``kind``: as :func:`button_status`, and
    Alt+0 (*disappeared*) is a non-target's or new lesion's *absent*."""
    if kind != "target" and status == "disappeared":
        return "absent"
    return button_status(kind, status)


def choose_item(parent: QWidget, title: str, text: str, items: list[str]) -> str | None:
    """Ask for one of ``items`` (tests replace this); None when cancelled."""
    item, ok = QInputDialog.getItem(parent, title, text, items, 0, False)
    return item if ok and item else None


def ask_reader(parent: QWidget, default: str) -> str | None:
    """Ask the reader's name once (None when cancelled)."""
    name, ok = QInputDialog.getText(
        parent,
        "Reader",
        "Your name, as it goes into the 'reader' column and the audit trail:",
        QLineEdit.EchoMode.Normal,
        default,
    )
    return name.strip() if ok and name.strip() else None


def ask_change_reason(parent: QWidget, message: str) -> str | None:
    """Ask why a signed time point is changed (None when cancelled)."""
    dlg = QInputDialog(parent)
    dlg.setObjectName("recist.reason_dialog")
    dlg.setWindowTitle("Signed time point: reason for the change")
    dlg.setLabelText(message + "\n\nReason (goes into the audit trail):")
    dlg.setInputMode(QInputDialog.InputMode.TextInput)
    if not dlg.exec_():
        return None
    return dlg.textValue().strip() or None


def organ_list() -> list[str]:
    """Organs offered in the form: ``$RECIST_ORGANS`` (comma-separated) or defaults."""
    env = os.environ.get(ORGANS_ENV, "")
    names = [o.strip() for o in env.split(",") if o.strip()]
    return names or list(DEFAULT_ORGANS)


def _later(fn: Callable[[], None]) -> None:
    QTimer.singleShot(0, fn)


def _dock_of(widget: QWidget) -> QDockWidget | None:
    return ancestor(widget, QDockWidget)


class RecistWidget(QWidget):
    """Dock widget: reader, study and time points, lesions, checks, response.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    readings_dir : path-like, optional
        Default folder for autosaved readings (see :class:`ReadingSession`).
    """

    def __init__(self, napari_viewer: Any, readings_dir: str | None = None) -> None:
        super().__init__()
        self.setObjectName("recist.widget")
        install_vispy_fixes()  # no shader re-link per slice step (vispy#2568)
        self.viewer = napari_viewer
        settings = QSettings(*_SETTINGS)
        stored = str(settings.value("reader", "") or "")
        self._reader_known = bool(os.environ.get(READER_ENV) or stored)
        self.session = ReadingSession(
            napari_viewer,
            readings_dir=readings_dir,
            reader=os.environ.get(READER_ENV) or stored or None,
            defer=_later,
        )
        self._export_dir = ""
        self.compare_pane: ComparisonPane | None = None
        self.adjudication: Any = None  # the adjudicator's dock (open_adjudication)
        self._compare_dock: QDockWidget | None = None
        self._hidden_docks: list[QDockWidget] = []
        self._main_wl: WindowLevelDrag | None = None
        self._warm_up: AfterFirstPaint | None = None
        self._shown_tp: str | None = None
        self.worklist_panel: Any = None
        self.pacs_dialog: PacsDialog | None = None
        self.session.signing.ask_reason = lambda msg, tps: ask_change_reason(self, msg)
        self.session.assist.runner = thread_runner  # proposals, registration: workers
        # a study's pixels are read once the canvas has shown it (see _read_pixels)
        self._after_paint: list[AfterFirstPaint] = []
        self.session.when_drawn = self._when_drawn
        self._stream_failures = _FromThread()
        self._stream_failures.fired.connect(self.session.stream_failed)
        self.session.on_stream_failed = self._stream_failures.fired.emit
        # what the autosave's writer has to say (a CSV changed by another program) is
        # shown at once, not with the next change
        self._save_reports = _FromThread()
        self._save_reports.fired.connect(self.session._notify)
        self.session.persist.saver.on_report = lambda text: self._save_reports.fired.emit(
            "error", text
        )
        self.session.assist.prefetch = True
        self._build()
        self.keys = ShortcutFilter(self._windows)
        self.shortcuts = self._shortcuts()
        for seq, (desc, fn) in self.shortcuts.items():
            self.keys.bind(seq, desc, fn)
        a = self.session.assist
        for seq in ("Return", "Enter"):  # only while there is a proposal to accept / offer
            self.keys.bind(seq, "accept / offer a proposal", a.enter, when=a.can_enter)
        self.keys.bind("Esc", "reject the proposal", a.reject, when=lambda: a.has_pending)
        self.keys.install()
        self.session.changed.connect(self.refresh)
        self.session.live.connect(self._on_live)
        self.session.notice.connect(self.messages.add)
        session, keys = self.session, self.keys
        self.destroyed.connect(lambda *_: _teardown(session, keys))
        self._closer = _CloseWatcher(self.shutdown)
        self.refresh()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.addWidget(self._build_study())
        col.addWidget(self._build_lesions())
        col.addWidget(self._build_saving())
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.messages = MessagePanel()
        self.problems = ProblemPanel(self._load_choice)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.messages)
        outer.addWidget(self.problems)
        outer.addWidget(scroll, 1)
        # The response and why stay in sight: pinned below the scrolling part.
        outer.addWidget(self._build_response())
        self.cursor_label = QLabel()
        self.cursor_label.setObjectName("recist.cursor")
        self.cursor_label.setStyleSheet("color: gray")
        outer.addWidget(self.cursor_label)
        self.setMinimumWidth(400)

    def _build_study(self) -> QGroupBox:
        box = QGroupBox("1. Reader, study and time points")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Reader:"))
        self.reader_edit = QLineEdit(self.session.reader)
        self.reader_edit.setObjectName("recist.reader")
        self.reader_edit.setToolTip("Written to the 'reader' column and every audit line")
        self.reader_edit.editingFinished.connect(self._on_reader_edited)
        row.addWidget(self.reader_edit, 1)
        lay.addLayout(row)
        row = QGridLayout()
        self.open_btn = button("Open study…", "open_study", "Open a DICOM study folder")
        self.open_btn.clicked.connect(self._open_folder)
        self.sample_btn = button("Sample", "open_sample", "Open the synthetic sample study")
        self.sample_btn.clicked.connect(self.open_sample)
        self.load_btn = button("Open reading…", "open_reading", "Continue a saved reading")
        self.load_btn.clicked.connect(self._open_reading)
        self.saveas_btn = button("Save as…", "save_as", "Save the reading to another file")
        self.saveas_btn.clicked.connect(self._save_as)
        for i, b in enumerate((self.open_btn, self.sample_btn, self.load_btn, self.saveas_btn)):
            row.addWidget(b, 0, i)
        self.pacs_btn = button(
            "Open from PACS…", "open_pacs", "Search a DICOMweb server, pull studies, open them"
        )
        self.pacs_btn.clicked.connect(self.open_pacs)
        self.worklist_btn = button(
            "Worklist…", "open_worklist", "The cohort's patients, Next patient (Alt+→), sign-off"
        )
        self.worklist_btn.clicked.connect(lambda *_: self.show_worklist())
        row.addWidget(self.pacs_btn, 1, 0, 1, 2)
        row.addWidget(self.worklist_btn, 1, 2, 1, 2)
        self.adjudicate_btn = button(
            "Adjudicate a cohort…",
            "adjudicate",
            "Open a double-read cohort (COHORT_DIR) as adjudicator: both readers' readings "
            "of each discordant patient, read-only, and the decision",
        )
        self.adjudicate_btn.clicked.connect(lambda: self.open_adjudication())
        row.addWidget(self.adjudicate_btn, 2, 0, 1, 4)
        lay.addLayout(row)
        self.patient_label = QLabel()
        self.patient_label.setObjectName("recist.patient")
        self.patient_label.setWordWrap(True)
        self.patient_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.patient_label)
        self.series_table = make_table(("Series", "Study date", "Time point"))
        self.series_table.setObjectName("recist.series")
        self.series_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.series_table.setToolTip("Click a series to show it for its time point")
        self.series_table.itemSelectionChanged.connect(self._on_series_clicked)
        self._series_combos: dict[str, QComboBox] = {}
        self.series_table.setMaximumHeight(95)
        lay.addWidget(self.series_table)
        row = QHBoxLayout()
        row.addWidget(QLabel("Current:"))
        self.tp_combo = QComboBox()
        self.tp_combo.setObjectName("recist.current_timepoint")
        self.tp_combo.setToolTip("The time point you read: shown in napari's canvas; edits go here")
        self.tp_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.tp_combo.activated.connect(self._on_tp_chosen)
        row.addWidget(self.tp_combo, 1)
        row.addWidget(QLabel("date"))
        self.tp_date = QLineEdit()
        self.tp_date.setObjectName("recist.timepoint_date")
        self.tp_date.setPlaceholderText("YYYY-MM-DD")
        self.tp_date.setMaximumWidth(95)
        self.tp_date.editingFinished.connect(self._on_date_edited)
        row.addWidget(self.tp_date)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.compare_box = QCheckBox("Comparison pane (Alt+G)")
        self.compare_box.setObjectName("recist.compare")
        self.compare_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.compare_box.setToolTip(
            "Another time point beside the current one, in its own canvas (own camera); "
            "slices follow by patient position; read-only unless unlocked"
        )
        self.compare_box.toggled.connect(self._on_compare_toggled)
        row.addWidget(self.compare_box)
        self.link_zoom_box = QCheckBox("link zoom")
        self.link_zoom_box.setObjectName("recist.link_zoom")
        self.link_pan_box = QCheckBox("link pan")
        self.link_pan_box.setObjectName("recist.link_pan")
        for b, name in ((self.link_zoom_box, "link_zoom"), (self.link_pan_box, "link_pan")):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setChecked(getattr(self.session.view, name))
            b.toggled.connect(lambda on, n=name: setattr(self.session.view, n, on))
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        return box

    def _build_lesions(self) -> QGroupBox:
        box = QGroupBox("2. Lesions")
        self.lesion_box = box
        lay = QVBoxLayout(box)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("recist.kind")
        for kind, name in KIND_NAMES.items():
            self.kind_combo.addItem(name, kind)
        self.kind_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.organ_combo = QComboBox()
        self.organ_combo.setObjectName("recist.organ")
        self.organ_combo.setEditable(True)
        self.organ_combo.addItems(organ_list())
        self.organ_combo.setToolTip("Organ (type any name; the list is $RECIST_ORGANS)")
        self.nodal_box = QCheckBox("node")
        self.nodal_box.setObjectName("recist.nodal")
        self.nodal_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.nodal_box.setToolTip("Lymph node: its short axis counts")
        self.add_btn = button(
            "Add", "add_lesion", "Add a lesion of this kind and organ, then draw it"
        )
        self.add_btn.clicked.connect(self._add_lesion)
        row = QHBoxLayout()
        for w, stretch in ((self.kind_combo, 0), (self.organ_combo, 1), (self.nodal_box, 0)):
            row.addWidget(w, stretch)
        row.addWidget(self.add_btn)
        lay.addLayout(row)
        for w in (self.kind_combo, self.organ_combo, self.nodal_box):
            signal = w.toggled if isinstance(w, QCheckBox) else w.currentTextChanged
            signal.connect(self._sync_form)
        self.kind_combo.activated.connect(lambda *_: self._focus_canvas())
        self.organ_combo.activated.connect(lambda *_: self._focus_canvas())
        self.kind_hint = QLabel()
        self.kind_hint.setObjectName("recist.kind_hint")
        self.kind_hint.setWordWrap(True)
        self.kind_hint.setStyleSheet("color: gray")
        lay.addWidget(self.kind_hint)

        self.lesion_table = make_table(
            ("Lesion", "Organ", "LA mm", "SA mm", "BL mm", "Status", "Checks"), stretch=6
        )
        self.lesion_table.setObjectName("recist.lesions")
        # Organ and checks share the width (elided, full text in the row's tooltip):
        # no horizontal scrollbar hides a lesion's check.
        self.lesion_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.lesion_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.lesion_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.lesion_table.setMinimumHeight(150)
        self.lesion_table.itemSelectionChanged.connect(self._on_lesion_selected)
        lay.addWidget(self.lesion_table)

        self.assist_panel = AssistPanel(self.session.assist)
        lay.addWidget(self.assist_panel)
        self.live_label = QLabel("Length: –")
        self._live_for: str | None = None  # the lesion whose line the label measured
        self.live_label.setObjectName("recist.live_length")
        self.live_label.setStyleSheet("font-weight: bold")
        lay.addWidget(self.live_label)
        grid = QGridLayout()
        self.long_btn = button("Long axis", "draw_long", "Draw the long axis (Alt+A)")
        self.long_btn.clicked.connect(lambda: self.session.arm("long"))
        self.short_btn = button("Short axis", "draw_short", "Draw the short axis (Alt+K)")
        self.short_btn.clicked.connect(lambda: self.session.arm("short"))
        self.point_btn = button("Point", "draw_point", "Mark with a ring (Alt+O)")
        self.point_btn.clicked.connect(lambda: self.session.arm("point"))
        self.delete_btn = button(
            "Delete…", "delete_lesion", "Delete the selected lesion (asks; Ctrl+Z undoes)"
        )
        self.delete_btn.clicked.connect(self._delete_lesion)
        for i, b in enumerate((self.long_btn, self.short_btn, self.point_btn, self.delete_btn)):
            grid.addWidget(b, 0, i)
        self.status_btns = {}
        for i, (status, text) in enumerate(STATUS_BUTTONS):
            key = STATUS_KEYS.get(status)
            tip = f"Selected lesion here: {text.lower()}" + (f" ({key})" if key else "")
            if status == "equivocal":
                tip += (
                    " (a non-target: equivocal progression, a progression confirmed later "
                    "is dated back to it; a new lesion: equivocal new lesion)"
                )
            b = button(text, f"status_{status}", tip)
            b.clicked.connect(lambda _=False, s=status: self._status_button(s))
            grid.addWidget(b, 1 + i // 4, i % 4)
            self.status_btns[status] = b
        self.update_btn = button(
            "Apply kind/organ",
            "apply_kind",
            "Give the selected lesion the kind, organ and node flag above",
        )
        self.update_btn.clicked.connect(self._update_lesion)
        grid.addWidget(self.update_btn, 2, 3)
        self.undo_btn = button("Undo", "undo", "Undo the last change (Ctrl+Z)")
        self.undo_btn.clicked.connect(self.session.undo)
        self.redo_btn = button("Redo", "redo", "Redo (Ctrl+Shift+Z, Ctrl+Y)")
        self.redo_btn.clicked.connect(self.session.redo)
        grid.addWidget(self.undo_btn, 3, 0)
        grid.addWidget(self.redo_btn, 3, 1)
        self.part_btn = button(
            "Add part",
            "add_part",
            "The selected target split: draw another part's long axis (a node's short "
            "axis); the parts' diameters add up (Shift+Alt+A)",
        )
        self.part_btn.clicked.connect(lambda *_: self.session.arm_part())
        grid.addWidget(self.part_btn, 3, 2)
        self.merge_btn = button(
            "Coalesced…",
            "coalesced",
            "The selected target coalesced with another here: it counts 0 mm, and the "
            "other's long axis is the whole lesion's (asks which; Ctrl+Z undoes)",
        )
        self.merge_btn.clicked.connect(lambda *_: self._coalesce())
        grid.addWidget(self.merge_btn, 3, 3)
        lay.addLayout(grid)
        self.assist_panel.sight_below = self.undo_btn  # the lesion's buttons under the status
        self.checks_label = QLabel()
        self.checks_label.setObjectName("recist.checks")
        self.checks_label.setWordWrap(True)
        self.checks_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.checks_label)
        keys = QLabel(
            "Keys (anywhere in the window): wheel / ↑ ↓ / PgUp PgDn slices · Ctrl+wheel zoom · "
            "right-drag window/level · Ctrl+Z undo · Ctrl+Shift+Z or Ctrl+Y redo · "
            "Alt+N next lesion (Shift: previous) · Alt+J next lesion to assess · "
            "Alt+A/K/O long axis, short axis, ring · Shift+Alt+A another part of a "
            "split target · Alt+M too small · "
            "Alt+0 disappeared/absent · Alt+I present · Alt+U progression · Alt+E not evaluated · "
            "Alt+G comparison pane · Alt+→ next patient (worklist) · Alt+1…5 window ("
            + ", ".join(WINDOWS)
            + ") · Alt+click in a lesion: proposed axes, Enter accepts, Esc rejects"
        )
        keys.setObjectName("recist.keys_help")
        keys.setWordWrap(True)
        keys.setStyleSheet("color: gray")
        lay.addWidget(keys)
        return box

    def _build_response(self) -> QGroupBox:
        box = QGroupBox("3. RECIST 1.1 response (computed on every change)")
        lay = QVBoxLayout(box)
        self.response_label = QLabel()
        self.response_label.setObjectName("recist.response")
        self.response_label.setWordWrap(True)
        self.response_label.setTextFormat(Qt.TextFormat.RichText)
        self.response_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.response_label)
        self.general_label = QLabel()
        self.general_label.setObjectName("recist.general_messages")
        self.general_label.setWordWrap(True)
        self.general_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.general_label)
        return box

    def _build_saving(self) -> QGroupBox:
        box = QGroupBox("4. Saving and export")
        lay = QVBoxLayout(box)
        self.save_label = QLabel()
        self.save_label.setObjectName("recist.save_path")
        self.save_label.setWordWrap(True)
        self.save_label.setStyleSheet("color: gray")
        lay.addWidget(self.save_label)
        row = QHBoxLayout()
        self.sr_btn = button(
            "Export DICOM SR…",
            "export_sr",
            "Write one DICOM SR (TID 1500 measurement report) per time point into a folder",
        )
        self.sr_btn.clicked.connect(self._export_sr)
        self.report_btn = button(
            "Patient report…",
            "export_report",
            "Write the patient report (HTML and PDF: lesion table, response, key images)",
        )
        self.report_btn.clicked.connect(self._export_report)
        self.seg_btn = button(
            "Export SEG…",
            "export_seg",
            "Write the segmentations of the assisted measurements as DICOM SEG, with an "
            "SR (TID 1500 volumetric groups) referencing them",
        )
        self.seg_btn.clicked.connect(self._export_seg)
        row.addWidget(self.sr_btn)
        row.addWidget(self.seg_btn)
        row.addWidget(self.report_btn)
        lay.addLayout(row)
        return box

    # ------------------------------------------------------------------ windows, canvas

    def _windows(self) -> list[QWidget]:
        out = [self.window()]
        if self._compare_dock is not None and self._compare_dock.isFloating():
            out.append(self._compare_dock)
        return out

    def main_canvas(self) -> QWidget | None:
        """The Qt widget of napari's canvas (the current pane)."""
        mine = None if self.compare_pane is None else self.compare_pane.qt_viewer
        for qv in self.window().findChildren(QtViewer):
            if qv is not mine:
                return qv.canvas.native
        return None

    def _focus_canvas(self) -> None:
        canvas = self.main_canvas()
        if canvas is not None:
            canvas.setFocus()

    def shutdown(self) -> None:
        """The napari window is closing: stop listening, finish saving, close the
        comparison canvas (before Qt deletes the canvases)."""
        _teardown(self.session, self.keys)
        if self.compare_pane is not None:
            with contextlib.suppress(Exception):
                self.compare_pane.close_viewer()
            self.compare_pane = None  # the canvas goes with the window

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.window().installEventFilter(self._closer)
        if self._main_wl is None:
            canvas = self.main_canvas()
            if canvas is not None:
                s = self.session
                self._main_wl = WindowLevelDrag(
                    drag=s.drag_window,
                    enabled=lambda: s.view.right_drag_window,
                    activate=lambda: s._activate(s.panes["current"]),
                )
                self._main_wl.attach(canvas)
                pane = s.panes["current"]
                if s.view.warm_up and pane.warm_up():
                    self._warm_up = AfterFirstPaint(canvas, pane.end_warm_up)

    def _when_drawn(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the canvas's next paint (at once when it is not shown)."""
        canvas = self.main_canvas()
        if canvas is None or not canvas.isVisible():
            fn()
            return
        self._after_paint = [a for a in self._after_paint if not a.done]
        self._after_paint.append(AfterFirstPaint(canvas, fn))

    @property
    def warmed_up(self) -> bool:
        """Whether the canvas has drawn the docking warm-up (see
        :meth:`napari_recist._panes.Pane.warm_up`); False until the widget is shown,
        True when warming up is switched off or there was nothing to warm."""
        if not self.session.view.warm_up:
            return True
        if self._warm_up is None:
            return self._main_wl is not None  # shown: nothing to warm
        return self._warm_up.done

    # ------------------------------------------------------------------ shortcuts

    def _step_slice(self, n: int) -> None:
        """Page the adjudicator's view while it shows a patient, else the reading."""
        adj = None if self.adjudication is None else self.adjudication.adj
        if adj is not None and adj.shown is not None:
            adj.step_slice(n)
        else:
            self.session.step_slice(n)

    def _shortcuts(self) -> dict[str, tuple[str, Callable[[], Any]]]:
        """Application-level keys. Alt+F/V/L/P/W/H/D are napari's menu mnemonics and
        Alt+S/C/T its screenshot and trace actions: none of them is used here."""
        s = self.session
        page = s.view.page_step
        keys: dict[str, tuple[str, Callable[[], Any]]] = {
            "Ctrl+Z": ("undo", s.undo),
            "Ctrl+Shift+Z": ("redo", s.redo),
            "Ctrl+Y": ("redo", s.redo),
            "Up": ("previous slice", lambda: self._step_slice(-1)),
            "Down": ("next slice", lambda: self._step_slice(1)),
            "PgUp": (f"{page} slices up", lambda: self._step_slice(-page)),
            "PgDown": (f"{page} slices down", lambda: self._step_slice(page)),
            "Alt+N": ("next lesion", lambda: s.step_lesion(1)),
            "Shift+Alt+N": ("previous lesion", lambda: s.step_lesion(-1)),
            "Alt+A": ("draw long axis", lambda: s.arm("long")),
            "Shift+Alt+A": ("draw another part (split lesion)", s.arm_part),
            "Alt+K": ("draw short axis", lambda: s.arm("short")),
            "Alt+O": ("place a ring", lambda: s.arm("point")),
            "Alt+J": ("next lesion to assess", s.next_to_assess),
            STATUS_KEYS["too_small"]: ("too small", lambda: s.set_status("too_small")),
            STATUS_KEYS["present"]: ("present", lambda: s.set_status("present")),
            STATUS_KEYS["progression"]: (
                "unequivocal progression",
                lambda: s.set_status("progression"),
            ),
            STATUS_KEYS["disappeared"]: (
                "disappeared / absent",
                lambda: self._status_for_kind("disappeared"),
            ),
            STATUS_KEYS["not_evaluated"]: ("not evaluated", lambda: s.set_status("not_evaluated")),
            "Alt+G": ("comparison pane", self.compare_box.toggle),
            "Alt+Right": ("next patient", self.next_patient),
        }
        for i, preset in enumerate(WINDOWS, start=1):
            keys[f"Alt+{i}"] = (f"window: {preset}", lambda p=preset: s.set_window(p))
        return keys

    # ------------------------------------------------------------------ PACS, worklist

    def open_pacs(self) -> PacsDialog:
        """Show the *Open from PACS…* dialog (the cohort's cache when a worklist is open)."""
        from napari_recist._pacs_open import default_cache_dir

        def cache() -> Any:
            wl = None if self.worklist_panel is None else self.worklist_panel.ctl.wl
            return wl.cache_dir if wl is not None else default_cache_dir()

        if self.pacs_dialog is None:
            self.pacs_dialog = PacsDialog(self.open_folder, cache, parent=self)
        self.pacs_dialog.show()
        self.pacs_dialog.raise_()
        return self.pacs_dialog

    def show_worklist(self, front: bool = True) -> Any:
        """Show the worklist panel: a tab beside this dock (as a PACS worklist and its
        reading view). Below this dock it took 40 % of the height and left the lesion
        table and the buttons out of sight on a 1000-pixel screen. Opening a patient
        brings the reading tab forward; ``front`` brings the worklist's."""
        from napari_recist._qt.worklist_panel import WorklistPanel

        if self.worklist_panel is None:
            self.worklist_panel = WorklistPanel(
                self.session, self.messages.add, self.problems.show_problems, self.show_reading
            )
            self.session.changed.connect(self.worklist_panel.refresh)
            self.viewer.window.add_dock_widget(
                self.worklist_panel, name="RECIST worklist", area="right", tabify=False
            )
            mine, dock = _dock_of(self), _dock_of(self.worklist_panel)
            if mine is not None and dock is not None:
                self.window().tabifyDockWidget(mine, dock)
        dock = _dock_of(self.worklist_panel)
        if dock is not None:
            dock.show()
            if front:
                dock.raise_()
        return self.worklist_panel

    def show_reading(self) -> None:
        """Bring this dock (the reading) forward, in front of a tabbed worklist."""
        dock = _dock_of(self)
        if dock is not None:
            dock.show()
            dock.raise_()

    def next_patient(self) -> None:
        """Alt+→: save, open the next unfinished patient of the worklist."""
        self.show_worklist(front=False).next_patient()

    def _coalesce(self) -> None:
        """*Coalesced…*: ask which target the selected one coalesced with here."""
        s = self.session
        lid, tp = s.active_lesion, s._edit_pane().timepoint
        if lid is None or tp is None:
            s._notify("warning", "select the target that coalesced first")
            return
        others = [
            le.lesion_id
            for le in s.reading.lesions
            if le.kind == "target" and not le.nodal and le.lesion_id != lid
        ]
        if not others:
            s._notify("warning", f"no other non-nodal target for {lid} to coalesce with")
            return
        into = choose_item(
            self,
            "Coalesced lesions",
            f"{lid} coalesced at {tp} with (its long axis then measures both; {lid} counts 0 mm):",
            others,
        )
        if into:
            s.set_merged(into)

    def _status_button(self, status: str) -> None:
        s = self.session
        if s.active_lesion is not None:
            status = button_status(s.reading.lesion(s.active_lesion).kind, status)
        s.set_status(status)

    def _status_for_kind(self, status: str) -> None:
        s = self.session
        if s.active_lesion is not None:
            status = status_for(s.reading.lesion(s.active_lesion).kind, status)
        s.set_status(status)

    # ------------------------------------------------------------------ actions

    def _ask_reader_once(self) -> None:
        if self._reader_known:
            return
        self._reader_known = True
        name = ask_reader(self, self.session.reader)
        if name:
            QSettings(*_SETTINGS).setValue("reader", name)
            self.reader_edit.setText(name)
            self.session.set_reader(name)

    def _on_reader_edited(self) -> None:
        name = self.reader_edit.text().strip()
        if name and name != self.session.reader:
            self._reader_known = True
            QSettings(*_SETTINGS).setValue("reader", name)
            self.session.set_reader(name)
        self._focus_canvas()

    def open_folder(self, folder: str | os.PathLike) -> LoadedStudy:
        """Open a DICOM study folder (the same as the button, without the dialog)."""
        self._ask_reader_once()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            loaded = self.session.open_study(folder)
        finally:
            QApplication.restoreOverrideCursor()
        self.problems.show_problems(loaded.problems)
        return loaded

    def open_sample(self) -> LoadedStudy:
        """Open the shipped synthetic sample study."""
        from napari_recist._sample_data import sample_study_path

        return self.open_folder(sample_study_path())

    def _load_choice(self, problem: SeriesProblem, options: dict[str, Any]) -> None:
        loaded = self.session.open_study(
            problem.folder, options={problem.series_uid: options}, only={problem.series_uid}
        )
        rest = [p for p in self.problems.problems if p is not problem]
        self.problems.show_problems(rest + loaded.problems)

    def open_adjudication(self, cohort_dir: str | None = None) -> Any:
        """The adjudicator's view (its own dock, :mod:`napari_recist._qt.adjudication_panel`)
        on ``cohort_dir`` (asked for when None); returns the panel."""
        from napari_recist._qt import adjudication_panel as adj

        folder = cohort_dir or adj.choose_cohort_folder(self)
        if not folder:
            return None
        if self.adjudication is None:
            self.adjudication = adj.AdjudicationPanel(self.viewer, self.session.reader)
            self.viewer.window.add_dock_widget(
                self.adjudication, name="RECIST adjudication", area="right", tabify=True
            )
        dock = _dock_of(self.adjudication)
        if dock is not None:
            dock.show()
            dock.raise_()
        self.adjudication.open_cohort(folder)
        return self.adjudication

    def _open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a DICOM study folder")
        if folder:
            self.open_folder(folder)

    def _open_reading(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a reading", "", "CSV (*.csv)")
        if path:
            self.session.load(path)

    def _save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the reading as", "", "CSV (*.csv)")
        if path:
            self.session.save_as(path)

    def _export_sr(self) -> None:
        self._export("Export DICOM SR into a folder", self.session.export_sr)

    def _export_seg(self) -> None:
        self._export("Export DICOM SEG (and its SR) into a folder", self.session.export_seg)

    def _export_report(self) -> None:
        self._export("Write the patient report into a folder", self.session.export_patient_report)

    def _export(self, title: str, run: Callable[[str], Any]) -> None:
        folder = choose_output_folder(self, title, self._export_dir)
        if not folder:
            return
        self._export_dir = folder
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # the report takes seconds
        try:
            run(folder)
        finally:
            QApplication.restoreOverrideCursor()

    def _sync_form(self, *_: Any) -> None:
        self.session.form = {
            "kind": self.kind_combo.currentData() or "target",
            "organ": self.organ_combo.currentText().strip(),
            "nodal": self.nodal_box.isChecked(),
        }
        self.session.assist.form_changed()

    def _add_lesion(self) -> None:
        self._sync_form()
        organ = self.session.form["organ"]
        if organ and self.organ_combo.findText(organ) < 0:
            self.organ_combo.addItem(organ)
        self.session.add_lesion()

    def _update_lesion(self) -> None:
        lid = self.session.active_lesion
        if lid is None:
            return
        self._sync_form()
        self.session.update_lesion(lid, **self.session.form)

    def _delete_lesion(self) -> None:
        s = self.session
        lid = s.active_lesion
        if lid is None:
            return
        what = s.describe_removal(lid)
        if s.removable_everywhere(lid):
            if confirm(
                self,
                "Delete lesion",
                f"Delete {what}?\n\nIts lines, marks and statuses at every time point are "
                "removed. Ctrl+Z undoes it.",
            ):
                s.remove_lesion(lid)
            return
        tp = s.current_tp
        if tp in s.reading.lesion(lid).findings:
            if confirm(
                self,
                "Delete at this time point only",
                f"{what}.\n\nOther time points are read-only, so {lid} stays; delete only "
                f"what is recorded for it at {tp}? Ctrl+Z undoes it.",
            ):
                s.clear_finding(lid, tp)
            return
        self.messages.add(
            "warning",
            f"{lid} has nothing recorded at {tp}; it is recorded at read-only time points "
            f"({what}). Make that time point current to change it there.",
        )

    def _on_tp_chosen(self, index: int) -> None:
        label = self.tp_combo.itemText(index)
        if label and label != self.session.current_tp:
            self.session.show_timepoint(label)
        self._focus_canvas()

    def _on_date_edited(self) -> None:
        label = self.session.current_tp
        text = self.tp_date.text().strip()
        if label and text:
            current = self.session.reading.timepoint(label).date
            if text != current:
                self.session.set_timepoint_date(label, text)

    def _on_series_clicked(self) -> None:
        rows = self.series_table.selectionModel().selectedRows()
        uids = list(self._series_combos)
        if rows and rows[0].row() < len(uids):
            self.session.show_series(uids[rows[0].row()])

    def _on_series_tp(self, uid: str, label: str) -> None:
        label = label.strip()
        info = self.session.reading.series.get(uid)
        if info is not None and (info.timepoint or "") != label:
            self.session.assign_series(uid, label or None)

    def _on_lesion_selected(self) -> None:
        rows = self.lesion_table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.lesion_table.item(rows[0].row(), 0)
        lid = item.text() if item else None
        if lid and lid != self.session.active_lesion:
            self.session.select_lesion(lid)

    def _on_live(self, text: str) -> None:
        self.live_label.setText(f"Length: {text}")

    def _on_compare_toggled(self, on: bool) -> None:
        self.session.set_compare(on)
        if on:
            self._show_compare_dock()
        elif self._compare_dock is not None:
            self._compare_dock.hide()
            for dock in self._hidden_docks:
                dock.show()
            self._hidden_docks = []
        self._focus_canvas()

    def _show_compare_dock(self) -> None:
        if self.compare_pane is None:
            self.compare_pane = ComparisonPane(self.session)
            self.viewer.window.add_dock_widget(
                self.compare_pane, name="RECIST comparison", area="left"
            )
            self._compare_dock = _dock_of(self.compare_pane)
        dock = self._compare_dock
        if dock is None:
            return
        dock.show()
        main = self.window()
        if self.session.view.hide_layer_docks:
            for d in main.findChildren(QDockWidget):
                if d.objectName() in ("layer list", "layer controls") and d.isVisible():
                    d.hide()
                    self._hidden_docks.append(d)
        mine = _dock_of(self)
        spare = main.width() - (mine.width() if mine is not None else 0)
        with contextlib.suppress(Exception):
            main.resizeDocks([dock], [max(300, spare // 2)], Qt.Orientation.Horizontal)
        self.compare_pane.refresh()
        for delay in (0, 150):  # fit once the canvases have their new sizes
            QTimer.singleShot(delay, self.session.fit)

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """Show the session's state (called after every change)."""
        self._refresh_study()
        self._refresh_lesions()
        self._refresh_response()
        if self.session.active_lesion != self._live_for:  # the last line's length is stale
            self._live_for = self.session.active_lesion
            self.live_label.setText("Length: –")
        if self.compare_pane is not None:
            self.compare_pane.refresh()

    def _refresh_study(self) -> None:
        s, r = self.session, self.session.reading
        path = s.save_path
        self.patient_label.setText(f"Patient {r.patient_id}" if r.patient_id else "No study open")
        for b in (self.sr_btn, self.seg_btn, self.report_btn):
            b.setEnabled(bool(r.patient_id))
        self.save_label.setText(
            f"Autosaved after every change to {path} (audit trail: {path.stem}.audit.jsonl)"
            if path
            else "Not saved yet (no study)"
        )
        series = sorted(r.series.values(), key=lambda x: (x.study_date, x.series_number or 0))
        rows = [[f"#{fmt(x.series_number)} {x.description}", x.study_date, ""] for x in series]
        tips = [
            f"{x.image_count} images, {fmt(x.slice_thickness_mm)} mm slices, {x.modality}\n"
            f"{x.series_uid}"
            for x in series
        ]
        uids = [x.series_uid for x in series]
        labels = [tp.label for tp in r.timepoints]
        choices = list(dict.fromkeys([*TIMEPOINT_CHOICES, *labels]))
        if uids != list(self._series_combos):
            set_rows(self.series_table, rows, tooltips=tips)
            self._series_combos = {}
            for i, uid in enumerate(uids):
                combo = QComboBox()
                combo.setObjectName(f"recist.series_timepoint_{i}")
                combo.setEditable(True)
                combo.setToolTip("Time point of this series (empty: not used)")
                combo.activated.connect(
                    lambda _=0, u=uid, c=combo: self._on_series_tp(u, c.currentText())
                )
                combo.lineEdit().returnPressed.connect(
                    lambda u=uid, c=combo: self._on_series_tp(u, c.currentText())
                )
                self.series_table.setCellWidget(i, 2, combo)
                self._series_combos[uid] = combo
        else:
            set_rows(self.series_table, rows, tooltips=tips)
        for x in series:
            combo = self._series_combos[x.series_uid]
            blocked = combo.blockSignals(True)
            if [combo.itemText(i) for i in range(combo.count())] != choices:
                combo.clear()
                combo.addItems(choices)
            combo.setCurrentText(x.timepoint or "")
            combo.blockSignals(blocked)
        shown = s.displayed_series(s.current_tp) if s.current_tp else None
        blocked = self.series_table.blockSignals(True)
        if shown in uids:
            self.series_table.selectRow(uids.index(shown))
        else:
            self.series_table.clearSelection()
        self.series_table.blockSignals(blocked)
        blocked = self.tp_combo.blockSignals(True)
        if [self.tp_combo.itemText(i) for i in range(self.tp_combo.count())] != labels:
            self.tp_combo.clear()
            self.tp_combo.addItems(labels)
        self.tp_combo.setCurrentText(s.current_tp or "")
        self.tp_combo.blockSignals(blocked)
        self.tp_date.setText(r.timepoint(s.current_tp).date if s.current_tp in labels else "")
        blocked = self.compare_box.blockSignals(True)
        self.compare_box.setChecked(s.compare_on)
        self.compare_box.blockSignals(blocked)
        if s.current_tp != self._shown_tp:
            self._shown_tp = s.current_tp
            base = r.baseline.label if r.baseline else None
            # A lesion first seen at follow-up is a new lesion: offer that kind there.
            want = "target" if s.current_tp in (None, base) else "new"
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(want))
        base = r.baseline.label if r.baseline else None
        follow = s.current_tp is not None and s.current_tp != base
        self.kind_hint.setText(
            f"At {s.current_tp}, a lesion not seen at baseline is added as New; baseline "
            "lesions are listed below — select one and draw it, or give it a status."
            if follow
            else "At baseline: choose targets (≤ 5, ≤ 2 per organ) and non-targets."
        )
        signed = s.signing.signed_at(s.current_tp)
        self.lesion_box.setTitle(
            f"2. Lesions at {s.current_tp or '–'} "
            + (f"(signed {signed}, locked: a change asks why)" if signed else "(edits go here)")
        )
        self.undo_btn.setEnabled(r.can_undo)
        self.redo_btn.setEnabled(r.can_redo)
        self.undo_btn.setToolTip(
            f"Undo: {r.undo_step.summary()} (Ctrl+Z)" if r.undo_step else "Nothing to undo"
        )
        self.redo_btn.setToolTip(
            f"Redo: {r.redo_step.summary()} (Ctrl+Shift+Z, Ctrl+Y)"
            if r.redo_step
            else "Nothing to redo"
        )
        cursor = s.active().cursor_text.text
        self.cursor_label.setText(cursor)

    def _refresh_lesions(self) -> None:
        from recist_tool.annotations import STATUSES

        s, r = self.session, self.session.reading
        tp = s.current_tp or ""
        base = r.baseline.label if r.baseline else ""
        lesions = r.lesions_for(tp)
        left = set(r.still_to_assess(tp)) if tp else set()
        rows, colors, tips = [], [], []
        for lesion in lesions:
            f = lesion.findings.get(tp)
            bf = lesion.findings.get(base)
            key = "short" if lesion.nodal else "long"
            bsize = None if bf is None else bf.added_up(key)
            msgs = s.messages_for(lesion.lesion_id)
            worst = _worst(msgs)
            first = next((m for _, sev, m in msgs if sev == worst), "") if msgs else ""
            rows.append(
                [
                    lesion.lesion_id,
                    lesion.organ + (" (node)" if lesion.nodal else ""),
                    _size(f, "long", key),
                    _size(f, "short", key),
                    fmt(bsize),
                    "to do"
                    if lesion.lesion_id in left
                    else f"coalesced → {f.merged_into}"
                    if f is not None and f.merged_into
                    else (STATUS_NAMES.get(f.status, "") if f and f.status else "—"),
                    (first + (f" (+{len(msgs) - 1})" if len(msgs) > 1 else "")) if msgs else "ok",
                ]
            )
            colors.append(
                [KIND_COLORS.get(lesion.kind)] + [None] * 5 + [SEVERITY_COLORS.get(worst)]
            )
            what = f"{KIND_NAMES[lesion.kind]} lesion {lesion.lesion_id}"
            if f is not None and f.fragments:
                parts = [(f.fragment, f.long_mm, f.short_mm)] + [
                    (fr.label, fr.long_mm, fr.short_mm) for fr in f.fragments
                ]
                what += f", split at {tp} (sizes added up): " + "; ".join(
                    f"{lab} {fmt(la)} × {fmt(sa)} mm" for lab, la, sa in parts
                )
            tips.append("\n".join([what, *(f"{t or 'all'}: {m}" for t, _, m in msgs)]))
        set_rows(self.lesion_table, rows, colors, tips)
        ids = [lesion.lesion_id for lesion in lesions]
        blocked = self.lesion_table.blockSignals(True)
        if s.active_lesion in ids:
            self.lesion_table.selectRow(ids.index(s.active_lesion))
        else:
            self.lesion_table.clearSelection()
        self.lesion_table.blockSignals(blocked)
        kind = r.lesion(s.active_lesion).kind if s.active_lesion in ids else None
        for status, btn in self.status_btns.items():
            btn.setEnabled(kind is not None and button_status(kind, status) in STATUSES[kind])
        for b in (self.short_btn, self.point_btn, self.delete_btn, self.update_btn):
            b.setEnabled(kind is not None)
        self.part_btn.setEnabled(kind == "target")
        nodal = s.active_lesion in ids and r.lesion(s.active_lesion).nodal
        self.merge_btn.setEnabled(kind == "target" and not nodal)
        if s.active_lesion in ids:
            msgs = s.messages_for(s.active_lesion)
            html = "".join(
                f"<div style='color:{SEVERITY_HTML.get(sev, SEVERITY_HTML['warning'])}'>"
                f"{s.active_lesion}{' · ' + t if t else ''}: {esc(m)}</div>"
                for t, sev, m in msgs
            )
            self.checks_label.setText(html or f"{s.active_lesion}: no problem found")
        else:
            self.checks_label.setText("")

    def _refresh_response(self) -> None:
        s = self.session
        self.response_label.setText(
            response_html(s.results.timepoint_rows(), s.results.best_response())
        )
        msgs = s.general_messages()
        self.general_label.setText(
            "".join(
                f"<div style='color:{SEVERITY_HTML.get(sev, SEVERITY_HTML['warning'])}'>"
                f"{t + ': ' if t else ''}{esc(m)}</div>"
                for t, sev, m in msgs
            )
        )


class _FromThread(QObject):
    """``fired.emit(a, b)`` from any thread runs the connected slots in the GUI thread
    (a queued Qt signal)."""

    fired = Signal(str, str)


class _CloseWatcher(QObject):
    """Calls ``on_close`` when the window it filters is closed."""

    def __init__(self, on_close: Callable[[], None]) -> None:
        super().__init__()
        self._on_close = on_close

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self._on_close()
        return False


def _teardown(session: ReadingSession, keys: ShortcutFilter) -> None:
    with contextlib.suppress(Exception):
        keys.remove()
    with contextlib.suppress(Exception):
        session.close()


def _worst(msgs: list[tuple[str, str, str]]) -> str:
    sev = {m[1] for m in msgs}
    return "error" if "error" in sev else ("warning" if sev else "")
