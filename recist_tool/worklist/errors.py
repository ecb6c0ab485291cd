"""The error of the worklist."""

from __future__ import annotations

from recist_tool.errors import RecistError


class WorklistError(RecistError):
    """A cohort folder, worklist or assignment is inconsistent; the message says where."""
