"""Small Qt table helpers: fill a QTableWidget from rows of text, read-only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
)

SEVERITY_COLORS = {"error": QColor("#ff6b6b"), "warning": QColor("#ffd166")}
KIND_COLORS = {
    "target": QColor("#f5d442"),
    "non_target": QColor("#4dd0e1"),
    "new": QColor("#e040fb"),
}


def make_table(
    headers: Sequence[str], select_rows: bool = True, stretch: int | None = None
) -> QTableWidget:
    """A compact read-only table; column ``stretch`` takes (or gives up) the spare width."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(
        QAbstractItemView.SelectionMode.SingleSelection
        if select_rows
        else QAbstractItemView.SelectionMode.NoSelection
    )
    table.setMinimumWidth(0)  # columns scroll; the dock keeps its width
    table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustIgnored)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    else:
        header.setStretchLastSection(True)
    return table


def fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    """Text of a number (empty for None/NaN), or the value's text."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}f}{suffix}"
    text = str(value)
    return "" if text in ("nan", "NaT", "<NA>", "None") else text


def set_rows(
    table: QTableWidget,
    rows: Sequence[Sequence[str]],
    colors: Sequence[Sequence[QColor | None]] | None = None,
    tooltips: Sequence[str] | None = None,
) -> None:
    """Replace the table's rows (signals blocked)."""
    blocked = table.blockSignals(True)
    if table.rowCount() != len(rows):
        table.setRowCount(len(rows))
    default = table.palette().text()
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = table.item(r, c)
            if item is None:
                item = QTableWidgetItem()
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                table.setItem(r, c, item)
            if item.text() != text:  # each change repaints: touch only what changed
                item.setText(text)
            color = colors[r][c] if colors is not None else None
            brush = QBrush(color) if color is not None else default
            if item.foreground() != brush:
                item.setForeground(brush)
            if tooltips is not None and item.toolTip() != tooltips[r]:
                item.setToolTip(tooltips[r])
    table.blockSignals(blocked)
