"""Panels of the dock widget: messages, series that could not be loaded, the response.

All texts shown are the session's and the engine's (no number is computed or
formatted here). Every control has an ``objectName`` ``recist.<action>``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, TypeVar

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_recist._loading import SeriesProblem

W = TypeVar("W", bound=QWidget)

SEVERITY_HTML = {"error": "#ff6b6b", "warning": "#ffd166", "info": "#9ad1ff"}
RESPONSE_HTML = {
    "CR": "#4caf50",
    "PR": "#8bc34a",
    "SD": "#ffc107",
    "PD": "#f44336",
    "NE": "#9e9e9e",
    "NON-CR/NON-PD": "#4dd0e1",
}


def ancestor(widget: QWidget, cls: type[W]) -> W | None:
    """The nearest enclosing widget of type ``cls`` (its dock, its scroll area), or
    None."""
    w = widget.parentWidget()
    while w is not None and not isinstance(w, cls):
        w = w.parentWidget()
    return w


def esc(text: str) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=False)


def response_word(code: str) -> str:
    """A response (CR, PR, …) as bold HTML in its colour (grey for an unknown code)."""
    return f"<b style='color:{RESPONSE_HTML.get(code, '#dddddd')}'>{esc(code)}</b>"


def button(text: str, name: str, tip: str = "") -> QPushButton:
    """A push button that never takes the keyboard focus (keys stay with the canvas)."""
    b = QPushButton(text)
    b.setObjectName(f"recist.{name}")
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if tip:
        b.setToolTip(tip)
    return b


class MessagePanel(QFrame):
    """The latest things the reader must read, word-wrapped, newest first.

    ``name`` is the panel's ``objectName`` after ``recist.`` (its text: ``_text``)."""

    def __init__(self, name: str = "messages") -> None:
        super().__init__()
        self.setObjectName(f"recist.{name}")
        self.label = QLabel()
        self.label.setObjectName(f"recist.{name}_text")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.clear_btn = button("×", "messages_clear", "Clear the messages")
        self.clear_btn.setMaximumWidth(28)
        self.clear_btn.clicked.connect(self.clear)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.clear_btn, 0, Qt.AlignmentFlag.AlignTop)
        #: ``[severity, text, times said in a row]``, newest first: the same message
        #: again is counted, "(× 3)", not stacked (it pushed the others out).
        self._shown: list[list] = []
        self.setVisible(False)

    @property
    def items(self) -> list[tuple[str, str]]:
        """The messages shown, newest first, as ``(severity, text)``."""
        return [(sev, text) for sev, text, _ in self._shown]

    def add(self, severity: str, text: str) -> None:
        """Show a message (the newest first; the last five are kept; the newest said
        again is counted)."""
        if self._shown and self._shown[0][:2] == [severity, text]:
            self._shown[0][2] += 1
        else:
            self._shown.insert(0, [severity, text, 1])
            del self._shown[5:]
        self.label.setText(
            "".join(
                f"<div style='color:{SEVERITY_HTML.get(sev, '#ffffff')}'>{esc(t)}"
                + (f" (× {n})" if n > 1 else "")
                + "</div>"
                for sev, t, n in self._shown
            )
        )
        self.setVisible(True)

    def clear(self) -> None:
        """Remove every message."""
        self._shown.clear()
        self.label.setText("")
        self.setVisible(False)

    def text(self) -> str:
        """The messages shown, plain."""
        return "\n".join(t for _, t in self.items)


class ProblemPanel(QFrame):
    """Series that were not loaded: the reason first, the loader's choices as buttons,
    identifiers last."""

    def __init__(self, choose: Callable[[SeriesProblem, dict[str, Any]], None]) -> None:
        super().__init__()
        self.setObjectName("recist.load_problems")
        self._choose = choose
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(4, 2, 4, 2)
        self.problems: list[SeriesProblem] = []
        self.setVisible(False)

    def show_problems(self, problems: list[SeriesProblem]) -> None:
        """Replace the panel's content."""
        self.problems = list(problems)
        while self._lay.count():
            item = self._lay.takeAt(0)
            w = item.widget()
            if w is not None:
                w.deleteLater()
        for i, p in enumerate(self.problems):
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 2, 0, 2)
            text = QLabel(
                f"<b style='color:{SEVERITY_HTML['error']}'>{esc(p.title)}: not loaded.</b>"
                f"<br>{esc(p.reason)}"
                f"<br><span style='color:gray'>Folder {esc(p.folder)} · series UID "
                f"{esc(p.series_uid or 'unknown')}</span>"
            )
            text.setObjectName(f"recist.load_problem_{i}")
            text.setWordWrap(True)
            text.setTextFormat(Qt.TextFormat.RichText)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            col.addWidget(text)
            row = QHBoxLayout()
            for j, (label, kw) in enumerate(p.options):
                b = button(label, f"load_choice_{i}_{j}", f"Load this series with {kw}")
                b.clicked.connect(lambda _=False, p=p, kw=kw: self._choose(p, kw))
                row.addWidget(b)
            skip = button("Dismiss", f"load_dismiss_{i}")
            skip.clicked.connect(lambda _=False, p=p: self.dismiss(p))
            row.addWidget(skip)
            row.addStretch(1)
            col.addLayout(row)
            self._lay.addWidget(box)
        self.setVisible(bool(self.problems))

    def dismiss(self, problem: SeriesProblem) -> None:
        """Drop one problem from the panel."""
        self.show_problems([p for p in self.problems if p is not problem])


def response_html(rows: list[dict[str, str]], best: str) -> str:
    """The per time point response as word-wrapped HTML: overall response and why."""
    if not rows:
        return "<i>No response yet: measure the baseline targets.</i>"
    out = []
    for r in rows:
        overall = r.get("overall_response", "")
        head = f"<b>{esc(r['timepoint'])}</b> {esc(r.get('date', ''))}"
        if overall:
            head += f" — {response_word(overall)}"
        sizes = []
        if r.get("sum"):
            sizes.append(f"sum {esc(r['sum'])}")
        if r.get("change_from_baseline"):
            sizes.append(f"{esc(r['change_from_baseline'])} vs baseline")
        if r.get("change_from_nadir"):
            sizes.append(f"{esc(r['change_from_nadir'])} vs nadir")
        parts = [head]
        if sizes:
            parts.append(" · ".join(sizes))
        cats = []
        for key, name in (
            ("target_response", "Target"),
            ("non_target_response", "Non-target"),
            ("new_lesions", "New lesions"),
        ):
            if r.get(key):
                cats.append(f"{name} <b>{esc(r[key])}</b>")
        if cats:
            parts.append(" · ".join(cats))
        if r.get("reason"):
            parts.append(f"<i>Why:</i> {esc(r['reason'])}")
        out.append("<div style='margin-bottom:6px'>" + "<br>".join(parts) + "</div>")
    if best:
        out.append(f"<div>Best overall response: {response_word(best)}</div>")
    return "".join(out)
