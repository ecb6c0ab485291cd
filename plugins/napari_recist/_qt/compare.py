"""The comparison pane: a second canvas on the session's own ``ViewerModel``.

Why a second canvas and not napari's grid mode: the grid shares one camera and one
layer list between its viewboxes, so the active layer of one time point receives
the drags made over another (the data corruption of issue 9), the panes cannot be
fitted, zoomed or panned independently, and slicing is by index. Here the comparison
time point has its own :class:`napari.components.ViewerModel` (own layers, own
camera, own dims) drawn by :class:`napari.qt.QtViewer` in a dock beside napari's
canvas: a mouse event on one canvas can only reach the layers of the time point that
canvas shows. The header names the time point, lets the reader pick another one,
and unlock it explicitly; the frame's colour says whether edits can land here.
"""

from __future__ import annotations

from typing import Any

from napari.qt import QtViewer
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from napari_recist._qt.canvas import WindowLevelDrag

BORDER = {"read-only": "#777777", "unlocked": "#ffa94d", "active": "#66ff66"}


class ComparisonPane(QFrame):
    """Dock content: header (time point, unlock) and the comparison canvas."""

    def __init__(self, session: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("recist.comparison")
        viewer = session.comparison_viewer()
        self.qt_viewer = QtViewer(viewer)
        self.qt_viewer.setObjectName("recist.comparison_canvas")
        self.title = QLabel()
        self.title.setObjectName("recist.comparison_title")
        self.tp_combo = QComboBox()
        self.tp_combo.setObjectName("recist.compare_timepoint")
        self.tp_combo.setToolTip("Time point shown in the comparison pane")
        self.tp_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.tp_combo.activated.connect(self._on_tp)
        self.unlock_btn = QPushButton("Unlock")
        self.unlock_btn.setObjectName("recist.compare_unlock")
        self.unlock_btn.setCheckable(True)
        self.unlock_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.unlock_btn.setToolTip(
            "Read-only by default: unlock to let drawing in this pane change this time "
            "point (audited). Making it the current time point is the usual way."
        )
        self.unlock_btn.toggled.connect(self._on_unlock)
        self.fit_btn = QPushButton("Fit")
        self.fit_btn.setObjectName("recist.compare_fit")
        self.fit_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.fit_btn.clicked.connect(self.session.fit)
        head = QHBoxLayout()
        head.setContentsMargins(4, 2, 4, 2)
        head.addWidget(QLabel("Compare:"))
        head.addWidget(self.tp_combo, 1)
        head.addWidget(self.unlock_btn)
        head.addWidget(self.fit_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(3, 3, 3, 3)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.title)
        lay.addWidget(self.qt_viewer, 1)
        self.wl = WindowLevelDrag(
            drag=session.drag_window,
            enabled=lambda: session.view.right_drag_window,
            activate=lambda: session._activate(session.panes["comparison"]),
        )
        self.wl.attach(self.canvas_widget)
        self.refresh()

    @property
    def canvas_widget(self) -> Any:
        """The Qt widget of the comparison canvas (where mouse events arrive)."""
        return self.qt_viewer.canvas.native

    def _on_tp(self, index: int) -> None:
        label = self.tp_combo.itemText(index)
        if label and label != self.session.compare_tp:
            self.session.set_compare_timepoint(label)

    def _on_unlock(self, on: bool) -> None:
        if on != self.session.compare_unlocked:
            self.session.set_compare_unlocked(on)

    def refresh(self) -> None:
        """Show the session's comparison state."""
        s = self.session
        labels = [tp.label for tp in s.reading.timepoints if tp.label != s.current_tp]
        blocked = self.tp_combo.blockSignals(True)
        if [self.tp_combo.itemText(i) for i in range(self.tp_combo.count())] != labels:
            self.tp_combo.clear()
            self.tp_combo.addItems(labels)
        self.tp_combo.setCurrentText(s.compare_tp or "")
        self.tp_combo.blockSignals(blocked)
        blocked = self.unlock_btn.blockSignals(True)
        self.unlock_btn.setChecked(s.compare_unlocked)
        self.unlock_btn.setText("Unlocked" if s.compare_unlocked else "Unlock")
        self.unlock_btn.blockSignals(blocked)
        state = "unlocked" if s.compare_unlocked else "read-only"
        active = s.active_pane == "comparison"
        color = BORDER["unlocked"] if s.compare_unlocked else BORDER["read-only"]
        width = 3 if active else 1
        if active and not s.compare_unlocked:
            color = BORDER["active"]
        style = f"QFrame#recist\\.comparison {{ border: {width}px solid {color}; }}"
        if style != self.styleSheet():  # restyling costs tens of milliseconds
            self.setStyleSheet(style)
        what = (
            "edits land here (unlocked)"
            if s.compare_unlocked
            else f"read-only · edits go to {s.current_tp or '–'}"
        )
        title = f"<b>{s.compare_tp or '–'}</b> · {what}"
        if self.title.text() != title:
            self.title.setText(title)
            self.title.setToolTip(state)

    def close_viewer(self) -> None:
        """Close the canvas (the window is going away) and let it be freed."""
        qv, self.qt_viewer = self.qt_viewer, None
        self.wl = None
        if qv is not None:
            qv.close()
            qv.setParent(None)
            qv.deleteLater()
