"""Application-level shortcuts: they work wherever the focus is in the napari window.

:class:`ShortcutFilter` is an event filter on the ``QApplication``. For a key event
whose widget belongs to the napari window (its docks included) it claims the key at
``ShortcutOverride`` — before napari's menus, its canvas key bindings or the focused
widget see it — and runs the action on ``KeyPress``. So Alt+G and Alt+2 work while a
combo box has focus, and Alt+1 in the organ field sets the window instead of typing
"1". Keys without a modifier (arrows, PageUp/PageDown) are left to text fields,
spin boxes and item views, where they edit or navigate; anywhere else (the canvas,
buttons, check boxes) they page slices. Ctrl+Z in a text field with its own undo
history undoes the typing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

_MODS = (
    Qt.KeyboardModifier.ControlModifier
    | Qt.KeyboardModifier.AltModifier
    | Qt.KeyboardModifier.ShiftModifier
    | Qt.KeyboardModifier.MetaModifier
)


def _value(flag: object) -> int:
    return int(getattr(flag, "value", flag))  # type: ignore[call-overload]


def key_of(sequence: str) -> tuple[int, int]:
    """``(modifiers, key)`` of a portable key text such as ``"Ctrl+Shift+Z"``."""
    combo = QKeySequence(sequence)[0]
    if hasattr(combo, "key"):  # Qt 6: QKeyCombination
        return _value(combo.keyboardModifiers()) & _value(_MODS), _value(combo.key())
    value = int(combo)
    return value & _value(_MODS), value & ~_value(_MODS)


def _event_key(event: QEvent) -> tuple[int, int]:
    mods = _value(event.modifiers()) & _value(_MODS)  # type: ignore[attr-defined]
    key = _value(event.key())  # type: ignore[attr-defined]
    if mods & _value(Qt.KeyboardModifier.ShiftModifier) and key == _value(Qt.Key.Key_Backtab):
        key = _value(Qt.Key.Key_Tab)
    return mods, key


def _is_text_entry(widget: QWidget | None) -> bool:
    w = widget
    while w is not None:
        if isinstance(w, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
            return True
        if isinstance(w, QComboBox) and w.isEditable():
            return True
        w = w.parentWidget()
    return False


def _is_item_view(widget: QWidget | None) -> bool:
    w = widget
    while w is not None:
        if isinstance(w, QAbstractItemView):
            return True
        w = w.parentWidget()
    return False


def _text_undo_available(widget: QWidget | None) -> bool:
    if isinstance(widget, QComboBox) and widget.isEditable():
        widget = widget.lineEdit()
    if isinstance(widget, QLineEdit):
        return widget.isUndoAvailable()
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return widget.document().isUndoAvailable()
    return False


class ShortcutFilter(QObject):
    """Runs bound actions for keys typed anywhere in ``windows`` (see the module).

    Parameters
    ----------
    windows : callable
        Returns the top-level widgets whose keys are handled (the napari window and
        floating docks).
    """

    def __init__(self, windows: Callable[[], Iterable[QWidget]]) -> None:
        super().__init__()
        self._windows = windows
        self.bindings: dict[tuple[int, int], tuple[str, Callable[[], object]]] = {}
        self._when: dict[tuple[int, int], Callable[[], bool]] = {}
        self.fired: list[str] = []

    def bind(
        self,
        sequence: str,
        description: str,
        action: Callable[[], object],
        when: Callable[[], bool] | None = None,
    ) -> None:
        """Run ``action`` for ``sequence`` (e.g. ``"Alt+G"``); with ``when``, only while
        ``when()`` holds (else the key goes where it would have gone)."""
        self.bindings[key_of(sequence)] = (description, action)
        if when is not None:
            self._when[key_of(sequence)] = when

    def install(self) -> None:
        """Start filtering the application's key events."""
        QApplication.instance().installEventFilter(self)

    def remove(self) -> None:
        """Stop filtering."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def _mine(self, widget: QWidget) -> bool:
        top = widget.window()
        return any(top is w for w in self._windows())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        if not isinstance(obj, QWidget) or not self._mine(obj):
            return False
        key = _event_key(event)
        bound = self.bindings.get(key)
        if bound is None:
            return False
        when = self._when.get(key)
        if when is not None and not when():
            return False
        focus = QApplication.focusWidget() or obj
        mods = key[0]
        if mods == 0 and (_is_text_entry(focus) or _is_item_view(focus)):
            return False  # arrows and pages edit or navigate there
        undo_keys = {key_of("Ctrl+Z"), key_of("Ctrl+Shift+Z"), key_of("Ctrl+Y")}
        if key in undo_keys and _is_text_entry(focus) and _text_undo_available(focus):
            return False  # undo the typing first
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if event.isAutoRepeat() and mods != 0:  # type: ignore[attr-defined]
            return True  # a held Alt+key fires once
        self.fired.append(bound[0])
        bound[1]()
        return True
