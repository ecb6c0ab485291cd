"""The RECIST evaluation of the reading (mixed into ``ReadingSession``).

After every change ``_after_change`` saves the reading, runs the core's RECIST engine
on it (an engine error is kept and shown, never raised) and emits ``changed``; the
rest turns the evaluation into what the widget shows: the engine's and the model's
messages per lesion, the messages about the patient, and the per time point response
table. Every number is computed by the core; this module only moves data.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from napari.utils.notifications import show_error

from napari_recist._drawing import _text
from recist_tool.errors import RecistError
from recist_tool.reading import evaluate_reading


class ResultsMixin:
    """The evaluation part of :class:`napari_recist._session.ReadingSession`."""

    def _after_change(self, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        self.evaluation, self.engine_error, self._messages = None, "", None
        frame = self.reading.to_frame()
        pending = self._save(frame) if self.autosave else None
        if len(frame):
            try:
                self.evaluation = evaluate_reading(self.reading, self.settings)
            except RecistError as exc:
                self.engine_error = str(exc)
            except Exception as exc:  # an engine bug must not lose the reader's work
                self.engine_error = f"the RECIST engine failed: {type(exc).__name__}: {exc}"
                show_error(f"recist: {self.engine_error}")
        self.changed.emit()
        self.last_update_s = time.perf_counter() - t0
        if pending is not None:
            # Written now that the response is shown: the writer thread would
            # otherwise compete with the engine for the GIL.
            self._saver.submit(*pending)

    def messages_for(self, lesion_id: str) -> list[tuple[str, str, str]]:
        """(time point, severity, message) about a lesion: the engine's checks and the
        model's own (node axes, lines not drawn yet)."""
        if self._messages is None:
            self._messages = self._collect_messages()
        return self._messages.get(lesion_id, [])

    def _collect_messages(self) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        for lid, tp, sev, msg in self._engine_messages():
            if lid:
                out.setdefault(lid, []).append((tp, sev, msg))
        for n in self.reading.notes():
            out.setdefault(n.lesion_id, []).append((n.timepoint, n.severity, n.message))
        return out

    def _engine_messages(self) -> list[tuple[str, str, str, str]]:
        """(lesion id, time point, severity, message) from the engine."""
        ev = self.evaluation
        if ev is None or not len(ev.messages):
            return []
        m = ev.messages
        # Column lists, not itertuples: pandas row access costs ~0.5 ms a row.
        cols = [[_text(v) for v in m[c].tolist()] for c in ("lesion_id", "timepoint")]
        cols += [[_text(v) for v in m[c].tolist()] for c in ("severity", "message")]
        return list(zip(*cols, strict=True))

    def general_messages(self) -> list[tuple[str, str, str]]:
        """Engine messages not tied to a lesion (e.g. too many targets)."""
        out = [("", "error", self.engine_error)] if self.engine_error else []
        out += [(tp, sev, msg) for lid, tp, sev, msg in self._engine_messages() if not lid]
        return out

    def response_table(self) -> pd.DataFrame:
        """The engine's per time point results (the evaluation holds this patient only)."""
        if self.evaluation is None:
            return pd.DataFrame()
        return self.evaluation.timepoints

    def response_rows(self) -> list[dict[str, Any]]:
        """:meth:`response_table` as plain records (fast: column lists)."""
        table = self.response_table()
        if not len(table):
            return []
        cols = {c: table[c].tolist() for c in table.columns}
        return [{c: cols[c][i] for c in cols} for i in range(len(table))]
