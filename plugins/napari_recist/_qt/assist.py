"""The Qt side of measurement assistance: a thread-worker runner, the proposal panel
(status with the reason of a doubtful proposal, Propose / Accept / Reject, SEG
export) and the Enter / Esc keys. The logic is :class:`napari_recist._assist.Assistant`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from napari_recist._assist import Assistant
from napari_recist._qt.panels import SEVERITY_HTML, ancestor, button, esc


def thread_runner(
    work: Callable[[], Any], done: Callable[[Any], None], failed: Callable[[BaseException], None]
) -> None:
    """Run ``work`` in a napari thread worker; ``done``/``failed`` on the GUI thread.

    An exception in ``work`` goes to ``failed`` only: ``_ignore_errors`` keeps the
    worker from raising it again on the GUI thread, where napari would show it as an
    unhandled error with its traceback (a click beside a lesion is not a crash)."""
    from napari.qt.threading import create_worker

    worker = create_worker(work, _start_thread=False, _ignore_errors=True)
    worker.returned.connect(done)
    worker.errored.connect(failed)
    worker.start()


class AssistPanel(QWidget):
    """Proposal status and buttons (``recist.propose``, ``recist.accept_proposal``,
    ``recist.reject_proposal``, ``recist.proposal``)."""

    def __init__(self, assistant: Assistant) -> None:
        super().__init__()
        self.assistant = assistant
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setObjectName("recist.proposal")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.label)
        row = QHBoxLayout()
        self.propose_btn = button(
            "Propose",
            "propose",
            "Propose the selected baseline lesion's axes at its registered follow-up "
            "position (Enter); anywhere: Alt+click inside a lesion",
        )
        self.propose_btn.clicked.connect(assistant.propose_here)
        self.accept_btn = button("Accept", "accept_proposal", "Accept the proposal (Enter)")
        self.accept_btn.clicked.connect(assistant.accept)
        self.reject_btn = button("Reject", "reject_proposal", "Reject the proposal (Esc)")
        self.reject_btn.clicked.connect(lambda: assistant.reject())
        for b in (self.propose_btn, self.accept_btn, self.reject_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self._shown = ""
        #: A widget below the panel to bring into sight with it when there is room
        #: (the widget sets the lesion buttons: "set its status with the buttons").
        self.sight_below: QWidget | None = None
        assistant.changed.connect(self.refresh)
        self.destroyed.connect(lambda *_: _disconnect(assistant, self.refresh))
        self.refresh()

    def refresh(self) -> None:
        """Show the assistant's status and enable the buttons that apply."""
        a = self.assistant
        if a.closed:
            return
        color = SEVERITY_HTML.get(a.severity, SEVERITY_HTML.get("info", "gray"))
        text = a.status or "Alt+click inside a lesion: proposed long and short axes."
        self.label.setText(f"<span style='color:{color}'>{esc(text)}</span>")
        # A word-wrapped label in a scrolled dock keeps its old height when its text
        # grows: ask for the height the new text needs at the current width.
        if self.label.width() > 0:
            self.label.setMinimumHeight(self.label.heightForWidth(self.label.width()))
        self.accept_btn.setEnabled(a.has_pending)
        self.reject_btn.setEnabled(a.has_pending)
        self.propose_btn.setEnabled(a.target is not None and not a.has_pending)
        if a.status and a.status != self._shown and a.asks_attention and self.isVisible():
            QTimer.singleShot(0, self.into_view)  # after the label's new height is laid out
        self._shown = a.status

    def into_view(self) -> None:
        """Scroll the panel's scrolled dock so that the status and its buttons are in
        sight: below the lesion table they were cut at the dock's bottom edge on a
        1000-pixel screen, and a reason for doubt or "set its status" went unread."""
        w = ancestor(self, QScrollArea)
        if w is None:
            return
        if self.sight_below is not None:
            w.ensureWidgetVisible(self.sight_below, 0, 6)
        w.ensureWidgetVisible(self, 0, 6)  # the status wins when both do not fit


def _disconnect(assistant: Assistant, slot: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        assistant.changed.disconnect(slot)
