"""Exception types shared by the whole core.

Every error that a user can cause by bad input derives from :class:`RecistError`;
the command-line interface prints its message (no traceback) and exits with
:attr:`RecistError.exit_code`.
"""

from __future__ import annotations


class RecistError(Exception):
    """Base class of all errors caused by bad input. The message names what is wrong."""

    exit_code: int = 2


class AnnotationError(RecistError):
    """An annotation file (or table) is malformed: names file, line, column and value.

    ``problems`` lists every offending row as ``(row, file, line, column, value,
    what)`` where the check knows them (used by ``--keep-going``).
    """

    problems: list = []  # noqa: RUF012 - replaced per instance
