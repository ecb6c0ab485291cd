"""Blinded reading: the reading session opens and saves only the reader's own files.

When a reading lives in a multi-reader cohort (``COHORT_DIR/readings/<reader>/``, see
:func:`recist_tool.readers.blinding.cohort_root`), the core's blinding policy decides
(:class:`recist_tool.readers.blinding.Access`, role ``reader``): the session loads,
restores, autosaves and audit-trails only files of ``readings/<its reader>/``, never
another reader's measurements, responses or audit trail, the adjudicated readings or
the cohort's adjudication and agreement results. Outside a cohort nothing changes.
No Qt here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from recist_tool.readers.blinding import refusal


class Blinding:
    """The session's gate on the files it opens or writes.

    Parameters
    ----------
    user : callable
        Returns the reader's name now (the session's reader can change).
    role : str
        ``"reader"`` (the reading session) or ``"adjudicator"``.
    """

    def __init__(self, user: Callable[[], str], role: str = "reader") -> None:
        self._user = user
        self.role = role
        #: Every refusal so far (path, message): for the widget and tests.
        self.refused: list[tuple[str, str]] = []

    def allows(self, path: str | os.PathLike | None) -> bool:
        """Whether ``path`` may be read or written (no refusal recorded)."""
        return path is None or not refusal(self._user(), self.role, path)

    def check(self, path: str | os.PathLike) -> str:
        """Why ``path`` may not be opened or written ("" when it may)."""
        why = refusal(self._user(), self.role, path)
        if why:
            self.refused.append((os.fspath(path), why))
        return why
