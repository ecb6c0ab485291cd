"""The "RECIST adjudication" dock widget: a Qt view over :class:`Adjudication`.

The discordant patients (``adjudication.csv``: each reader's values and the
reasons), the open patient's readers' responses side by side (the engine's texts;
cells where the readers differ highlighted), and the decision: one reader for the
patient or one per time point, a reason (required), *Save decision*. The lines of
both readers are on napari's canvas, one colour per reader, read-only. Every
control has an ``objectName`` ``recist.adj_<action>``.
"""

from __future__ import annotations

import os
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from napari_recist._adjudication import VALUE_COLUMNS, Adjudication
from napari_recist._qt.panels import MessagePanel, button, esc, response_word
from napari_recist._qt.tables import make_table, set_rows

#: What a reader's response shows per time point: (engine column, prefix).
RESPONSE_PARTS = (
    ("sum", "SOD "),
    ("change_from_baseline", "vs BL "),
    ("change_from_nadir", "vs nadir "),
    ("target_response", "T "),
    ("non_target_response", "NT "),
    ("new_lesions", "new "),
)
DIFFERENT_BG = "#5a3a00"


def choose_cohort_folder(parent: QWidget, start: str = "") -> str:
    """Ask for the cohort folder (tests replace this); "" when cancelled."""
    return QFileDialog.getExistingDirectory(parent, "Open a cohort as adjudicator", start)


def reader_response_html(
    reader: str,
    colour: str,
    rows: list[dict[str, str]],
    best: str,
    differ: set[tuple[str, str]],
) -> str:
    """One reader's response (the engine's texts), cells differing from the other
    reader's on a dark orange background."""
    head = f"<div style='color:{colour};font-weight:bold'>━━ {esc(reader)}</div>"
    if not rows:
        return head + "<i>no response</i>"
    out = [head]

    def mark(tp: str, col: str, html_text: str) -> str:
        if (tp, col) in differ:
            return f"<span style='background:{DIFFERENT_BG}'>{html_text}</span>"
        return html_text

    for r in rows:
        tp = r.get("timepoint", "")
        overall = r.get("overall_response", "")
        line = f"<b>{esc(tp)}</b> {esc(r.get('date', ''))}"
        if overall:
            line += " " + mark(tp, "overall_response", response_word(overall))
        parts = [
            mark(tp, col, esc(prefix + r[col])) for col, prefix in RESPONSE_PARTS if r.get(col)
        ]
        body = [line, " · ".join(parts)] if parts else [line]
        if r.get("reason"):
            body.append(f"<i style='color:#bbbbbb'>why: {esc(r['reason'])}</i>")
        out.append("<div style='margin-bottom:4px'>" + "<br>".join(body) + "</div>")
    out.append(f"<div>BOR {response_word(best or '–')}</div>")
    return "".join(out)


