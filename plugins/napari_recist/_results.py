"""The RECIST evaluation of the reading, and the messages shown next to each lesion.

:class:`Results` runs the core's engine (:func:`recist_tool.reading.evaluate_reading`)
after every change — an engine error is kept and shown, never raised — and hands the
widget what the engine says as the engine says it: the per time point texts of
:meth:`Evaluation.display_timepoints` (sum, changes, responses and the ``reason``),
each target's counted size, the engine's messages and the model's own checks by
lesion. No numbers are computed or formatted here. No Qt here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recist_tool.errors import RecistError
from recist_tool.reading import Reading, evaluate_reading


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    text = str(v)
    return "" if text in ("nan", "NaT", "<NA>", "None") else text


class Results:
    """The engine's view of the reading (see the module)."""

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings
        self.evaluation: Any = None
        self.error = ""
        self._messages: dict[str, list[tuple[str, str, str]]] | None = None
        self._reading: Reading | None = None

    def update(self, reading: Reading) -> str:
        """Evaluate ``reading``; returns an unexpected engine failure ("" when none)."""
        self.evaluation, self.error, self._messages = None, "", None
        self._reading = reading
        if not reading.to_measurements():
            return ""
        try:
            self.evaluation = evaluate_reading(reading, self.settings)
        except RecistError as exc:
            self.error = str(exc)
        except Exception as exc:  # an engine bug must not lose the reader's work
            self.error = f"the RECIST engine failed: {type(exc).__name__}: {exc}"
            return self.error
        return ""

    # ------------------------------------------------------------------ per lesion

    def messages_for(self, lesion_id: str) -> list[tuple[str, str, str]]:
        """(time point, severity, message) about a lesion: the engine's checks and the
        model's own (node axes, lines not drawn, a kind that does not fit)."""
        if self._messages is None:
            self._messages = self._collect()
        return self._messages.get(lesion_id, [])

    def _collect(self) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        for lid, tp, sev, msg in self._engine_messages():
            if lid:
                out.setdefault(lid, []).append((tp, sev, msg))
        if self._reading is not None:
            for n in self._reading.notes():
                out.setdefault(n.lesion_id, []).append((n.timepoint, n.severity, n.message))
            if self.error:  # the engine names the lesion it refused: show it there
                for le in self._reading.lesions:
                    if f"lesion {le.lesion_id} " in self.error:
                        out.setdefault(le.lesion_id, []).append(("", "error", self.error))
        return out

    def _engine_messages(self) -> list[tuple[str, str, str, str]]:
        ev = self.evaluation
        if ev is None or not len(ev.messages):
            return []
        m = ev.messages
        cols = [[_text(v) for v in m[c].tolist()] for c in ("lesion_id", "timepoint")]
        cols += [[_text(v) for v in m[c].tolist()] for c in ("severity", "message")]
        return list(zip(*cols, strict=True))

    def general_messages(self) -> list[tuple[str, str, str]]:
        """Messages not tied to a lesion (e.g. too many targets), the engine's error first."""
        out = [("", "error", self.error)] if self.error else []
        out += [(tp, sev, msg) for lid, tp, sev, msg in self._engine_messages() if not lid]
        return out

    # ------------------------------------------------------------------ per time point

    def timepoint_rows(self) -> list[dict[str, str]]:
        """The engine's display texts per time point (``display_timepoints``)."""
        ev = self.evaluation
        if ev is None or not len(ev.timepoints):
            return []
        table = ev.display_timepoints()
        cols = {c: [_text(v) for v in table[c].tolist()] for c in table.columns}
        return [{c: cols[c][i] for c in cols} for i in range(len(table))]

    def response_table(self) -> pd.DataFrame:
        """The engine's per time point values (numbers, for tests and scripts)."""
        return pd.DataFrame() if self.evaluation is None else self.evaluation.timepoints

    def best_response(self) -> str:
        """Best overall response as the engine gives it ("" when none)."""
        ev = self.evaluation
        if ev is None or not len(ev.patients):
            return ""
        return _text(ev.patients["best_overall_response"].tolist()[0])

    def target_sizes(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(lesion, time point) -> the engine's per target values (``target_sizes``)."""
        ev = self.evaluation
        if ev is None:
            return {}
        t = ev.target_sizes
        if not len(t):
            return {}
        cols = {c: t[c].tolist() for c in t.columns}
        out = {}
        for i in range(len(t)):
            out[(str(cols["lesion_id"][i]), str(cols["timepoint"][i]))] = {
                c: cols[c][i] for c in cols
            }
        return out
