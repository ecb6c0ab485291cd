"""The "RECIST measurement" dock widget: a Qt view over :class:`ReadingSession`.

Everything shown comes from the session (and through it from the core); the
widget only turns clicks and keys into session calls.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from napari_recist._layers import WINDOWS
from napari_recist._qt.tables import (
    KIND_COLORS,
    RESPONSE_COLORS,
    SEVERITY_COLORS,
    fmt,
    make_table,
    set_rows,
)
from napari_recist._session import DEFAULT_ORGANS, ReadingSession

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
}
#: Status buttons (status, label) in display order; each is enabled for the kinds
#: whose statuses include it.
STATUS_BUTTONS = (
    ("too_small", "Too small"),
    ("disappeared", "Disappeared"),
    ("not_evaluated", "Not evaluated"),
    ("present", "Present"),
    ("absent", "Absent"),
    ("progression", "Progression"),
    ("equivocal", "Equivocal"),
)
ORGANS_ENV = "RECIST_ORGANS"
TIMEPOINT_CHOICES = ("", "baseline", "FU1", "FU2", "FU3", "FU4", "FU5", "FU6")


def choose_output_folder(parent: QWidget, title: str, start: str = "") -> str:
    """Ask for an output folder (tests replace this); "" when cancelled."""
    return QFileDialog.getExistingDirectory(parent, title, start)


def organ_list() -> list[str]:
    """Organs offered in the form: ``$RECIST_ORGANS`` (comma-separated) or defaults."""
    env = os.environ.get(ORGANS_ENV, "")
    names = [o.strip() for o in env.split(",") if o.strip()]
    return names or list(DEFAULT_ORGANS)


class RecistWidget(QWidget):
    """Dock widget: study and time points, lesions, checks and the RECIST response.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    readings_dir : path-like, optional
        Default folder for autosaved readings (see :class:`ReadingSession`).
    """

    def __init__(self, napari_viewer: Any, readings_dir: str | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = ReadingSession(napari_viewer, readings_dir=readings_dir)
        self._export_dir = ""  # the last export folder, offered again
        self._build()
        self.shortcuts = self._shortcuts()
        for key, (_, func) in self.shortcuts.items():
            napari_viewer.bind_key(key, _ignore_viewer(func), overwrite=True)
        self.session.changed.connect(self.refresh)
        self.session.live.connect(self._on_live)
        # A closure, not a bound method: the Python side may be gone when Qt
        # destroys the widget; saving must still be finished.
        session, keys = self.session, list(self.shortcuts)
        self.destroyed.connect(lambda *_: _teardown(session, napari_viewer, keys))
        self.refresh()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.addWidget(self._build_study())
        col.addWidget(self._build_lesions())
        col.addWidget(self._build_response())
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setMinimumWidth(380)

    def _build_study(self) -> QGroupBox:
        box = QGroupBox("1. Study and time points")
        lay = QVBoxLayout(box)
        row = QGridLayout()
        self.open_btn = QPushButton("Open study…")
        self.open_btn.clicked.connect(self._open_folder)
        self.sample_btn = QPushButton("Sample")
        self.sample_btn.clicked.connect(self.open_sample)
        self.load_btn = QPushButton("Open reading…")
        self.load_btn.clicked.connect(self._open_reading)
        self.saveas_btn = QPushButton("Save as…")
        self.saveas_btn.clicked.connect(self._save_as)
        for i, b in enumerate((self.open_btn, self.sample_btn, self.load_btn, self.saveas_btn)):
            row.addWidget(b, 0, i)
        lay.addLayout(row)
        self.patient_label = QLabel()
        self.patient_label.setWordWrap(True)
        self.patient_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.patient_label)
        self.series_table = make_table(("Series", "Study date", "Time point"))
        self.series_table.setToolTip("Click a series to show it for its time point")
        self.series_table.itemSelectionChanged.connect(self._on_series_clicked)
        self._series_combos: dict[str, QComboBox] = {}
        self.series_table.setMaximumHeight(95)
        lay.addWidget(self.series_table)
        row = QHBoxLayout()
        row.addWidget(QLabel("Current:"))
        self.tp_combo = QComboBox()
        self.tp_combo.currentTextChanged.connect(self._on_tp_chosen)
        row.addWidget(self.tp_combo, 1)
        row.addWidget(QLabel("date"))
        self.tp_date = QLineEdit()
        self.tp_date.setPlaceholderText("YYYY-MM-DD")
        self.tp_date.setMaximumWidth(95)
        self.tp_date.editingFinished.connect(self._on_date_edited)
        row.addWidget(self.tp_date)
        self.grid_box = QCheckBox("Side by side with baseline (Alt+G)")
        self.grid_box.toggled.connect(self.session.set_grid)
        lay.addLayout(row)
        lay.addWidget(self.grid_box)
        return box

    def _build_lesions(self) -> QGroupBox:
        box = QGroupBox("2. Lesions at the current time point")
        lay = QVBoxLayout(box)
        self.kind_combo = QComboBox()
        for kind, name in KIND_NAMES.items():
            self.kind_combo.addItem(name, kind)
        self.organ_combo = QComboBox()
        self.organ_combo.setEditable(True)
        self.organ_combo.addItems(organ_list())
        self.organ_combo.setToolTip("Organ (type any name; the list is $RECIST_ORGANS)")
        self.nodal_box = QCheckBox("node")
        self.nodal_box.setToolTip("Lymph node: its short axis counts")
        self.add_btn = QPushButton("Add")
        self.add_btn.setToolTip("Add a lesion of this kind and organ, then draw it")
        self.add_btn.clicked.connect(self._add_lesion)
        row = QHBoxLayout()
        for w, stretch in ((self.kind_combo, 0), (self.organ_combo, 1), (self.nodal_box, 0)):
            row.addWidget(w, stretch)
        row.addWidget(self.add_btn)
        lay.addLayout(row)
        for w in (self.kind_combo, self.organ_combo, self.nodal_box):
            signal = w.toggled if isinstance(w, QCheckBox) else w.currentTextChanged
            signal.connect(self._sync_form)

        self.lesion_table = make_table(
            ("Lesion", "Organ", "LA mm", "SA mm", "BL mm", "Status", "Checks"), stretch=1
        )
        self.lesion_table.setMinimumHeight(140)
        self.lesion_table.itemSelectionChanged.connect(self._on_lesion_selected)
        lay.addWidget(self.lesion_table)

        self.live_label = QLabel("Length: –")
        self.live_label.setStyleSheet("font-weight: bold")
        lay.addWidget(self.live_label)
        grid = QGridLayout()
        self.long_btn = QPushButton("Long axis")
        self.long_btn.clicked.connect(lambda: self.session.arm("long"))
        self.short_btn = QPushButton("Short axis")
        self.short_btn.clicked.connect(lambda: self.session.arm("short"))
        self.point_btn = QPushButton("Point")
        self.point_btn.clicked.connect(lambda: self.session.arm("point"))
        for i, (b, key) in enumerate(
            ((self.long_btn, "A"), (self.short_btn, "K"), (self.point_btn, "O"))
        ):
            b.setToolTip(f"Draw on the current slice (Alt+{key})")
            grid.addWidget(b, 0, i)
        self.delete_btn = QPushButton("Delete")
        self.delete_btn.setToolTip("Delete the selected lesion at every time point")
        self.delete_btn.clicked.connect(self._delete_lesion)
        grid.addWidget(self.delete_btn, 0, 3)
        self.status_btns: dict[str, QPushButton] = {}
        for i, (status, text) in enumerate(STATUS_BUTTONS):
            b = QPushButton(text)
            b.setToolTip(f"Selected lesion at the current time point: {text.lower()}")
            b.clicked.connect(lambda _=False, s=status: self.session.set_status(s))
            grid.addWidget(b, 1 + i // 4, i % 4)
            self.status_btns[status] = b
        self.update_btn = QPushButton("Apply kind/organ")
        self.update_btn.setToolTip("Give the selected lesion the kind, organ and node flag above")
        self.update_btn.clicked.connect(self._update_lesion)
        grid.addWidget(self.update_btn, 2, 3)
        lay.addLayout(grid)
        self.checks_label = QLabel()
        self.checks_label.setWordWrap(True)
        self.checks_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.checks_label)
        keys = QLabel(
            "Keys: Alt+N next lesion (Shift: previous) · Alt+A/K/O long axis, short axis, "
            "point · Alt+M too small · Alt+0 disappeared · Alt+E not evaluated · Alt+G side "
            "by side · Alt+1…5 window (" + ", ".join(WINDOWS) + ")"
        )
        keys.setWordWrap(True)
        keys.setStyleSheet("color: gray")
        lay.addWidget(keys)
        return box

    def _build_response(self) -> QGroupBox:
        box = QGroupBox("3. RECIST 1.1 response (computed on every change)")
        lay = QVBoxLayout(box)
        self.response_table = make_table(
            ("Time point", "Overall", "SOD mm", "vs BL", "vs nadir", "Target", "Non-target", "New"),
            select_rows=False,
            stretch=6,
        )
        self.response_table.setMinimumHeight(90)
        lay.addWidget(self.response_table)
        self.best_label = QLabel()
        self.general_label = QLabel()
        self.general_label.setWordWrap(True)
        self.general_label.setTextFormat(Qt.TextFormat.RichText)
        self.save_label = QLabel()
        self.save_label.setWordWrap(True)
        self.save_label.setStyleSheet("color: gray")
        for w in (self.best_label, self.general_label, self.save_label):
            lay.addWidget(w)
        row = QHBoxLayout()
        self.sr_btn = QPushButton("Export DICOM SR…")
        self.sr_btn.setToolTip(
            "Write one DICOM SR (TID 1500 measurement report) per time point into a folder"
        )
        self.sr_btn.clicked.connect(self._export_sr)
        self.report_btn = QPushButton("Patient report…")
        self.report_btn.setToolTip(
            "Write the patient report (HTML and PDF: lesion table, response, key images)"
        )
        self.report_btn.clicked.connect(self._export_report)
        row.addWidget(self.sr_btn)
        row.addWidget(self.report_btn)
        lay.addLayout(row)
        return box

    # ------------------------------------------------------------------ shortcuts

    def _shortcuts(self) -> dict[str, tuple[str, Callable[[], Any]]]:
        """Viewer key bindings. Alt+F/V/L/P/W/H/D are napari's menu mnemonics and
        Alt+S/C/T its screenshot and trace actions: none of them is used here."""
        s = self.session
        keys: dict[str, tuple[str, Callable[[], Any]]] = {
            "Alt-N": ("next lesion", lambda: s.step_lesion(1)),
            "Shift-Alt-N": ("previous lesion", lambda: s.step_lesion(-1)),
            "Alt-A": ("draw long axis", lambda: s.arm("long")),
            "Alt-K": ("draw short axis", lambda: s.arm("short")),
            "Alt-O": ("place a point", lambda: s.arm("point")),
            "Alt-M": ("too small", lambda: s.set_status("too_small")),
            "Alt-0": ("disappeared / absent", lambda: self._status_for_kind("disappeared")),
            "Alt-E": ("not evaluated", lambda: s.set_status("not_evaluated")),
            "Alt-G": ("side by side", lambda: self.grid_box.toggle()),
        }
        for i, preset in enumerate(WINDOWS, start=1):
            keys[f"Alt-{i}"] = (f"window: {preset}", lambda p=preset: s.set_window(p))
        return keys

    def _status_for_kind(self, status: str) -> None:
        lid = self.session.active_lesion
        if lid is None:
            self.session.set_status(status)
            return
        kind = self.session.reading.lesion(lid).kind
        if kind != "target" and status == "disappeared":
            status = "absent"
        self.session.set_status(status)

    # ------------------------------------------------------------------ actions

    def open_folder(self, folder: str) -> list[Any]:
        """Open a DICOM study folder (the same as the button, without the dialog)."""
        return self.session.open_study(folder)

    def open_sample(self) -> list[Any]:
        """Open the shipped synthetic sample study."""
        from napari_recist._sample_data import sample_study_path

        return self.session.open_study(sample_study_path())

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
            self.refresh()

    def _export_sr(self) -> None:
        self._export("Export DICOM SR into a folder", self.session.export_sr)

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
        if self.session.active_lesion is not None:
            self.session.remove_lesion(self.session.active_lesion)

    def _on_tp_chosen(self, label: str) -> None:
        if label and label != self.session.current_tp:
            self.session.show_timepoint(label)

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

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """Show the session's state (called after every change)."""
        self._refresh_study()
        self._refresh_lesions()
        self._refresh_response()

    def _refresh_study(self) -> None:
        s, r = self.session, self.session.reading
        path = s.save_path
        who = f"Patient {r.patient_id}" if r.patient_id else "No study open"
        self.patient_label.setText(who)
        for b in (self.sr_btn, self.report_btn):
            b.setEnabled(bool(r.patient_id))
        self.save_label.setText(
            f"Autosaved after every change to {path}" if path else "Not saved yet (no study)"
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
        self.tp_combo.clear()
        self.tp_combo.addItems(labels)
        self.tp_combo.setCurrentText(s.current_tp or "")
        self.tp_combo.blockSignals(blocked)
        self.tp_date.setText(r.timepoint(s.current_tp).date if s.current_tp in labels else "")
        blocked = self.grid_box.blockSignals(True)
        self.grid_box.setChecked(s.grid)
        self.grid_box.blockSignals(blocked)

    def _refresh_lesions(self) -> None:
        s, r = self.session, self.session.reading
        tp = s.current_tp or ""
        base = r.baseline.label if r.baseline else ""
        lesions = r.lesions_for(tp)
        rows, colors, tips = [], [], []
        for lesion in lesions:
            f = lesion.findings.get(tp)
            bf = lesion.findings.get(base)
            bsize = None if bf is None else (bf.short_mm if lesion.nodal else bf.long_mm)
            msgs = s.messages_for(lesion.lesion_id)
            worst = _worst(msgs)
            rows.append(
                [
                    lesion.lesion_id,
                    lesion.organ + (" (node)" if lesion.nodal else ""),
                    fmt(None if f is None else f.long_mm),
                    fmt(None if f is None else f.short_mm),
                    fmt(bsize),
                    STATUS_NAMES.get(f.status, "") if f and f.status else "to do",
                    f"{len(msgs)} {worst}" if msgs else "ok",
                ]
            )
            colors.append(
                [KIND_COLORS.get(lesion.kind)] + [None] * 5 + [SEVERITY_COLORS.get(worst)]
            )
            what = f"{KIND_NAMES[lesion.kind]} lesion {lesion.lesion_id}"
            tips.append("\n".join([what, *(f"{t}: {m}" for t, _, m in msgs)]) or "no problem found")
        set_rows(self.lesion_table, rows, colors, tips)
        ids = [lesion.lesion_id for lesion in lesions]
        blocked = self.lesion_table.blockSignals(True)
        if s.active_lesion in ids:
            self.lesion_table.selectRow(ids.index(s.active_lesion))
        else:
            self.lesion_table.clearSelection()
        self.lesion_table.blockSignals(blocked)
        kind = r.lesion(s.active_lesion).kind if s.active_lesion in ids else None
        from recist_tool.annotations import STATUSES

        for status, btn in self.status_btns.items():
            btn.setEnabled(kind is not None and status in STATUSES[kind])
        for b in (self.short_btn, self.point_btn, self.delete_btn, self.update_btn):
            b.setEnabled(kind is not None)
        if s.active_lesion in ids:
            msgs = s.messages_for(s.active_lesion)
            html = "".join(
                f"<div style='color:{SEVERITY_COLORS.get(sev, SEVERITY_COLORS['warning']).name()}'>"
                f"{s.active_lesion} · {t}: {_esc(m)}</div>"
                for t, sev, m in msgs
            )
            self.checks_label.setText(html or f"{s.active_lesion}: no problem found")
        else:
            self.checks_label.setText("")

    def _refresh_response(self) -> None:
        s = self.session
        rows, colors = [], []
        for rec in s.response_rows():
            overall = fmt(rec.get("overall_response"))
            rows.append(
                [
                    fmt(rec.get("timepoint")),
                    overall,
                    fmt(rec.get("sum_mm")),
                    fmt(rec.get("change_from_baseline_pct"), 1, " %"),
                    fmt(rec.get("change_from_nadir_pct"), 1, " %"),
                    fmt(rec.get("target_response")),
                    fmt(rec.get("non_target_response")),
                    fmt(rec.get("new_lesions")),
                ]
            )
            colors.append([None, RESPONSE_COLORS.get(overall)] + [None] * 6)
        tips = [
            f"{fmt(rec.get('timepoint'))} {fmt(rec.get('date'))[:10]}: target "
            f"{fmt(rec.get('target_response')) or '–'}, non-target "
            f"{fmt(rec.get('non_target_response')) or '–'}, new lesions "
            f"{fmt(rec.get('new_lesions')) or '–'}"
            for rec in s.response_rows()
        ]
        set_rows(self.response_table, rows, colors, tips)
        best = ""
        ev = s.evaluation
        if ev is not None and len(ev.patients):
            bor = fmt(ev.patients["best_overall_response"].tolist()[0])
            best = f"Best overall response: {bor or '–'}"
        self.best_label.setText(best)
        msgs = s.general_messages()
        self.general_label.setText(
            "".join(
                f"<div style='color:{SEVERITY_COLORS.get(sev, SEVERITY_COLORS['warning']).name()}'>"
                f"{t + ': ' if t else ''}{_esc(m)}</div>"
                for t, sev, m in msgs
            )
        )


def _teardown(session: ReadingSession, viewer: Any, keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):  # the viewer may already be gone
            viewer.bind_key(key, None)
    with contextlib.suppress(Exception):
        session.close()


def _worst(msgs: list[tuple[str, str, str]]) -> str:
    sev = {m[1] for m in msgs}
    return "error" if "error" in sev else ("warning" if sev else "")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ignore_viewer(func: Callable[[], Any]) -> Callable[[Any], None]:
    def bound(viewer: Any) -> None:
        func()

    return bound
