"""Errors of the PACS (DICOMweb) client."""

from __future__ import annotations

from recist_tool.errors import RecistError


class PacsError(RecistError):
    """A PACS request failed: the message names the URL and what went wrong.

    ``status`` is the HTTP status code when the server answered (else None).
    """

    def __init__(self, message: str, status: int | None = None, url: str = ""):
        super().__init__(message)
        self.status = status
        self.url = url


class PullCancelled(PacsError):
    """A pull was stopped by its caller (``should_stop`` returned True)."""
