"""Dates of a reading: DICOM ``YYYYMMDD`` and ISO ``YYYY-MM-DD`` strings.

:func:`dicom_date` turns a DICOM DA value (or an ISO date) into ``YYYY-MM-DD`` and
gives "" when unusable; ``_check_date`` validates the date of a time point and raises
:class:`~recist_tool.reading.errors.ReadingError` when it is not a calendar date.
"""

from __future__ import annotations

import re
from typing import Any

from recist_tool.annotations import parse_date
from recist_tool.reading.errors import ReadingError


def dicom_date(value: Any) -> str:
    """``YYYYMMDD`` (DICOM DA) or ``YYYY-MM-DD`` as ``YYYY-MM-DD``; "" when unusable."""
    text = "" if value is None else str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return _check_date(text)
    except ReadingError:
        return ""


def _check_date(date: str) -> str:
    date = str(date).strip()
    if parse_date(date) is None:  # the annotation format's own rule
        raise ReadingError(f"date {date!r} is not a calendar date in the form YYYY-MM-DD")
    return date
