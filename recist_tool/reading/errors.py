"""The error a reading raises.

:class:`ReadingError` is the one exception of :mod:`recist_tool.reading`: a reading,
its sidecar or an edit is inconsistent, and the message says what and where. It
subclasses :class:`recist_tool.errors.RecistError`, so the CLI prints it and exits 2.
"""

from __future__ import annotations

from recist_tool.errors import RecistError


class ReadingError(RecistError):
    """A reading (or its sidecar) is inconsistent; the message says what and where."""
