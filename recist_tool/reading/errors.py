"""The errors a reading raises.

:class:`ReadingError` is the exception of :mod:`recist_tool.reading`: a reading, its
sidecar or an edit is inconsistent, and the message says what and where. It
subclasses :class:`recist_tool.errors.RecistError`, so the CLI prints it and exits 2.
:class:`TimePointLockedError` is the :class:`ReadingError` of an edit refused because
it would change a time point that is read-only (see :mod:`recist_tool.reading.locks`).
"""

from __future__ import annotations

from recist_tool.errors import RecistError


class ReadingError(RecistError):
    """A reading (or its sidecar) is inconsistent; the message says what and where."""


class TimePointLockedError(ReadingError):
    """An edit would change a read-only time point; nothing was changed.

    Attributes
    ----------
    timepoints : tuple of str
        The locked time points the edit would have changed.
    """

    def __init__(self, message: str, timepoints: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.timepoints = tuple(timepoints)