class AdjudicationPanel(QWidget):
    """Dock widget of the adjudicator's view.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    adjudicator : str, optional
        Default ``$RECIST_READER``.
    """

    def __init__(self, napari_viewer: Any, adjudicator: str | None = None) -> None:
        super().__init__()
        self.setObjectName("recist.adjudication")
        self.viewer = napari_viewer
        who = adjudicator if adjudicator is not None else os.environ.get("RECIST_READER", "")
        self.adj = Adjudication(napari_viewer, who.strip())
        self._tp_combos: dict[str, QComboBox] = {}
        self._build()
        self.adj.changed.connect(self.refresh)
        self.adj.notice.connect(self.messages.add)
        self.refresh()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        inner = QWidget()
        col = QVBoxLayout(inner)
        box = QGroupBox("Cohort (adjudicator)")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Adjudicator:"))
        self.who_edit = QLineEdit(self.adj.adjudicator)
        self.who_edit.setObjectName("recist.adj_adjudicator")
        self.who_edit.setToolTip("Your name: the 'adjudicator' column and the audit trail")
        self.who_edit.editingFinished.connect(self._on_who)
        row.addWidget(self.who_edit, 1)
        self.open_btn = button("Open cohort…", "adj_open", "Open COHORT_DIR as adjudicator")
        self.open_btn.clicked.connect(self._choose)
        row.addWidget(self.open_btn)
        lay.addLayout(row)
        self.cohort_label = QLabel()
        self.cohort_label.setObjectName("recist.adj_cohort")
        self.cohort_label.setWordWrap(True)
        lay.addWidget(self.cohort_label)
        self.patient_table = make_table(("Patient", "Status", "Reasons", "Reader 1", "Reader 2"))
        self.patient_table.setObjectName("recist.adj_patients")
        self.patient_table.setMinimumHeight(110)
        self.patient_table.itemSelectionChanged.connect(self._on_patient_clicked)
        lay.addWidget(self.patient_table)
        col.addWidget(box)

        box = QGroupBox("Patient: both readings (read-only)")
        self.patient_box = box
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Time point:"))
        self.tp_combo = QComboBox()
        self.tp_combo.setObjectName("recist.adj_timepoint")
        self.tp_combo.currentIndexChanged.connect(self._on_tp)
        row.addWidget(self.tp_combo, 1)
        lay.addLayout(row)
        self.legend = QLabel()
        self.legend.setObjectName("recist.adj_legend")
        lay.addWidget(self.legend)
        self.responses = QHBoxLayout()
        self.response_labels: list[QLabel] = []
        for i in range(2):
            label = QLabel()
            label.setObjectName(f"recist.adj_response_{i + 1}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAlignment(Qt.AlignmentFlag.AlignTop)
            self.responses.addWidget(label, 1)
            self.response_labels.append(label)
        lay.addLayout(self.responses)
        col.addWidget(box)

        box = QGroupBox("Decision")
        self.decision_box = box
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Reader whose reading stands:"))
        self.reader_combo = QComboBox()
        self.reader_combo.setObjectName("recist.adj_reader")
        row.addWidget(self.reader_combo, 1)
        lay.addLayout(row)
        self.per_tp_box = QCheckBox("choose per time point")
        self.per_tp_box.setObjectName("recist.adj_per_timepoint")
        self.per_tp_box.toggled.connect(self._on_per_tp)
        lay.addWidget(self.per_tp_box)
        self.tp_grid_host = QWidget()
        self.tp_grid = QGridLayout(self.tp_grid_host)
        self.tp_grid.setContentsMargins(16, 0, 0, 0)
        lay.addWidget(self.tp_grid_host)
        self.reason_edit = QLineEdit()
        self.reason_edit.setObjectName("recist.adj_reason")
        self.reason_edit.setPlaceholderText("Reason (required), e.g. 'NT1 unequivocal progression'")
        self.reason_edit.textChanged.connect(self._update_save)
        lay.addWidget(self.reason_edit)
        self.save_btn = button(
            "Save decision", "adj_save", "Write readings/adjudicated/<patient>.csv (audit-trailed)"
        )
        self.save_btn.clicked.connect(self._save)
        lay.addWidget(self.save_btn)
        col.addWidget(box)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        self.messages = MessagePanel()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.messages)
        outer.addWidget(scroll, 1)
        self.setMinimumWidth(460)

    # ------------------------------------------------------------------ actions

    def open_cohort(self, folder: str) -> bool:
        """Open ``folder`` as adjudicator (the adjudicator's name from the field)."""
        self._on_who()
        ok = self.adj.open_cohort(folder)
        if ok:
            nxt = self.adj.next_pending()
            if nxt is not None:
                self.adj.open_patient(nxt)
        self.refresh()
        return ok

    def _choose(self) -> None:
        folder = choose_cohort_folder(self)
        if folder:
            self.open_cohort(folder)

    def _on_who(self) -> None:
        self.adj.adjudicator = self.who_edit.text().strip()

    def _on_patient_clicked(self) -> None:
        rows = self.patient_table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.patient_table.item(rows[0].row(), 0)
        pid = item.text() if item else ""
        if pid and (self.adj.shown is None or self.adj.shown.patient_id != pid):
            self.adj.open_patient(pid)

    def _on_tp(self, index: int) -> None:
        label = self.tp_combo.itemText(index)
        if label and label != self.adj.timepoint:
            self.adj.show_timepoint(label)

    def _on_per_tp(self, on: bool) -> None:
        self.tp_grid_host.setVisible(on)
        self.reader_combo.setEnabled(not on)
        self._update_save()

    def _update_save(self, *_: Any) -> None:
        self.save_btn.setEnabled(
            self.adj.shown is not None and bool(self.reason_edit.text().strip())
        )

    def _save(self) -> None:
        per_tp = None
        if self.per_tp_box.isChecked():
            per_tp = {tp: c.currentText() for tp, c in self._tp_combos.items()}
        written = self.adj.decide(self.reader_combo.currentText(), self.reason_edit.text(), per_tp)
        if written:
            self.reason_edit.clear()
            self.per_tp_box.setChecked(False)

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """Show the controller's state."""
        a = self.adj
        self.cohort_label.setToolTip(str(a.cohort_dir or ""))
        self.cohort_label.setText(
            f"{a.cohort_dir.name}: {sum(r.done for r in a.rows)} of {len(a.rows)} "
            "discordant patient(s) adjudicated"
            if a.cohort_dir is not None
            else "No cohort open: Open cohort… (COHORT_DIR with readings/<reader>/)"
        )
        rows, colors, tips = [], [], []
        for r in a.rows:
            cells = [r.patient_id, "done" if r.done else "pending", r.reasons]
            colour_row: list[QColor | None] = [None, None, None]
            for reader in r.readers[:2]:
                v = r.values[reader]
                cells.append(
                    f"{reader}: " + " · ".join(f"{t} {v[p] or '–'}" for p, t in VALUE_COLUMNS)
                )
                colour_row.append(QColor(a.colour(reader)))
            cells += [""] * (5 - len(cells))
            colour_row += [None] * (5 - len(colour_row))
            rows.append(cells)
            colors.append(colour_row)
            tips.append(f"{r.patient_id}: {r.reasons}")
        set_rows(self.patient_table, rows, colors, tips)
        shown = a.shown
        ids = [r.patient_id for r in a.rows]
        blocked = self.patient_table.blockSignals(True)
        if shown is not None and shown.patient_id in ids:
            self.patient_table.selectRow(ids.index(shown.patient_id))
        else:
            self.patient_table.clearSelection()
        self.patient_table.blockSignals(blocked)
        self.patient_box.setTitle(
            f"Patient {shown.patient_id}: both readings (read-only)"
            if shown
            else "Patient: open one from the list"
        )
        labels = shown.timepoints if shown else []
        blocked = self.tp_combo.blockSignals(True)
        if [self.tp_combo.itemText(i) for i in range(self.tp_combo.count())] != labels:
            self.tp_combo.clear()
            self.tp_combo.addItems(labels)
        self.tp_combo.setCurrentText(a.timepoint or "")
        self.tp_combo.blockSignals(blocked)
        readers = list(shown.readings) if shown else []
        self.legend.setText(
            "  ".join(
                f"<span style='color:{a.colour(r)};font-weight:bold'>━ {esc(r)}</span>"
                for r in readers
            )
        )
        differ = a.differences()
        for i, label in enumerate(self.response_labels):
            if i < len(readers):
                rws, best = a.response(readers[i])
                label.setText(
                    reader_response_html(readers[i], a.colour(readers[i]), rws, best, differ)
                )
            else:
                label.setText("")
        if [self.reader_combo.itemText(i) for i in range(self.reader_combo.count())] != readers:
            self.reader_combo.clear()
            self.reader_combo.addItems(readers)
        self._refresh_tp_choices(labels, readers)
        self.decision_box.setEnabled(shown is not None)
        self._update_save()

    def _refresh_tp_choices(self, labels: list[str], readers: list[str]) -> None:
        if list(self._tp_combos) != labels:
            while self.tp_grid.count():
                w = self.tp_grid.takeAt(0).widget()
                if w is not None:
                    w.deleteLater()
            self._tp_combos = {}
            for i, tp in enumerate(labels):
                self.tp_grid.addWidget(QLabel(tp), i, 0)
                combo = QComboBox()
                combo.setObjectName(f"recist.adj_tp_{i}")
                combo.addItems(readers)
                self.tp_grid.addWidget(combo, i, 1)
                self._tp_combos[tp] = combo
        why = self.adj.per_timepoint_refusal() if self.adj.shown is not None else ""
        self.per_tp_box.setEnabled(self.adj.shown is not None and not why)
        self.per_tp_box.setToolTip(
            why or "One reader per time point (baseline reader's lesions govern)"
        )
        if why and self.per_tp_box.isChecked():
            self.per_tp_box.setChecked(False)
        self.tp_grid_host.setVisible(self.per_tp_box.isChecked())


def later(fn: Any) -> None:
    """Run ``fn`` from the event loop."""
    QTimer.singleShot(0, fn)
